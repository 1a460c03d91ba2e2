"""Browser and API sessions kept in the store, so that a restart or a take-over by a
standby does not sign everyone out: the pages reconnect and go on. Only the SHA-256 of
each session token is stored, with the identity and the expiry; the CSRF key is one
random key per store. The store is the truth: a session dropped from memory (signed
out, or the oldest at ``Auth.max_sessions``) is deleted there too, and a session comes
back only under a name configured now, with that name's role now. The sign-in locks
(``cti.web.auth``) are kept beside them, so a restart does not lift them. Writes go
through ``keep`` (a task), never on a request's path; what it could not write yet
stays in ``Auth`` (a sign-out is never dropped) and is tried again."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any

from cti.web.auth import Auth
from cti.store.sql import Database, Sql

log = logging.getLogger("cti.web.auth")
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS sessions (digest TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, "
    "agent_id TEXT, expires_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sign_in_locks (name TEXT PRIMARY KEY, until_at DOUBLE PRECISION NOT NULL)",
)


async def restore(auth: Auth, db: Database) -> int:
    """Give ``auth`` the store's live sessions, sign-in locks and CSRF key; from now on
    it reports its changes for ``keep``. Answers how many sessions it kept."""
    def run(sql: Sql) -> tuple[list[Any], str, dict[str, float]]:
        sql.run("INSERT INTO secrets (name, value) VALUES ('csrf_key', ?) ON CONFLICT (name) DO NOTHING",
                (secrets.token_hex(32),))
        key = sql.rows("SELECT value FROM secrets WHERE name = 'csrf_key'")[0]["value"]
        now = time.time()
        rows = sql.rows("SELECT digest, name, role, agent_id, expires_at FROM sessions WHERE expires_at > ? "
                        "ORDER BY expires_at", (now,))
        locks = {r["name"]: float(r["until_at"])
                 for r in sql.rows("SELECT name, until_at FROM sign_in_locks WHERE until_at > ?", (now,))}
        return [(r["digest"], r["name"], r["role"], r["agent_id"], r["expires_at"]) for r in rows], key, locks
    rows, key, locks = await db.do(run)
    kept = auth.restore(rows, bytes.fromhex(key), locks)
    try:
        await flush(auth, db)  # the sessions it dropped go from the store now
    except Exception as exc:  # ``keep`` tries again
        log.error("dropping sessions from the store failed (tried again): %s", exc)
    return kept


async def flush(auth: Auth, db: Database) -> None:
    """Write what ``auth`` has not written yet (raises when the store fails: it stays)."""
    opened, closed, locks = auth.unwritten()
    if opened or closed or locks:
        await db.do(lambda sql: _apply(sql, opened, closed, locks))
        auth.written(opened, closed, locks)


async def keep(auth: Auth, db: Database) -> None:
    """Write session and lock changes to the store; a store that fails is tried again."""
    swept = 0.0
    while True:
        try:
            await flush(auth, db)
            if time.time() - swept > 3600:
                swept = time.time()
                await db.do(lambda sql: (sql.run("DELETE FROM sessions WHERE expires_at < ?", (swept,)),
                                         sql.run("DELETE FROM sign_in_locks WHERE until_at < ?", (swept,))))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("keeping sessions in the store failed (tried again): %s", exc)
        await asyncio.sleep(0.2)


def _apply(sql: Sql, opened: Mapping[str, tuple[str, str, str, str | None, float]], closed: frozenset[str],
           locks: Mapping[str, float]) -> None:
    for row in opened.values():
        sql.run("INSERT INTO sessions (digest, name, role, agent_id, expires_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (digest) DO NOTHING", row)
    for digest in closed:  # after the opens: a session opened and closed since the last write is gone
        sql.run("DELETE FROM sessions WHERE digest = ?", (digest,))
    for name, until in locks.items():
        sql.run("INSERT INTO sign_in_locks (name, until_at) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET until_at = excluded.until_at", (name, until))
