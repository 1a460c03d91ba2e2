"""R14: the live streams (``GET /events``, issue 28, item 3) through the real aiohttp
app: one identity holds at most ``[desk] streams_per_identity`` of them (more: 429
``too-many``), and a stream opened with a session ends when the session does (signed
out, or expired), so a supervisor's figures stop flowing with the session."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from cti.configreader import Table
from cti.desk import http as desk_http
from cti.desk.live import Live
from cti.desk.settings import parse_desk
from cti.web.auth import Auth
from cti.web.accounts import Account, AuthSettings
from cti.web.server import build_app

FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
PIN = "482913"


def app_with_live(auth: Auth, per_identity: int = 5) -> TestServer:
    app = build_app(auth, [desk_http.FEATURE])
    app[desk_http.LIVE].start(Live(lambda who: {"waiting": 0}, per_identity=per_identity))
    return TestServer(app)


def make_auth(clock: list[float] | None = None) -> Auth:
    now = clock if clock is not None else [0.0]
    return Auth(AuthSettings(accounts=(Account("li", "supervisor", FAST.hash("li-password")),)),
                {"1001": FAST.hash(PIN)}, {}, clock=lambda: now[0])


async def sign_in(http: TestClient, name: str, secret: str) -> str:
    async with http.post("/auth/login", json={"name": name, "secret": secret}) as r:
        assert r.status == 200
        token: str = (await r.json())["token"]
        return token


async def ends(http: TestClient, token: str, then: asyncio.Event) -> bytes:
    """Open a stream with ``token``, set ``then`` once it is open, read it to its end."""
    async with http.get("/events", headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200
        first = await r.content.readuntil(b"\n\n")
        then.set()
        async with asyncio.timeout(30):  # a guard: a stream that never ends fails here
            return first + await r.content.read()


async def test_R14_one_identity_holds_at_most_streams_per_identity_live_streams() -> None:
    assert parse_desk(Table({}, "desk")).streams_per_identity == 5
    assert parse_desk(Table({"streams_per_identity": 2}, "desk")).streams_per_identity == 2
    async with TestClient(app_with_live(make_auth(), per_identity=2)) as http:
        agent = {"Authorization": f"Bearer {await sign_in(http, '1001', PIN)}"}
        first = await http.get("/events", headers=agent)
        second = await http.get("/events", headers=agent)
        assert first.status == second.status == 200
        third = await http.get("/events", headers=agent)
        assert third.status == 429 and (await third.json())["error"] == "too-many"
        other = await http.get("/events", headers={"Authorization": f"Bearer {await sign_in(http, 'li', 'li-password')}"})
        assert other.status == 200  # another identity has its own
        first.close()
        for _ in range(100):
            again = await http.get("/events", headers=agent)
            if again.status == 200:
                break
            again.close()
            await asyncio.sleep(0.05)
        assert again.status == 200  # one closed: one may open again
        for r in (second, other, again):
            r.close()


async def test_R14_a_stream_ends_when_its_session_is_signed_out() -> None:
    async with TestClient(app_with_live(make_auth())) as http:
        token = await sign_in(http, "li", "li-password")
        opened = asyncio.Event()
        reading = asyncio.create_task(ends(http, token, opened))
        await opened.wait()
        async with http.post("/auth/logout", headers={"Authorization": f"Bearer {token}"}, json={}) as r:
            assert r.status == 200
        body = await reading
        assert body.startswith(b"retry: 2000")


async def test_R14_a_stream_ends_when_its_session_expires() -> None:
    clock = [0.0]
    auth = make_auth(clock)
    async with TestClient(app_with_live(auth)) as http:
        token = await sign_in(http, "li", "li-password")
        opened = asyncio.Event()
        reading = asyncio.create_task(ends(http, token, opened))
        await opened.wait()
        clock[0] = auth.settings.session_ttl_s + 1
        await reading
