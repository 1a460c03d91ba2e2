"""Sessions survive a restart or a take-over: kept in the store (SQLite and
PostgreSQL), as SHA-256 digests only; a closed session is gone for the next engine too;
the CSRF token of a session is the same on the next engine. The store is the truth
(issue 28, item 4): sessions dropped at the cap are gone from it, a sign-out is never
lost while the store is slow, a restored session takes its role from the configuration
of now; and a sign-in lock holds after a restart (item 1)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher

from cti.web.auth import Auth
from cti.web.accounts import Account, AuthSettings, Identity
from cti.web import sessions
from cti.store.sql import Database

FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
SETTINGS = AuthSettings(accounts=(Account("li", "supervisor", FAST.hash("li-password")),))
PINS = {"1001": FAST.hash("482913")}


async def written(auth: Auth) -> None:
    """Until ``keep`` wrote everything ``auth`` had to write (a guard, not a timing)."""
    for _ in range(400):
        if auth.settled():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not written: {auth.unwritten()}")


async def test_sessions_and_their_csrf_tokens_hold_on_the_next_engine(store_url: str) -> None:
    db = Database(store_url, 5.0, sessions.SCHEMA)
    await db.open()
    first = Auth(SETTINGS, PINS, {})
    assert await sessions.restore(first, db) == 0
    agent = first.open_session(Identity("agent:1001", "agent", "1001"))
    gone = first.open_session(Identity("account:li", "supervisor"))
    await sessions.flush(first, db)
    csrf = first.csrf_token(agent)
    first.close_session(gone)
    keeper = asyncio.create_task(sessions.keep(first, db))
    await written(first)
    keeper.cancel()
    stored = await db.do(lambda sql: sql.rows("SELECT * FROM sessions"))
    assert len(stored) == 1 and agent not in str(stored)  # the digest only, never the token

    second = Auth(SETTINGS, PINS, {})  # the restarted engine
    assert await sessions.restore(second, db) == 1
    assert second.session(agent) == Identity("agent:1001", "agent", "1001")
    assert second.session(gone) is None
    assert second.csrf_ok(agent, csrf) and not second.csrf_ok(agent, "0" * 64)
    db.close()


async def restarted(db: Database, settings: AuthSettings = SETTINGS, pins: dict[str, str] = PINS) -> Auth:
    auth = Auth(settings, pins, {})
    await sessions.restore(auth, db)
    return auth


async def test_R14_sessions_dropped_at_the_cap_are_gone_from_the_store_too(store_url: str) -> None:
    db = Database(store_url, 5.0, sessions.SCHEMA)
    first = await restarted(db)
    first.max_sessions = 3
    keeper = asyncio.create_task(sessions.keep(first, db))
    tokens = [first.open_session(Identity("agent:1001", "agent", "1001")) for _ in range(5)]
    await written(first)
    keeper.cancel()
    assert len(await db.do(lambda sql: sql.rows("SELECT digest FROM sessions"))) == 3
    second = await restarted(db)
    assert [second.session(t) is not None for t in tokens] == [False, False, True, True, True]
    db.close()


async def test_R14_a_sign_out_is_never_dropped_while_the_store_is_slow(store_url: str) -> None:
    """100,001 sessions open after a sign-out before the store is written again (the
    old queue held 100,000 changes and dropped the oldest: the sign-out)."""
    db = Database(store_url, 30.0, sessions.SCHEMA)
    first = await restarted(db)
    first.max_sessions = 100
    signed_out = first.open_session(Identity("account:li", "supervisor"))
    await sessions.flush(first, db)
    first.close_session(signed_out)
    for _ in range(100_001):  # the store is slow: nothing written meanwhile
        first.open_session(Identity("agent:1001", "agent", "1001"))
    keeper = asyncio.create_task(sessions.keep(first, db))
    await written(first)
    keeper.cancel()
    second = await restarted(db)
    assert second.session(signed_out) is None
    assert len(await db.do(lambda sql: sql.rows("SELECT digest FROM sessions"))) == 100
    db.close()


async def test_R14_a_restored_session_takes_its_role_from_the_configuration_now(store_url: str) -> None:
    db = Database(store_url, 5.0, sessions.SCHEMA)
    before = AuthSettings(accounts=(Account("li", "admin", FAST.hash("li-password")),
                                    Account("wang", "reader", FAST.hash("wang-password"))))
    first = await restarted(db, before, {"1001": FAST.hash("482913"), "1002": FAST.hash("135790")})
    li = first.open_session(Identity("account:li", "admin"))
    wang = first.open_session(Identity("account:wang", "reader"))
    agent = first.open_session(Identity("agent:1002", "agent", "1002"))
    await sessions.flush(first, db)
    now = AuthSettings(accounts=(Account("li", "supervisor", FAST.hash("li-password")),))  # li demoted, wang gone
    second = await restarted(db, now, {"1001": FAST.hash("482913")})  # agent 1002 gone
    assert second.session(li) == Identity("account:li", "supervisor")
    assert second.session(wang) is None and second.session(agent) is None
    assert [r["name"] for r in await db.do(lambda sql: sql.rows("SELECT name FROM sessions"))] == ["account:li"]
    db.close()


async def test_R14_a_sign_in_lock_holds_after_a_restart(store_url: str) -> None:
    db = Database(store_url, 5.0, sessions.SCHEMA)
    first = await restarted(db)
    for pin in ("000000", "111111", "222222", "333333", "444444"):
        assert await first.verify("1001", pin, "192.0.2.7") is None
    assert await first.verify("1001", "482913", "192.0.2.8") is None  # locked
    await sessions.flush(first, db)
    second = await restarted(db)  # the engine restarted within the minute
    assert await second.verify("1001", "482913", "192.0.2.8") is None
    assert await second.verify("li", "li-password", "192.0.2.8") is not None  # only that name
    db.close()
