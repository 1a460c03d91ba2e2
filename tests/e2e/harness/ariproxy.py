"""A recording ARI proxy: the engine talks to it as to Asterisk (REST and the events
websocket, REST over it included), it forwards everything to the real ARI (or a
stand-in) and keeps every frame the engine received on the websocket."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from tests.e2e.harness.sandbox import free_port

KEEP = 10_000  # frames kept (a scenario of a few calls sends a few dozen)
DEADLINE_S = 10.0


class AriProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.frames: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(),), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise AssertionError("the ARI proxy did not start")

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        timeout = aiohttp.ClientTimeout(total=DEADLINE_S)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            app = web.Application()

            async def events(request: web.Request) -> web.WebSocketResponse:
                ws = web.WebSocketResponse()
                await ws.prepare(request)
                async with session.ws_connect(self.upstream + "/ari/events", params=dict(request.query),
                                              headers={"Authorization": request.headers.get("Authorization", "")},
                                              timeout=aiohttp.ClientWSTimeout(ws_close=DEADLINE_S)) as up:
                    async def down() -> None:
                        async for msg in up:
                            if msg.type is not WSMsgType.TEXT:
                                break
                            if len(self.frames) < KEEP:
                                self.frames.append(json.loads(msg.data))
                            await ws.send_str(msg.data)
                        await ws.close()
                    pump = asyncio.create_task(down())
                    async for msg in ws:
                        if msg.type is not WSMsgType.TEXT:
                            break
                        await up.send_str(msg.data)
                    pump.cancel()
                    await asyncio.gather(pump, return_exceptions=True)
                return ws

            async def rest(request: web.Request) -> web.Response:
                async with session.request(request.method, self.upstream + request.path, params=request.query,
                                           data=await request.read(), headers={
                                               k: v for k, v in request.headers.items()
                                               if k in ("Authorization", "Content-Type")}) as resp:
                    return web.Response(status=resp.status, body=await resp.read(),
                                        content_type=resp.content_type if resp.content_length != 0 else None)

            app.router.add_get("/ari/events", events)
            app.router.add_route("*", "/ari/{tail:.*}", rest)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self._ready.set()
            await self._stop.wait()
            await runner.cleanup()

    def events(self) -> list[dict[str, Any]]:
        return list(self.frames)

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
