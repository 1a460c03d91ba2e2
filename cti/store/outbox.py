"""Where notifications wait until their receiver has them: the outbox.

Every webhook is written here before the first try and removed only when its receiver
answered 2xx (or when it is given up, counted as failed). Two stores with one shape:

- ``SqliteOutbox``: a SQLite file, for an engine without Redis. Every statement runs on
  one worker thread of its own, never on the event loop.
- ``RedisOutbox``: a hash (id -> entry) and a sorted set (id by next try) under the
  engine's prefix, for engines with Redis: a router that takes over delivers what its
  predecessor left.

Each entry has a unique id, sent to the receiver as the idempotency key: delivery is
at least once, and a receiver that sees an id twice can drop the second.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import redis.asyncio as aioredis

from cti.store.sql import close_worker


@dataclass(slots=True)
class Entry:
    entry_id: str
    url: str
    doc: dict[str, Any]
    created_at: float
    attempts: int = 0
    next_at: float = 0.0


class Outbox(Protocol):
    async def add(self, entry: Entry) -> None: ...
    async def due(self, now: float, limit: int) -> list[Entry]: ...
    async def update(self, entry: Entry) -> None: ...
    async def remove(self, entry_id: str) -> None: ...
    async def depth(self) -> int: ...


class SqliteOutbox:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-sqlite")
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:  # on the worker thread only
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, url TEXT, doc TEXT, "
                "created_at REAL, attempts INTEGER, next_at REAL)")
            self._db.execute("CREATE INDEX IF NOT EXISTS outbox_next ON outbox (next_at)")
        return self._db

    async def _run(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        def work() -> list[tuple[Any, ...]]:
            return self._conn().execute(sql, args).fetchall()
        return await asyncio.get_running_loop().run_in_executor(self._thread, work)

    async def add(self, entry: Entry) -> None:
        await self._run("INSERT OR IGNORE INTO outbox VALUES (?, ?, ?, ?, ?, ?)",
                        (entry.entry_id, entry.url, json.dumps(entry.doc), entry.created_at,
                         entry.attempts, entry.next_at))

    async def due(self, now: float, limit: int) -> list[Entry]:
        rows = await self._run("SELECT id, url, doc, created_at, attempts, next_at FROM outbox "
                               "WHERE next_at <= ? ORDER BY next_at LIMIT ?", (now, limit))
        return [Entry(k, url, json.loads(doc), created, attempts, next_at)
                for k, url, doc, created, attempts, next_at in rows]

    async def update(self, entry: Entry) -> None:
        await self._run("UPDATE outbox SET attempts = ?, next_at = ? WHERE id = ?",
                        (entry.attempts, entry.next_at, entry.entry_id))

    async def remove(self, entry_id: str) -> None:
        await self._run("DELETE FROM outbox WHERE id = ?", (entry_id,))

    async def depth(self) -> int:
        return int((await self._run("SELECT COUNT(*) FROM outbox"))[0][0])

    def _shut(self) -> None:  # on the worker thread
        if self._db is not None:
            self._db.close()

    def close(self) -> None:
        """Close off the loop (a test after its loop): waits for the worker."""
        self._thread.submit(self._shut)
        self._thread.shutdown(wait=True)

    async def aclose(self, within_s: float = 5.0) -> None:
        """Close from the loop, never joining the worker there."""
        await close_worker(self._thread, self._shut, within_s, "outbox")


class RedisOutbox:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self.entries_key = prefix + "outbox"
        self.due_key = prefix + "outbox:due"

    async def add(self, entry: Entry) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.entries_key, entry.entry_id, json.dumps(asdict(entry)))
            pipe.zadd(self.due_key, {entry.entry_id: entry.next_at})
            await pipe.execute()

    async def due(self, now: float, limit: int) -> list[Entry]:
        found_ids: Any = await self.client.zrangebyscore(self.due_key, "-inf", now, start=0, num=limit)
        ids: list[bytes] = list(found_ids)
        if not ids:
            return []
        raw = await self.client.hmget(self.entries_key, ids)
        found = []
        for entry_id, doc in zip(ids, raw):
            if doc is None:  # removed meanwhile
                await self.client.zrem(self.due_key, entry_id)
                continue
            found.append(Entry(**json.loads(doc)))
        return found

    async def update(self, entry: Entry) -> None:
        await self.add(entry)

    async def remove(self, entry_id: str) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hdel(self.entries_key, entry_id)
            pipe.zrem(self.due_key, entry_id)
            await pipe.execute()

    async def depth(self) -> int:
        return int(await self.client.zcard(self.due_key))
