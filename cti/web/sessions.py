"""Browser and API sessions kept in the store, so that a restart or a take-over by a
standby does not sign everyone out: the pages reconnect and go on. Only the SHA-256 of
each session token is stored, with the identity and the expiry; the CSRF key is one
random key per store. Writes go through ``keep`` (a task), never on a request's path."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

from cti.web.auth import Auth
from cti.store.sql import Database, Sql

log = logging.getLogger("cti.web.auth")
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS sessions (digest TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, "
    "agent_id TEXT, expires_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


async def restore(auth: Auth, db: Database) -> int:
    """Give ``auth`` the store's live sessions and CSRF key; from now on it reports
    its session changes for ``keep``."""
    def run(sql: Sql) -> tuple[list[Any], str]:
        sql.run("INSERT INTO secrets (name, value) VALUES ('csrf_key', ?) ON CONFLICT (name) DO NOTHING",
                (secrets.token_hex(32),))
        key = sql.rows("SELECT value FROM secrets WHERE name = 'csrf_key'")[0]["value"]
        rows = sql.rows("SELECT digest, name, role, agent_id, expires_at FROM sessions WHERE expires_at > ? "
                        "ORDER BY expires_at", (time.time(),))
        return [(r["digest"], r["name"], r["role"], r["agent_id"], r["expires_at"]) for r in rows], key
    rows, key = await db.do(run)
    auth.restore(rows, bytes.fromhex(key))
    return len(rows)


async def keep(auth: Auth, db: Database) -> None:
    """Write session changes to the store; a store that fails is tried again."""
    assert auth.kept is not None
    swept = 0.0
    while True:
        batch = list(auth.kept)
        try:
            if batch:
                await db.do(lambda sql: _apply(sql, batch))
                for _ in batch:
                    auth.kept.popleft()
            if time.time() - swept > 3600:
                swept = time.time()
                await db.do(lambda sql: sql.run("DELETE FROM sessions WHERE expires_at < ?", (swept,)))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("keeping sessions in the store failed (tried again): %s", exc)
        await asyncio.sleep(0.2)


def _apply(sql: Sql, batch: list[tuple[str, Any]]) -> None:
    for op, value in batch:
        if op == "open":
            sql.run("INSERT INTO sessions (digest, name, role, agent_id, expires_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (digest) DO NOTHING", value)
        else:
            sql.run("DELETE FROM sessions WHERE digest = ?", (value,))
