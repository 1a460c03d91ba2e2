"""A node's ARI over aiohttp: REST under /ari, the events websocket at /ari/events
(with REST requests over it, ``RESTRequest`` -> ``RESTResponse``, as Asterisk 22.4+),
Basic authentication."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from aiohttp import WSMsgType, web

from bench.simnode.model import stamp
from bench.simnode.node import Node

NODE = web.AppKey("node", Node)
SEND_TIMEOUT_S = 5.0
QUEUE_MAX = 100_000  # events waiting for one websocket; beyond, the client is too slow: closed


def make_app(node: Node, user: str, password: str) -> web.Application:
    app = web.Application(middlewares=[_auth(f"{user}:{password}")])
    app[NODE] = node
    app.router.add_get("/ari/events", _events)
    app.router.add_route("*", "/ari/{tail:.*}", _rest)
    return app


def _auth(expected: str) -> Any:
    wanted = "Basic " + base64.b64encode(expected.encode()).decode()

    @web.middleware
    async def check(request: web.Request, handler: Any) -> web.StreamResponse:
        given = request.headers.get("Authorization")
        if given != wanted and request.query.get("api_key") != expected:
            return web.json_response({"message": "Authentication required"}, status=401)
        response: web.StreamResponse = await handler(request)
        return response
    return check


async def _rest(request: web.Request) -> web.Response:
    node = request.app[NODE]
    body: Any = None
    if request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"message": "bad JSON"}, status=400)
    status, payload = await node.rest(request.method, request.match_info["tail"], dict(request.query), body)
    if payload is None:
        return web.Response(status=status)
    return web.json_response(payload, status=status)


async def _events(request: web.Request) -> web.WebSocketResponse:
    node = request.app[NODE]
    if request.query.get("app") != node.app:
        raise web.HTTPBadRequest(text="unknown application")
    ws = web.WebSocketResponse(heartbeat=30.0)
    await ws.prepare(request)
    queue: asyncio.Queue[str | None] = asyncio.Queue(QUEUE_MAX)
    closing: list[asyncio.Task[bool]] = []

    def listener(event: dict[str, Any]) -> None:
        try:
            queue.put_nowait(json.dumps(event))
        except asyncio.QueueFull:  # a client this far behind is dropped, as Asterisk does
            node.listeners.discard(listener)
            closing.append(asyncio.get_running_loop().create_task(ws.close()))

    node.listeners.add(listener)
    asking: set[asyncio.Task[None]] = set()
    writer = asyncio.create_task(_write(ws, queue))
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                asking.add(task := asyncio.create_task(_rest_over_ws(node, msg.data, queue)))
                task.add_done_callback(asking.discard)  # (the client keeps 4 at most in flight)
            elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break
    finally:
        node.listeners.discard(listener)
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
    return ws


async def _write(ws: web.WebSocketResponse, queue: asyncio.Queue[str | None]) -> None:
    while (frame := await queue.get()) is not None:
        async with asyncio.timeout(SEND_TIMEOUT_S):
            await ws.send_str(frame)
    await ws.close()


async def _rest_over_ws(node: Node, data: str, queue: asyncio.Queue[str | None]) -> None:
    try:
        frame = json.loads(data)
    except ValueError:
        return
    if not isinstance(frame, dict) or frame.get("type") != "RESTRequest":
        return
    query = {str(q.get("name")): str(q.get("value")) for q in frame.get("query_strings") or [] if isinstance(q, dict)}
    body = json.loads(frame["message_body"]) if frame.get("message_body") else None
    status, payload = await node.rest(str(frame.get("method", "GET")), str(frame.get("uri", "")), query, body)
    reply = {"type": "RESTResponse", "transaction_id": str(frame.get("transaction_id", "")),
             "request_id": frame.get("request_id"), "status_code": status,
             "reason_phrase": "OK" if status < 300 else "Error", "uri": frame.get("uri"),
             "content_type": "application/json" if payload is not None else "",
             "message_body": json.dumps(payload) if payload is not None else "",
             "timestamp": stamp(), "asterisk_id": node.events.asterisk_id, "application": node.app}
    try:
        queue.put_nowait(json.dumps(reply))
    except asyncio.QueueFull:
        pass
