"""Sessions survive a restart or a take-over: kept in the store (SQLite and
PostgreSQL), as SHA-256 digests only; a closed session is gone for the next engine too;
the CSRF token of a session is the same on the next engine."""

from __future__ import annotations

import asyncio

from cti.web.auth import Auth, AuthSettings, Identity
from cti.web import sessions
from cti.store.sql import Database


async def test_sessions_and_their_csrf_tokens_hold_on_the_next_engine(store_url: str) -> None:
    db = Database(store_url, 5.0, sessions.SCHEMA)
    await db.open()
    first = Auth(AuthSettings(), {}, {})
    assert await sessions.restore(first, db) == 0
    keeper = asyncio.create_task(sessions.keep(first, db))
    agent = first.open_session(Identity("agent:1001", "agent", "1001"))
    gone = first.open_session(Identity("account:li", "supervisor"))
    csrf = first.csrf_token(agent)
    first.close_session(gone)
    for _ in range(100):
        await asyncio.sleep(0.05)
        if first.kept is not None and not first.kept:
            break
    keeper.cancel()
    stored = await db.do(lambda sql: sql.rows("SELECT * FROM sessions"))
    assert len(stored) == 1 and agent not in str(stored)  # the digest only, never the token

    second = Auth(AuthSettings(), {}, {})  # the restarted engine
    assert await sessions.restore(second, db) == 1
    assert second.session(agent) == Identity("agent:1001", "agent", "1001")
    assert second.session(gone) is None
    assert second.csrf_ok(agent, csrf) and not second.csrf_ok(agent, "0" * 64)
    db.close()
