"""R13: the record of calls and agents' states, and the 15-minute sums, in the store
(SQLite or PostgreSQL, the work orders' one).

Each ended call is one row of ``call_records`` (its offers and overflows as JSON), each
agent state span one row of ``agent_spans``; in the same transaction the call's sums
are added to its bucket of ``queue_buckets`` (the wrap-up of a span to its call's
queue). A row already stored (the same call id or span, written again after a
restart) adds nothing: the buckets count each call once. Reports read the buckets (a
month of a busy site is a few thousand rows), never the calls.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, fields
from typing import Any

from cti.durable.sql import Database, Row, Sql
from reports.intervals import QueueSums, bucket_of, call_sums
from reports.records import AgentSpan, CallRecord, Offer

SUMS = tuple(f.name for f in fields(QueueSums))

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS call_records (call_id TEXT PRIMARY KEY, queue TEXT NOT NULL, caller TEXT NOT NULL, "
    "kind TEXT NOT NULL, emergency INTEGER NOT NULL, arrived_at DOUBLE PRECISION NOT NULL, ended_at DOUBLE PRECISION NOT NULL, "
    "outcome TEXT NOT NULL, agent_id TEXT, waited_s DOUBLE PRECISION NOT NULL, talked_s DOUBLE PRECISION NOT NULL, held_s DOUBLE PRECISION NOT NULL, "
    "ended_by TEXT NOT NULL, rona INTEGER NOT NULL, hold_overruns INTEGER NOT NULL, overflowed_from TEXT NOT NULL, "
    "callback INTEGER NOT NULL, offers TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS call_records_ended ON call_records (ended_at)",
    "CREATE TABLE IF NOT EXISTS agent_spans (agent_id TEXT NOT NULL, started_at DOUBLE PRECISION NOT NULL, state TEXT NOT NULL, "
    "reason TEXT, ended_at DOUBLE PRECISION NOT NULL, queue TEXT NOT NULL, PRIMARY KEY (agent_id, started_at))",
    "CREATE INDEX IF NOT EXISTS agent_spans_ended ON agent_spans (ended_at)",
    "CREATE TABLE IF NOT EXISTS queue_buckets (queue TEXT NOT NULL, kind TEXT NOT NULL, start DOUBLE PRECISION NOT NULL, "
    + ", ".join(f"{name} {'DOUBLE PRECISION' if name.endswith('_s') else 'INTEGER'} NOT NULL DEFAULT 0" for name in SUMS)
    + ", PRIMARY KEY (queue, kind, start))",
    "CREATE INDEX IF NOT EXISTS queue_buckets_start ON queue_buckets (start)",
)


def _bump(sql: Sql, queue: str, kind: str, start: float, sums: QueueSums) -> None:
    larger = "GREATEST" if sql.postgres else "MAX"
    sets = ", ".join(f"{n} = {larger}(queue_buckets.{n}, excluded.{n})" if n == "longest_wait_s"
                     else f"{n} = queue_buckets.{n} + excluded.{n}" for n in SUMS)
    sql.run(f"INSERT INTO queue_buckets (queue, kind, start, {', '.join(SUMS)}) "
            f"VALUES (?, ?, ?, {', '.join('?' for _ in SUMS)}) "
            f"ON CONFLICT (queue, kind, start) DO UPDATE SET {sets}",
            (queue, kind, start, *(getattr(sums, n) for n in SUMS)))


def _record_row(r: CallRecord) -> tuple[Any, ...]:
    return (r.call_id, r.queue, r.caller, r.kind, int(r.emergency), r.arrived_at, r.ended_at, r.outcome, r.agent_id,
            r.waited_s, r.talked_s, r.held_s, r.ended_by, r.rona, r.hold_overruns, json.dumps(list(r.overflowed_from)),
            int(r.callback), json.dumps([asdict(o) for o in r.offers]))


def record_of(row: Row) -> CallRecord:
    return CallRecord(
        row["call_id"], row["queue"], row["caller"], row["kind"], bool(row["emergency"]), float(row["arrived_at"]),
        float(row["ended_at"]), row["outcome"], row["agent_id"], float(row["waited_s"]), float(row["talked_s"]),
        float(row["held_s"]), row["ended_by"], int(row["rona"]), int(row["hold_overruns"]),
        tuple(json.loads(row["overflowed_from"])), bool(row["callback"]),
        tuple(Offer(**o) for o in json.loads(row["offers"])))


class HistoryStore:
    def __init__(self, db: Database, sl_threshold_s: float = 20.0) -> None:
        self.db = db
        self.sl_threshold_s = sl_threshold_s

    async def write(self, calls: Iterable[CallRecord], spans: Iterable[AgentSpan]) -> int:
        """Store what ended, in one transaction; returns how many were new."""
        calls, spans = list(calls), list(spans)

        def run(sql: Sql) -> int:
            new = 0
            for r in calls:
                if not sql.run(f"INSERT INTO call_records VALUES ({', '.join('?' for _ in range(18))}) "
                               "ON CONFLICT (call_id) DO NOTHING", _record_row(r)):
                    continue
                new += 1
                _bump(sql, r.queue, r.kind, bucket_of(r.ended_at), call_sums(r, self.sl_threshold_s))
                for offer in r.offers:
                    if offer.result == "no-answer":
                        rona = QueueSums()
                        rona.rona = 1
                        _bump(sql, r.queue, r.kind, bucket_of(offer.at + offer.rang_s), rona)
                for left in r.overflowed_from:
                    moved = QueueSums()
                    moved.overflowed = 1
                    _bump(sql, left, r.kind, bucket_of(r.ended_at), moved)
            for s in spans:
                if not sql.run("INSERT INTO agent_spans VALUES (?, ?, ?, ?, ?, ?) "
                               "ON CONFLICT (agent_id, started_at) DO NOTHING",
                               (s.agent_id, s.started_at, s.state, s.reason, s.ended_at, s.queue)):
                    continue
                new += 1
                if s.state == "wrap-up" and s.queue:
                    wrap = QueueSums()
                    wrap.wrap_s = s.ended_at - s.started_at
                    _bump(sql, s.queue, "", bucket_of(s.ended_at), wrap)
            return new
        return await self.db.do(run) if calls or spans else 0

    async def calls_since(self, since: float, limit: int = 2_000_000) -> list[CallRecord]:
        rows = await self.db.do(lambda sql: sql.rows(
            "SELECT * FROM call_records WHERE ended_at >= ? ORDER BY ended_at LIMIT ?", (since, limit)))
        return [record_of(r) for r in rows]

    async def buckets(self, since: float, until: float, by: str = "") -> list[tuple[str, str, float, QueueSums]]:
        """The buckets that start in [since, until); with ``by`` (queue, kind, all) the
        store adds them up per quarter hour and that name first (fewer rows to read)."""
        if by not in ("", "queue", "kind", "all"):
            raise ValueError(f"by {by!r}")
        if not by:
            rows = await self.db.do(lambda sql: sql.rows(
                "SELECT * FROM queue_buckets WHERE start >= ? AND start < ?", (since, until)))
        else:
            keys = {"queue": "queue, '' AS kind", "kind": "'' AS queue, kind", "all": "'' AS queue, '' AS kind"}[by]
            group = {"queue": "queue, start", "kind": "kind, start", "all": "start"}[by]
            sums = ", ".join(f"MAX({n}) AS {n}" if n == "longest_wait_s" else f"SUM({n}) AS {n}" for n in SUMS)
            rows = await self.db.do(lambda sql: sql.rows(
                f"SELECT {keys}, start, {sums} FROM queue_buckets WHERE start >= ? AND start < ? GROUP BY {group}",
                (since, until)))
        return [(r["queue"], r["kind"], float(r["start"]),
                 QueueSums(**{n: (float(r[n]) if n.endswith("_s") else int(r[n])) for n in SUMS})) for r in rows]

    async def purge(self, before: float) -> int:
        """Forget what ended before ``before`` (the record's retention)."""
        def run(sql: Sql) -> int:
            n = sql.run("DELETE FROM call_records WHERE ended_at < ?", (before,))
            n += sql.run("DELETE FROM agent_spans WHERE ended_at < ?", (before,))
            return n + sql.run("DELETE FROM queue_buckets WHERE start < ?", (bucket_of(before),))
        return await self.db.do(run)
