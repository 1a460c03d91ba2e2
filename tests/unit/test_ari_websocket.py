"""The ARI client's REST over the events websocket (issue 17), against a small stand-in
for Asterisk's HTTP server on loopback: requests go over the websocket once the server
has answered one there, and over HTTP when it never does; replies reach their requests
while the adapter resynchronises, and events that arrive meanwhile wait for the end of
the resync, in order; a websocket that goes fails the requests waiting on it at once;
the application's event filter asks for the reply frames too."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from cti.asterisk.ari import EVENTS_USED, AriClient
from cti.errors import AriError


class FakeAsterisk:
    def __init__(self, rest_over_ws: bool = True) -> None:
        self.rest_over_ws = rest_over_ws
        self.http: list[tuple[str, str]] = []
        self.ws_requests: list[tuple[str, str, dict[str, str]]] = []
        self.filters: list[Any] = []
        self.sockets: list[web.WebSocketResponse] = []
        self.hold_replies = False  # answer no request (to drop the socket under one)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ari/events", self.events)
        app.router.add_route("*", "/ari/{path:.*}", self.rest)
        return app

    async def rest(self, request: web.Request) -> web.Response:
        self.http.append((request.method, request.match_info["path"]))
        if request.match_info["path"].endswith("/eventFilter"):
            self.filters.append(await request.json())
        return web.json_response({"via": "http"})

    async def events(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        async for msg in ws:
            frame = json.loads(msg.data)
            if frame.get("type") != "RESTRequest" or not self.rest_over_ws or self.hold_replies:
                continue
            query = {q["name"]: q["value"] for q in frame.get("query_strings", [])}
            self.ws_requests.append((frame["method"], frame["uri"], query))
            if frame["uri"] == "channels/gone":
                reply = {"status_code": 404, "message_body": '{"message":"Channel not found"}'}
            else:
                reply = {"status_code": 200, "message_body": json.dumps({"via": "ws", "query": query})}
            await ws.send_str(json.dumps({"type": "RESTResponse", "request_id": frame["request_id"], **reply}))
        return ws

    async def send_event(self, event: dict[str, Any]) -> None:
        await self.sockets[-1].send_str(json.dumps(event))


@pytest.fixture
async def served() -> AsyncIterator[tuple[FakeAsterisk, str]]:
    fake = FakeAsterisk()
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield fake, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def connected(base: str, session: aiohttp.ClientSession, on_event: Any,
                    on_connected: Any, timeout_s: float = 2.0) -> tuple[AriClient, asyncio.Task[None]]:
    ari = AriClient(session, base, "cti", "secret", "cti", request_timeout_s=timeout_s)
    task = asyncio.create_task(ari.run_events(on_event, on_connected))
    for _ in range(200):
        if ari.state.connected:
            break
        await asyncio.sleep(0.01)
    return ari, task


async def test_requests_go_over_the_websocket_with_their_parameters_and_statuses(served: Any) -> None:
    fake, base = served
    async with aiohttp.ClientSession() as session:
        ari, task = await connected(base, session, lambda ev: None, lambda: asyncio.sleep(0))
        try:
            got = await ari.request("POST", "/channels", endpoint="PJSIP/1001", callerId="+8613800000000",
                                    timeout=20, appArgs=None)
            assert got == {"via": "ws", "query": {"endpoint": "PJSIP/1001", "callerId": "+8613800000000",
                                                  "timeout": "20"}}
            with pytest.raises(AriError) as refused:
                await ari.request("DELETE", "/channels/gone")
            assert refused.value.status == 404
            await ari.request_quiet("DELETE", "/channels/gone")  # (a 404 is quiet)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert ("POST", "channels") in [(m, u) for m, u, _ in fake.ws_requests]
    assert [p for _, p in fake.http] == ["applications/cti/eventFilter"]  # nothing else over HTTP
    allowed = {f["type"] for f in fake.filters[0]["allowed"]}
    assert allowed == {*EVENTS_USED, "RESTResponse"}  # without it, replies are filtered out


async def test_replies_arrive_during_the_resync_and_events_wait_for_its_end(served: Any) -> None:
    fake, base = served
    seen: list[str] = []

    async def resync() -> None:
        await fake.send_event({"type": "StasisStart", "channel": {"id": "early"}})
        listed = await ari_box[0].request("GET", "/channels")  # a reply on the same socket
        seen.append(f"listed via {listed['via']}")
        await asyncio.sleep(0.05)  # the event has arrived by now, and waits

    ari_box: list[AriClient] = []
    async with aiohttp.ClientSession() as session:
        ari = AriClient(session, base, "cti", "secret", "cti", request_timeout_s=2.0)
        ari_box.append(ari)
        task = asyncio.create_task(ari.run_events(lambda ev: seen.append(ev["channel"]["id"]), resync))
        try:
            for _ in range(200):
                if len(seen) >= 1 and fake.sockets:
                    break
                await asyncio.sleep(0.01)
            await fake.send_event({"type": "StasisStart", "channel": {"id": "later"}})
            for _ in range(200):
                if "later" in seen:
                    break
                await asyncio.sleep(0.01)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert seen == ["listed via ws", "early", "later"]


async def test_a_lost_websocket_fails_the_waiting_requests_at_once(served: Any) -> None:
    fake, base = served
    async with aiohttp.ClientSession() as session:
        ari, task = await connected(base, session, lambda ev: None, lambda: asyncio.sleep(0), timeout_s=5.0)
        try:
            fake.hold_replies = True
            waiting = asyncio.create_task(ari.request("POST", "/channels/k1/answer"))
            await asyncio.sleep(0.1)
            started = time.monotonic()
            await fake.sockets[-1].close()
            with pytest.raises(AriError) as lost:
                await waiting
            assert lost.value.status == 0  # unknown outcome, as for a deadline
            assert time.monotonic() - started < 2.0  # not the 5 s deadline
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_an_asterisk_without_rest_over_websocket_is_asked_over_http(served: Any) -> None:
    fake, base = served
    fake.rest_over_ws = False
    async with aiohttp.ClientSession() as session:
        ari, task = await connected(base, session, lambda ev: None, lambda: asyncio.sleep(0), timeout_s=0.3)
        try:
            for _ in range(200):  # (the websocket's first request goes unanswered: 0.3 s)
                if ari.state.connected:
                    break
                await asyncio.sleep(0.01)
            assert await ari.request("GET", "/channels") == {"via": "http"}
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert ("GET", "channels") in fake.http


async def test_requests_beyond_the_websockets_share_go_over_http(served: Any) -> None:
    """Asterisk answers a websocket's requests one at a time: with WS_IN_FLIGHT of them
    waiting there (a slow one holding the rest up), the next goes over HTTP and is
    answered at once."""
    fake, base = served
    async with aiohttp.ClientSession() as session:
        ari, task = await connected(base, session, lambda ev: None, lambda: asyncio.sleep(0), timeout_s=5.0)
        try:
            fake.hold_replies = True
            stuck = [asyncio.create_task(ari.request("POST", f"/channels/k{i}/answer"))
                     for i in range(AriClient.WS_IN_FLIGHT)]
            await asyncio.sleep(0.1)
            assert not any(t.done() for t in stuck)
            started = time.monotonic()
            assert await ari.request("POST", "/channels/k9/answer") == {"via": "http"}
            assert time.monotonic() - started < 2.0
            assert ("POST", "channels/k9/answer") in fake.http
            assert not any("/k0/" in f"/{p}" for _, p in fake.http)  # those stayed on the socket
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            for t in stuck:
                t.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
