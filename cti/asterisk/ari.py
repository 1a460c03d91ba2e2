"""A small asyncio ARI client on aiohttp: REST calls and the supervised events websocket.

Why our own: PyPI's ``ari`` (0.1.3) is Python 2 and synchronous, and the few asyncio
ARI packages are thin and unmaintained; what we need is a REST call and a websocket,
which aiohttp does well.

Deadlines: every REST call has one (``request_timeout_s``); a call that does not
finish in time, or cannot reach Asterisk, raises ``AriError`` with status 0, like any
refusal, so callers handle one kind of failure.

Supervision: ``run_events`` keeps the websocket up for ever: connect, report
``connected``, call ``on_connected`` (the adapter resynchronises there), read events;
on any loss report ``disconnected`` and retry with capped exponential backoff.
Connecting the websocket registers the Stasis application with Asterisk, so a
reconnect re-registers it.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from cti.errors import AriError, AsteriskUnreachable
from cti.health import ConnectionState, Faults

log = logging.getLogger("cti.ari")

EventHandler = Callable[[dict[str, Any]], None]

# The ARI event types the engine handles (a test checks this against the code): the
# application's event filter lets only these through.
EVENTS_USED = ("StasisStart", "StasisEnd", "ChannelDestroyed", "ChannelDtmfReceived", "ChannelHold",
               "ChannelUnhold", "ChannelTransfer", "PlaybackFinished", "DeviceStateChanged")


class AriClient:
    # Asterisk carries out the requests of one websocket one after the other, on the
    # thread that reads it (res/ari/ari_websockets.c): one slow request holds up every
    # request behind it. So at most this many wait on the websocket at once; more go
    # over HTTP, whose connections Asterisk serves in parallel (one thread each).
    WS_IN_FLIGHT = 4

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        user: str,
        password: str,
        app: str,
        request_timeout_s: float = 5.0,
        faults: Faults | None = None,
    ) -> None:
        self._session = session
        self.request_timeout_s = request_timeout_s
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        self.faults = faults or Faults()
        self._base = base_url.rstrip("/") + "/ari"
        self._auth = {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
        self.app = app
        self.state = ConnectionState("ari")
        # REST over the events websocket (Asterisk 20.14, 21.9, 22.4 and later): a request
        # is one frame each way instead of an HTTP exchange (half the CPU on both sides).
        # Used once the connected Asterisk has answered one; HTTP otherwise.
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._replies: dict[str, asyncio.Future[tuple[str, int]]] = {}
        self._ids = itertools.count(1)

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        """One REST call (``body``: its JSON body); returns the decoded JSON (or None) or
        raises ``AriError`` (status 0: no answer within the deadline, unreachable, or
        not JSON)."""
        query = {k: _param(v) for k, v in params.items() if v is not None}
        try:
            try:
                text, status = await self._send(method, path, query, body)
            except aiohttp.ServerDisconnectedError:
                if method not in ("GET", "DELETE"):
                    raise
                # The server closed the connection without answering (a kept-alive one it
                # was closing, or past its session limit): once more, on a fresh one.
                self.faults.count("retried", f"ari {method}")
                text, status = await self._send(method, path, query, body)
        except TimeoutError:
            self.faults.count("deadline", f"ari {method}")
            raise AriError(method, path, 0, f"no answer within {self.request_timeout_s:g} s") from None
        except aiohttp.ClientError as exc:
            raise AriError(method, path, 0, f"{type(exc).__name__}: {exc}") from None
        if status >= 300:
            raise AriError(method, path, status, text)
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            self.faults.count("poison", "ari reply")
            raise AriError(method, path, 0, f"a reply that is not JSON: {text[:80]!r}") from None

    async def _send(self, method: str, path: str, query: dict[str, str],
                    body: dict[str, Any] | None) -> tuple[str, int]:
        if self._ws is not None and len(self._replies) < self.WS_IN_FLIGHT:
            return await self._send_ws(self._ws, method, path, query, body)
        async with self._session.request(
            method, self._base + path, params=query, json=body, headers=self._auth, timeout=self._timeout
        ) as resp:
            return await resp.text(), resp.status

    async def _send_ws(self, ws: aiohttp.ClientWebSocketResponse, method: str, path: str,
                       query: dict[str, str], body: dict[str, Any] | None) -> tuple[str, int]:
        request_id = str(next(self._ids))
        frame: dict[str, Any] = {"type": "RESTRequest", "request_id": request_id, "method": method,
                                 "uri": path.lstrip("/"),
                                 "query_strings": [{"name": k, "value": v} for k, v in query.items()]}
        if body is not None:
            frame["content_type"], frame["message_body"] = "application/json", json.dumps(body)
        reply: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
        self._replies[request_id] = reply
        try:
            async with asyncio.timeout(self.request_timeout_s):
                await ws.send_str(json.dumps(frame))
                text, status = await reply
                return text, status
        finally:
            del self._replies[request_id]

    def _replied(self, frame: dict[str, Any]) -> None:
        reply = self._replies.get(str(frame.get("request_id")))
        status = frame.get("status_code")
        if reply is None or reply.done():
            return  # (past its deadline)
        if not isinstance(status, int):
            self.faults.count("poison", "ari reply")
            reply.set_exception(aiohttp.ClientPayloadError(f"a REST reply without a status: {str(frame)[:80]}"))
            return
        body = frame.get("message_body")
        reply.set_result((body if isinstance(body, str) else "", status))

    def _lost(self, why: str) -> None:
        """The websocket went: requests waiting on it fail (status 0); HTTP from now."""
        self._ws = None
        for reply in self._replies.values():
            if not reply.done():
                reply.set_exception(aiohttp.ClientConnectionError(why))

    async def _try_websocket(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Requests go over the websocket if this Asterisk answers one there."""
        self._ws = ws
        try:
            await self.request("GET", "/asterisk/ping")
            log.info("ARI requests go over the events websocket")
        except AriError as exc:
            self._lost("no REST over the websocket")
            log.info("ARI requests over HTTP (%s)", exc)

    async def request_quiet(self, method: str, path: str, **params: Any) -> None:
        """A request whose target may already be gone (404/409/422): not an error."""
        try:
            await self.request(method, path, **params)
        except AriError as exc:
            if exc.status not in (404, 409, 422):
                log.warning("%s", exc)

    async def probe(self, timeout_s: float) -> dict[str, Any]:
        """At start: make sure ARI answers and accepts our credentials."""
        try:
            async with asyncio.timeout(timeout_s):
                info: dict[str, Any] = await self.request("GET", "/asterisk/info")
                return info
        except TimeoutError:
            raise AsteriskUnreachable(
                f"Asterisk ARI at {self._base} did not answer within {timeout_s:g} s"
            ) from None
        except AriError as exc:
            if exc.status == 0:
                raise AsteriskUnreachable(f"cannot reach Asterisk ARI at {self._base}: {exc}") from None
            hint = " (check ari_user/ari_password)" if exc.status == 401 else ""
            raise AsteriskUnreachable(f"Asterisk ARI at {self._base} refused us: {exc}{hint}") from None

    async def run_events(
        self,
        on_event: EventHandler,
        on_connected: Callable[[], Awaitable[None]],
        backoff_max_s: float = 10.0,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        ws_url = self._base.replace("http", "ws", 1) + "/events"
        params = {"app": self.app, "subscribeAll": "false"}
        delay = 0.2
        while True:
            try:
                async with self._session.ws_connect(
                    ws_url, params=params, headers=self._auth, heartbeat=10.0, max_msg_size=64 * 2**20
                ) as ws:
                    # Only the event types the engine reads: Asterisk skips the rest
                    # (ChannelVarset, Newexten, ... several per call) instead of sending them.
                    try:
                        await self.request("PUT", f"/applications/{self.app}/eventFilter",
                                           body={"allowed": [{"type": t} for t in (*EVENTS_USED, "RESTResponse")]})
                    except AriError as exc:  # (before Asterisk 13.26: every event, slower)
                        log.warning("ARI event filter not set: %s", exc)
                    # Events wait while the adapter resynchronises (replies do not).
                    held: list[dict[str, Any]] = []
                    reading = asyncio.create_task(self._read(ws, on_event, held))  # (awaited below)
                    try:
                        await self._try_websocket(ws)
                        self.state.up()
                        log.info("ARI events connected (app %s)", self.app)
                        delay = 0.2
                        await on_connected()
                        for event in held:
                            self._handle(event, on_event)
                        held[:] = [{}]  # (the mark: from now on, at once; the held ones let go)
                        await reading
                    finally:
                        self._lost("ARI websocket closed")
                        reading.cancel()
                        await asyncio.gather(reading, return_exceptions=True)
                    self.state.down("websocket closed")
            except asyncio.CancelledError:
                self.state.down("stopped")
                raise
            except (aiohttp.ClientError, OSError, AriError, TimeoutError) as exc:
                self.state.down(f"{type(exc).__name__}: {exc}")
            except Exception as exc:  # a reply we could not make sense of: reconnect, resync
                self.faults.count("poison", "ari resync")
                log.exception("ARI resync failed")
                self.state.down(f"{type(exc).__name__}: {exc}")
            log.warning("ARI events down (%s); retrying in %.1f s", self.state.last_error, delay)
            if on_lost is not None and delay == 0.2:  # once per outage, at its start
                on_lost()
            await asyncio.sleep(delay)
            delay = min(delay * 2, backoff_max_s)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, on_event: EventHandler,
                    held: list[dict[str, Any]]) -> None:
        def hold_or_handle(event: dict[str, Any]) -> None:
            if held and not held[-1]:  # resynchronised: handled as it comes
                self._handle(event, on_event)
            else:
                held.append(event)
        try:
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    self._deliver(msg.data, hold_or_handle)
                elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                    break
        finally:
            self._lost("ARI websocket closed")

    def _deliver(self, data: str, on_event: EventHandler) -> None:
        """Bad frames are logged, counted and skipped; they never stop the event stream."""
        try:
            event = json.loads(data)
        except ValueError:
            self.faults.count("poison", "ari frame")
            log.error("ARI sent a frame that is not JSON; skipped: %.200r", data)
            return
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            self.faults.count("poison", "ari frame")
            log.error("ARI sent a frame with no event type; skipped: %.200r", data)
            return
        if event["type"] == "RESTResponse":
            self._replied(event)
        else:
            self._handle(event, on_event)

    def _handle(self, event: dict[str, Any], on_event: EventHandler) -> None:
        try:
            on_event(event)
        except Exception:  # one bad event must not end the engine
            self.faults.count("poison", "ari frame")
            log.exception("handling ARI %s failed; skipped", event.get("type"))


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)
