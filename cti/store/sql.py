"""One SQL database for the engine's records (dispositions, work orders, the record of
calls), the same statements on SQLite (one machine) and PostgreSQL (several engines).

Every statement runs on one worker thread of its own, never on the event loop, and
each call has a deadline (``timeout_s``): a database that hangs fails the call with
``StoreUnavailable`` rather than stalling the engine. A connection that broke is
dropped and opened again on the next call.

The statements are written once with ``?`` placeholders and portable types (TEXT,
DOUBLE PRECISION, INTEGER); for PostgreSQL the placeholders become ``%s``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row

from cti.errors import CtiError

log = logging.getLogger("cti.store")
T = TypeVar("T")
Row = dict[str, Any]


class StoreUnavailable(CtiError):
    """The database did not answer in time, or refused the statement."""


class Sql:
    """The statements' side of one connection (on the worker thread only)."""

    def __init__(self, conn: Any, postgres: bool) -> None:
        self._conn = conn
        self.postgres = postgres

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.postgres else statement

    def run(self, statement: str, params: Sequence[Any] = ()) -> int:
        cur = self._conn.execute(self._sql(statement), tuple(params))
        return int(cur.rowcount or 0)

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[Row]:
        cur = self._conn.execute(self._sql(statement), tuple(params))
        return [dict(r) for r in cur.fetchall()]

    def many(self, statement: str, params: Iterable[Sequence[Any]]) -> None:
        if self.postgres:
            with self._conn.cursor() as cur:
                cur.executemany(self._sql(statement), [tuple(p) for p in params])
        else:
            self._conn.executemany(statement, [tuple(p) for p in params])


class Database:
    def __init__(self, url: str, timeout_s: float = 5.0, schema: Sequence[str] = ()) -> None:
        self.url = url
        self.postgres = url.startswith(("postgresql://", "postgres://"))
        self.timeout_s = timeout_s
        self.schema = tuple(schema)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-sql")
        self._conn: Any = None

    # --------------------------------------------------------- worker thread

    def _connect(self) -> Sql:
        if self._conn is None:
            if self.postgres:
                self._conn = psycopg.connect(self.url, autocommit=True, row_factory=dict_row,
                                             connect_timeout=max(1, int(self.timeout_s)),
                                             options=f"-c statement_timeout={int(self.timeout_s * 1000)}")
            else:
                path = Path(self.url.removeprefix("sqlite:"))
                path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                                       timeout=self.timeout_s)
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                self._conn = conn
            sql = Sql(self._conn, self.postgres)
            for statement in self.schema:
                sql.run(statement)
        return Sql(self._conn, self.postgres)

    def _in_transaction(self, fn: Callable[[Sql], T]) -> T:
        try:
            sql = self._connect()
            if self.postgres:
                with self._conn.transaction():
                    return fn(sql)
            sql.run("BEGIN IMMEDIATE")
            try:
                result = fn(sql)
            except BaseException:
                sql.run("ROLLBACK")
                raise
            sql.run("COMMIT")
            return result
        except (psycopg.OperationalError, psycopg.InterfaceError, sqlite3.OperationalError) as exc:
            self._drop()
            raise StoreUnavailable(f"store: {exc}".splitlines()[0]) from None

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception as exc:  # already broken: it is dropped all the same
                log.debug("closing a broken store connection: %s", exc)

    # ------------------------------------------------------------ the loop

    async def do(self, fn: Callable[[Sql], T]) -> T:
        """Run ``fn`` in one transaction on the worker thread, within the deadline."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout_s):
                return await loop.run_in_executor(self._thread, self._in_transaction, fn)
        except TimeoutError:
            raise StoreUnavailable(f"store: no answer within {self.timeout_s:g} s") from None

    async def open(self) -> None:
        """Connect and create the tables (the start fails here on a wrong URL)."""
        await self.do(lambda sql: None)

    def close(self) -> None:
        """Close off the loop (a CLI or a test after its loop): waits for the worker."""
        self._thread.submit(self._drop)
        self._thread.shutdown(wait=True)

    async def aclose(self) -> None:
        """Close from the loop, never joining the worker there."""
        await close_worker(self._thread, self._drop, self.timeout_s, "store")


async def close_worker(thread: ThreadPoolExecutor, last: Callable[[], None], within_s: float, what: str) -> None:
    """Run ``last`` (closing the connection) on the worker thread within ``within_s``,
    then let the thread end by itself: the loop waits for neither a hung statement nor
    the thread's join."""
    try:
        async with asyncio.timeout(within_s):
            await asyncio.get_running_loop().run_in_executor(thread, last)
    except TimeoutError:
        log.error("%s: not closed within %g s; its worker ends when its statement does", what, within_s)
    except Exception as exc:  # closing a broken connection: it goes all the same
        log.warning("%s: closing failed: %s", what, exc)
    finally:
        thread.shutdown(wait=False)
