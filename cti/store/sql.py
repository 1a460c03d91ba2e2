"""One SQL database for the engine's records (dispositions, work orders, the record of
calls), the same statements on SQLite (one machine) and PostgreSQL (several engines).

Every statement runs on one worker thread of its own, never on the event loop, and
each call has a deadline (``timeout_s``): a database that hangs fails the call with
``StoreUnavailable`` rather than stalling the engine. A connection that broke is
dropped and opened again on the next call.

Long reads (reports, exports: ``read``) run elsewhere: on ``READERS`` threads of their
own, each with a read-only connection (SQLite ``mode=ro`` and ``query_only``;
PostgreSQL read-only transactions), in one transaction each (one snapshot), so they
never queue behind the writer nor take its lock. A read has its own deadline
(``read_timeout_s``); at the deadline the statement is cancelled (SQLite
``interrupt``, PostgreSQL ``cancel`` and a ``statement_timeout`` as well), not left
running.

The statements are written once with ``?`` placeholders and portable types (TEXT,
DOUBLE PRECISION, INTEGER); for PostgreSQL the placeholders become ``%s``.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row

from cti.errors import BadRequest, CtiError

log = logging.getLogger("cti.store")
T = TypeVar("T")
Row = dict[str, Any]
READERS = 2  # read-only connections (and threads) for long reads
MAX_READ_ROWS = 1_000_000  # the store's rows one report or export may read (400 beyond)


class TooManyRows(BadRequest):
    """A report or export that would read or answer more rows than its limit (400)."""


def bounded(rows: list[T], limit: int = MAX_READ_ROWS, what: str = "rows of the record") -> list[T]:
    """``rows`` (read with ``LIMIT limit + 1``), or ``TooManyRows`` past the limit."""
    if len(rows) > limit:
        raise TooManyRows(f"this would read more than {limit:,} {what}: ask for fewer days or a longer interval")
    return rows


@dataclass(slots=True)
class Reading:
    """One read in flight: the connection it runs on (to cancel it at its deadline)."""

    conn: Any = None
    cancelled: bool = False


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


def read_only_connection(url: str, timeout_s: float, read_timeout_s: float) -> Any:
    """A connection that cannot write: SQLite ``mode=ro`` and ``query_only``;
    PostgreSQL read-only transactions with ``statement_timeout`` at ``read_timeout_s``."""
    if url.startswith(("postgresql://", "postgres://")):
        return psycopg.connect(url, autocommit=True, row_factory=dict_row, connect_timeout=max(1, int(timeout_s)),
                               options=f"-c statement_timeout={int(read_timeout_s * 1000)} "
                                       "-c default_transaction_read_only=on")
    path = Path(url.removeprefix("sqlite:")).resolve()
    conn = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True, check_same_thread=False, isolation_level=None,
                           timeout=timeout_s)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA query_only=1")
    return conn


class Database:
    def __init__(self, url: str, timeout_s: float = 5.0, schema: Sequence[str | tuple[str, str]] = (),
                 read_timeout_s: float = 30.0) -> None:
        """``schema``: statements run at each connection (CREATE ... IF NOT EXISTS), and
        *migrations*, (name, statement), run once per database after them, in order, each
        in the transaction that records its name (two engines starting at once: one runs it)."""
        self.url = url
        self.migrations = tuple(m for m in schema if isinstance(m, tuple))
        self.postgres = url.startswith(("postgresql://", "postgres://"))
        self.timeout_s = timeout_s
        self.read_timeout_s = read_timeout_s
        self.schema = tuple(m for m in schema if isinstance(m, str))
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-sql")
        self._conn: Any = None
        self._readers = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="store-read")
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()  # read-only connections not in use
        self.reads_cancelled = 0

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
            self._migrate(sql)
        return Sql(self._conn, self.postgres)

    def _migrate(self, sql: Sql) -> None:
        if not self.migrations:
            return
        sql.run("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL)")
        done = {r["name"] for r in sql.rows("SELECT name FROM schema_migrations")}
        for name, statement in self.migrations:
            if name in done:
                continue
            if self.postgres:
                with self._conn.transaction():
                    if sql.run("INSERT INTO schema_migrations (name, at) VALUES (?, extract(epoch from now())) "
                               "ON CONFLICT (name) DO NOTHING", (name,)) == 1:
                        sql.run(statement)
                        log.info("store: migration %s applied", name)
                continue
            sql.run("BEGIN IMMEDIATE")
            try:
                if sql.run("INSERT INTO schema_migrations (name, at) VALUES (?, unixepoch()) "
                           "ON CONFLICT (name) DO NOTHING", (name,)) == 1:
                    sql.run(statement)
                    log.info("store: migration %s applied", name)
            except BaseException:
                sql.run("ROLLBACK")
                raise
            sql.run("COMMIT")

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

    def _read_connection(self) -> Any:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return read_only_connection(self.url, self.timeout_s, self.read_timeout_s)

    def _read(self, fn: Callable[[Sql], T], reading: Reading) -> T:
        conn = None
        try:
            conn = reading.conn = self._read_connection()
            if reading.cancelled:  # its deadline passed while it waited for a reader
                raise StoreUnavailable("store: the read was cancelled at its deadline")
            sql = Sql(conn, self.postgres)
            if self.postgres:
                with conn.transaction():
                    result = fn(sql)
            else:
                sql.run("BEGIN")  # one snapshot for the whole read
                try:
                    result = fn(sql)
                finally:
                    sql.run("ROLLBACK")
            reading.conn = None  # done: a late cancel must not reach the connection's next read
            self._idle.put(conn)
            return result
        except (psycopg.errors.QueryCanceled, sqlite3.OperationalError) as exc:
            if conn is not None and (reading.cancelled or "interrupt" in str(exc)):
                self._idle.put(conn)  # cancelled, the connection is sound
                raise StoreUnavailable("store: the read was cancelled at its deadline") from None
            self._close_quietly(conn)
            raise StoreUnavailable(f"store: {exc}".splitlines()[0]) from None
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self._close_quietly(conn)
            raise StoreUnavailable(f"store: {exc}".splitlines()[0]) from None
        except BaseException:
            if conn is not None:
                self._idle.put(conn)
            raise

    @staticmethod
    def _close_quietly(conn: Any) -> None:
        if conn is not None:
            try:
                conn.close()
            except Exception as exc:
                log.debug("closing a broken read connection: %s", exc)

    # ------------------------------------------------------------ the loop

    async def read(self, fn: Callable[[Sql], T], timeout_s: float | None = None) -> T:
        """Run ``fn`` (reads only) on a read-only connection of its own, off the writer,
        within ``read_timeout_s``: at the deadline its statement is cancelled and the
        read fails with ``StoreUnavailable``."""
        loop = asyncio.get_running_loop()
        reading = Reading()
        within = self.read_timeout_s if timeout_s is None else timeout_s
        future = loop.run_in_executor(self._readers, self._read, fn, reading)
        try:
            async with asyncio.timeout(within):
                return await asyncio.shield(future)
        except TimeoutError:
            reading.cancelled = True
            self.reads_cancelled += 1
            conn = reading.conn
            if conn is not None:
                try:
                    if self.postgres:
                        conn.cancel()
                    else:
                        conn.interrupt()
                except Exception as exc:  # a connection that broke meanwhile: its read ends anyway
                    log.debug("cancelling a read: %s", exc)
            future.add_done_callback(lambda f: f.exception() if not f.cancelled() else None)
            log.warning("store: a read took longer than %g s and was cancelled", within)
            raise StoreUnavailable(f"store: the read took longer than {within:g} s ([store] read_timeout_s) "
                                   "and was cancelled") from None


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
        """Close off the loop (a CLI or a test after its loop): waits for the workers."""
        self._thread.submit(self._drop)
        self._thread.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self._close_readers()

    def _close_readers(self) -> None:
        while True:
            try:
                self._close_quietly(self._idle.get_nowait())
            except queue.Empty:
                return

    async def aclose(self) -> None:
        """Close from the loop, never joining the workers there."""
        self._readers.shutdown(wait=False, cancel_futures=True)
        await close_worker(self._thread, self._close_all, self.timeout_s, "store")

    def _close_all(self) -> None:
        self._drop()
        self._close_readers()


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
