"""R13: reports never stall routing. Their reads run on read-only connections apart
from the writer (a write there is refused), a read past its deadline
(``[store] read_timeout_s``) is cancelled on the database rather than left running,
and a report beyond its documented size (100,000 rows; 1,000,000 rows of the record
read) is refused with 400, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

import pytest

from cti.reports import builder
from cti.reports import http as reports_http
from cti.reports.store import SCHEMA as RECORD_SCHEMA
from cti.reports.store import HistoryStore
from cti.store.sql import READERS, Database, StoreUnavailable, TooManyRows
from reports.records import CallRecord
from tests.integration.world import world

# A statement that never ends by itself.
ENDLESS = {False: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) AS n FROM c",
           True: "SELECT pg_sleep(600) AS n"}


async def test_R13_a_read_past_its_deadline_is_cancelled_not_left_running(store_url: str) -> None:
    db = Database(store_url, 5.0, RECORD_SCHEMA, read_timeout_s=0.5)
    await db.open()
    try:
        endless = ENDLESS[db.postgres]
        results = await asyncio.gather(*(db.read(lambda sql: sql.rows(endless)) for _ in range(READERS)),
                                       return_exceptions=True)
        assert all(isinstance(r, StoreUnavailable) and "cancelled" in str(r) for r in results), results
        assert db.reads_cancelled == READERS
        # Every reader was taken by an endless statement: a read gets a reader again
        # only because those statements were cancelled on the database.
        assert await db.read(lambda sql: sql.rows("SELECT 1 AS one"), timeout_s=60) == [{"one": 1}]
        if db.postgres:  # and the server runs none of them any more
            running = await db.do(lambda sql: sql.rows(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE query = ? AND state = 'active'", (endless,)))
            assert running == [{"n": 0}]
    finally:
        await db.aclose()


async def test_R13_a_report_process_read_past_its_deadline_is_cancelled(store_url: str) -> None:
    """The read a report process makes (here in this process) is cancelled on the
    database at its deadline, and its connection serves the next report."""
    db = Database(store_url, 5.0, RECORD_SCHEMA)
    await db.open()
    try:
        endless = ENDLESS[db.postgres]
        with pytest.raises(StoreUnavailable, match="cancelled"):
            await asyncio.to_thread(builder.read, store_url, 0.5, lambda sql: sql.rows(endless))
        assert await asyncio.to_thread(builder.read, store_url, 0.5, lambda sql: sql.rows("SELECT 2 AS two")) == [
            {"two": 2}]
    finally:
        await db.aclose()


async def test_R13_reads_run_on_read_only_connections_apart_from_the_writer(store_url: str) -> None:
    db = Database(store_url, 5.0, RECORD_SCHEMA)
    await db.open()
    try:
        with pytest.raises(Exception, match="(?i)read.?only"):
            await db.read(lambda sql: sql.run("DELETE FROM call_records"))
        # A long read does not hold the writer: a write completes while it runs.
        endless = ENDLESS[db.postgres]
        reading = asyncio.ensure_future(db.read(lambda sql: sql.rows(endless), timeout_s=3.0))
        await asyncio.sleep(0.2)
        assert await db.do(lambda sql: sql.run(
            "INSERT INTO agent_calls VALUES ('1001', 0, 1, 1, 0, 0, 0)")) == 1
        assert not reading.done()
        with pytest.raises(StoreUnavailable):
            await reading
    finally:
        await db.aclose()


def _call(i: int, at: float) -> CallRecord:
    return CallRecord(f"c{i}", "support", "13800000000", "", False, at - 60, at, "handled", "1001", 5.0, 50.0,
                      0.0, "caller", 0, 0, (), False, (), (), ())


async def test_R13_a_read_beyond_its_limit_is_refused(store_url: str) -> None:
    db = Database(store_url, 5.0, RECORD_SCHEMA)
    await db.open()
    try:
        store = HistoryStore(db)
        await store.write([_call(i, 1_790_000_000.0 + i) for i in range(5)], [])
        assert len(await store.calls_between(0, 2e9, limit=5)) == 5
        with pytest.raises(TooManyRows, match="more than 4 rows"):
            await store.calls_between(0, 2e9, limit=4)
    finally:
        await db.aclose()


async def test_R13_a_report_beyond_100000_rows_is_refused_with_400(tmp_path: Path) -> None:
    """3 agents x 33,334 quarter hours of calls: a 15-minute agent report would be
    100,002 rows; a daily one over the same days is answered."""
    start = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
    quarters = 33_334
    async with world(f"sqlite:{tmp_path}/cti.sqlite", tmp_path) as w:
        await w.db.do(lambda sql: sql.many("INSERT INTO agent_calls VALUES (?, ?, 1, 60, 0, 0, 0)", [
            (agent, start + 900 * q) for agent in ("1001", "1002", "1003") for q in range(quarters)]))
        last = datetime.fromtimestamp(start + 900 * (quarters - 1), timezone.utc).date()
        query = f"from=2026-01-01&to={last}"
        big = await w.http.get(f"/reports/agents?{query}&interval=15m", headers=w.as_role("supervisor"))
        assert big.status == 400
        body = await big.json()
        assert body["error"] == "bad-request" and f"{reports_http.MAX_ROWS:,} report rows" in body["message"]
        csv = await w.http.get(f"/reports/agents?{query}&interval=15m&format=csv", headers=w.as_role("supervisor"))
        assert csv.status == 400
        daily = await w.http.get(f"/reports/agents?{query}&interval=day", headers=w.as_role("supervisor"))
        assert daily.status == 200
        assert len((await daily.json())["rows"]) == 3 * 348
