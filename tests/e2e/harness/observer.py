"""What Asterisk really did, seen from outside the engine: every ARI event through an
app of the test's own subscribed to everything, and AMI events for what ARI does not
report (music on hold starting and stopping)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from typing import Any

from tests.e2e.harness.instance import HOST
from tests.e2e.harness.sandbox import ARI_AUTH


class AriObserver:
    """Every ARI event in the sandbox, seen through an app of its own subscribed to
    everything: what Asterisk really did (playbacks, bridges, holds).

    An observer that lost its websocket before ``close()`` would read a shortened list
    (a "never two at once" check passing on half the events): from then on every read
    of its events, and ``close()``, fails the test, saying so."""

    def __init__(self, host: str = HOST) -> None:
        self.host = host  # the Asterisk node watched (node b: 127.0.0.2)
        self._events: list[dict[str, Any]] = []
        self.lost: str | None = None  # why the connection ended before close(), if it did
        self._closing = False
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(),), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise AssertionError(f"the ARI observer could not connect: {self.lost or 'timed out'}")

    @property
    def events(self) -> list[dict[str, Any]]:
        if self.lost is not None:
            raise AssertionError(f"the ARI observer of {self.host} went deaf ({self.lost}) after "
                                 f"{len(self._events)} events: what it saw is not all Asterisk did")
        return self._events

    async def _run(self) -> None:
        import aiohttp

        self._stop = asyncio.Event()
        url = f"ws://{self.host}:8088/ari/events?app=cti-observer&subscribeAll=true"
        try:
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(url, headers={"Authorization": ARI_AUTH}, heartbeat=5) as ws:
                    self._ready.set()
                    reader = asyncio.ensure_future(self._read(ws))
                    stopping = asyncio.ensure_future(self._stop.wait())
                    await asyncio.wait({reader, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    if reader.done() and not self._closing and self.lost is None:
                        self.lost = f"reader ended: {reader.exception() or 'the websocket closed'}"
                    reader.cancel()
                    stopping.cancel()
        except Exception as exc:  # noqa: BLE001 - whatever it was, the observer is deaf
            if not self._closing:
                self.lost = f"{type(exc).__name__}: {exc}"

    async def _read(self, ws: Any) -> None:
        import aiohttp

        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                if not self._closing:
                    self.lost = f"websocket message {msg.type.name}"
                return
            self._events.append(json.loads(msg.data))
        if not self._closing and self.lost is None:
            self.lost = f"the websocket closed (code {ws.close_code})"

    def close(self) -> None:
        self._closing = self.lost is None
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)
        if self.lost is not None:
            raise AssertionError(f"the ARI observer of {self.host} lost its connection during the test: "
                                 f"{self.lost}")

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [ev for ev in list(self.events) if ev.get("type") == kind]

    def agent_peaks(self) -> dict[str, int]:
        """Per agent endpoint, the most channels it ever had at once (Asterisk's view)."""
        active: dict[str, int] = {}
        peak: dict[str, int] = {}
        for ev in list(self.events):  # (raises when the observer went deaf)
            name = (ev.get("channel") or {}).get("name", "")
            if not name.startswith("PJSIP/agent"):
                continue
            agent = name.split("-")[0]
            if ev["type"] == "ChannelCreated":
                active[agent] = active.get(agent, 0) + 1
                peak[agent] = max(peak.get(agent, 0), active[agent])
            elif ev["type"] == "ChannelDestroyed":
                active[agent] -= 1
        return peak


class AmiWatcher:
    def __init__(self, host: str = HOST, port: int = 5038, user: str = "cti-observer",
                 secret: str = "cti-observer-sandbox") -> None:
        self.events: list[dict[str, str]] = []
        self._sock = socket.create_connection((host, port), timeout=5)
        self._sock.sendall(f"Action: Login\r\nUsername: {user}\r\nSecret: {secret}\r\nEvents: on\r\n\r\n".encode())
        self._closed = False
        self.lost: str | None = None  # why the connection ended before close(), if it did
        self._logged_in = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        if not self._logged_in.wait(10):
            raise AssertionError("AMI login failed or timed out")

    def _read(self) -> None:
        buf = b""
        self._sock.settimeout(0.5)
        while not self._closed:
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as exc:
                if not self._closed:
                    self.lost = f"{type(exc).__name__}: {exc}"
                return
            if not chunk:
                if not self._closed:
                    self.lost = "AMI closed the connection"
                return
            buf += chunk
            while b"\r\n\r\n" in buf:
                block, buf = buf.split(b"\r\n\r\n", 1)
                fields: dict[str, str] = {}
                for line in block.decode(errors="replace").split("\r\n"):
                    key, sep, value = line.partition(": ")
                    if sep:
                        fields.setdefault(key, value)
                if fields.get("Response") == "Success" and "Message" in fields:
                    self._logged_in.set()
                if "Event" in fields:
                    fields["_seen_at"] = str(time.time())
                    self.events.append(fields)

    def of(self, kind: str, **match: Any) -> list[dict[str, str]]:
        if self.lost is not None:
            raise AssertionError(f"the AMI watcher went deaf ({self.lost}): what it saw is not all Asterisk did")
        return [ev for ev in list(self.events) if ev.get("Event") == kind
                and all(ev.get(k) == v for k, v in match.items())]

    def close(self) -> None:
        self._closed = True
        try:
            self._sock.sendall(b"Action: Logoff\r\n\r\n")
        except OSError:
            pass
        self._thread.join(2)
        self._sock.close()
        if self.lost is not None:
            raise AssertionError(f"the AMI watcher lost its connection during the test: {self.lost}")


def ami_as_engine(actions: bytes, expected: int) -> dict[bytes, bytes]:
    """Log in to the sandbox's AMI with the engine's own account, send ``actions`` (each
    with an ActionID) and return each reply by its ActionID: what that account may do."""
    with socket.create_connection((HOST, 5038), timeout=5) as sock:
        sock.sendall(b"Action: Login\r\nUsername: cti\r\nSecret: cti-sandbox\r\nEvents: off\r\n\r\n" + actions)
        seen = b""
        while seen.count(b"ActionID:") < expected or not seen.endswith(b"\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            seen += chunk
    return {block.split(b"ActionID: ")[1].split(b"\r\n")[0]: block
            for block in seen.split(b"\r\n\r\n") if b"ActionID: " in block}
