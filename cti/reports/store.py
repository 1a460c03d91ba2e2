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

from cti.reports import surveys as survey_rows
from cti.store.sql import MAX_READ_ROWS, Database, Row, Sql, bounded
from reports.agents import CallRow, CallSums, TimeRow, call_pieces, pieces
from reports.intervals import QueueSums, bucket_of, call_sums
from reports.records import AgentSpan, CallRecord, Offer, Transfer
from reports.satisfaction import Survey

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
    "CREATE TABLE IF NOT EXISTS agent_time (agent_id TEXT NOT NULL, start DOUBLE PRECISION NOT NULL, "
    "state TEXT NOT NULL, reason TEXT NOT NULL, seconds DOUBLE PRECISION NOT NULL, "
    "PRIMARY KEY (agent_id, start, state, reason))",
    "CREATE INDEX IF NOT EXISTS agent_time_start ON agent_time (start)",
    "CREATE TABLE IF NOT EXISTS agent_calls (agent_id TEXT NOT NULL, start DOUBLE PRECISION NOT NULL, "
    "answered INTEGER NOT NULL, talk_s DOUBLE PRECISION NOT NULL, hold_s DOUBLE PRECISION NOT NULL, "
    "rona INTEGER NOT NULL, hold_overruns INTEGER NOT NULL, PRIMARY KEY (agent_id, start))",
    "CREATE INDEX IF NOT EXISTS agent_calls_start ON agent_calls (start)",
    "CREATE TABLE IF NOT EXISTS call_transfers (call_id TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, "
    "agent_id TEXT NOT NULL, to_kind TEXT NOT NULL, target TEXT NOT NULL, attended INTEGER NOT NULL, "
    "talked_s DOUBLE PRECISION NOT NULL, held_s DOUBLE PRECISION NOT NULL, PRIMARY KEY (call_id, at, agent_id))",
    *survey_rows.SCHEMA,  # R17
)


def _agent_call(sql: Sql, agent: str, start: float, s: CallSums) -> None:
    sql.run("INSERT INTO agent_calls VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id, start) DO UPDATE SET "
            "answered = agent_calls.answered + excluded.answered, talk_s = agent_calls.talk_s + excluded.talk_s, "
            "hold_s = agent_calls.hold_s + excluded.hold_s, rona = agent_calls.rona + excluded.rona, "
            "hold_overruns = agent_calls.hold_overruns + excluded.hold_overruns",
            (agent, start, s.answered, s.talk_s, s.hold_s, s.rona, s.hold_overruns))


def _agent_time(sql: Sql, s: AgentSpan) -> None:
    for start, seconds in pieces(s):
        sql.run("INSERT INTO agent_time VALUES (?, ?, ?, ?, ?) ON CONFLICT (agent_id, start, state, reason) "
                "DO UPDATE SET seconds = agent_time.seconds + excluded.seconds",
                (s.agent_id, start, s.state, s.reason or "", seconds))


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
            r.waited_s, r.talked_s, r.held_s, r.ended_by, r.rona, r.hold_overruns, json.dumps([list(x) for x in zip(r.overflowed_from, r.overflowed_at, strict=False)]),
            int(r.callback), json.dumps([asdict(o) for o in r.offers]))


def _sums(row: Row) -> QueueSums:
    sums = QueueSums()
    for n in SUMS:
        setattr(sums, n, float(row[n]) if n.endswith("_s") else int(row[n]))
    return sums


def record_of(row: Row, transfers: tuple[Transfer, ...] = ()) -> CallRecord:
    moves = json.loads(row["overflowed_from"])  # [[queue, when], ...]
    return CallRecord(
        row["call_id"], row["queue"], row["caller"], row["kind"], bool(row["emergency"]), float(row["arrived_at"]),
        float(row["ended_at"]), row["outcome"], row["agent_id"], float(row["waited_s"]), float(row["talked_s"]),
        float(row["held_s"]), row["ended_by"], int(row["rona"]), int(row["hold_overruns"]),
        tuple(str(q) for q, _ in moves), bool(row["callback"]),
        tuple(Offer(**o) for o in json.loads(row["offers"])), tuple(float(t) for _, t in moves), transfers)


class HistoryStore:
    def __init__(self, db: Database, sl_threshold_s: float = 20.0) -> None:
        self.db = db
        self.sl_threshold_s = sl_threshold_s

    async def write(self, calls: Iterable[CallRecord], spans: Iterable[AgentSpan],
                    surveys: Iterable[Survey] = ()) -> int:
        """Store what ended (R17: and the surveys), in one transaction; returns how many
        were new."""
        calls, spans, surveys = list(calls), list(spans), list(surveys)

        def run(sql: Sql) -> int:
            new = survey_rows.write(sql, surveys)
            for r in calls:
                if not sql.run(f"INSERT INTO call_records VALUES ({', '.join('?' for _ in range(18))}) "
                               "ON CONFLICT (call_id) DO NOTHING", _record_row(r)):
                    continue
                new += 1
                for t in r.transfers:
                    sql.run("INSERT INTO call_transfers VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                            (r.call_id, t.at, t.agent_id, t.to, t.target, int(t.attended), t.talked_s, t.held_s))
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
                for agent, start, sums in call_pieces(r):
                    _agent_call(sql, agent, start, sums)
            for s in spans:
                if not sql.run("INSERT INTO agent_spans VALUES (?, ?, ?, ?, ?, ?) "
                               "ON CONFLICT (agent_id, started_at) DO NOTHING",
                               (s.agent_id, s.started_at, s.state, s.reason, s.ended_at, s.queue)):
                    continue
                new += 1
                _agent_time(sql, s)
                if s.state == "wrap-up" and s.queue:
                    wrap = QueueSums()
                    wrap.wrap_s = s.ended_at - s.started_at
                    _bump(sql, s.queue, "", bucket_of(s.ended_at), wrap)
            return new
        return await self.db.do(run) if calls or spans or surveys else 0

    async def calls_since(self, since: float, limit: int = 2_000_000) -> list[CallRecord]:
        return await self.calls_between(since, float("inf"), limit)

    async def calls_between(self, since: float, until: float, limit: int = MAX_READ_ROWS) -> list[CallRecord]:
        """The calls that ended in [since, until), oldest first (read on a read-only
        connection and decoded there; more than ``limit``: ``TooManyRows``)."""
        return await self.db.read(lambda sql: read_calls(sql, since, until, limit))

    async def spans_between(self, since: float, until: float) -> list[AgentSpan]:
        """The agents' state spans that overlap [since, until)."""
        return await self.db.read(lambda sql: read_spans(sql, since, until))

    async def buckets(self, since: float, until: float, by: str = "") -> list[tuple[str, str, float, QueueSums]]:
        """The buckets that start in [since, until); with ``by`` (queue, kind, all) the
        store adds them up per quarter hour and that name first (fewer rows to read)."""
        if by not in ("", "queue", "kind", "all"):
            raise ValueError(f"by {by!r}")
        return await self.db.read(lambda sql: read_buckets(sql, since, until, by))

    async def surveys_between(self, since: float, until: float, departments: bool = True) -> list[Survey]:
        """R17: the surveys that ended in [since, until) (with their departments)."""
        return await self.db.read(lambda sql: survey_rows.read_surveys(sql, since, until, departments=departments))

    async def agent_buckets(self, since: float, until: float) -> tuple[list[TimeRow], list[CallRow]]:
        """The agents' quarter hours that start in [since, until)."""
        return await self.db.read(lambda sql: read_agent_buckets(sql, since, until))

    async def purge(self, before: float) -> int:
        """Forget what ended before ``before`` (the record's retention)."""
        def run(sql: Sql) -> int:
            n = sql.run("DELETE FROM call_records WHERE ended_at < ?", (before,))
            n += sql.run("DELETE FROM agent_spans WHERE ended_at < ?", (before,))
            n += survey_rows.purge(sql, before)
            n += sql.run("DELETE FROM call_transfers WHERE call_id NOT IN (SELECT call_id FROM call_records)")
            for table in ("queue_buckets", "agent_time", "agent_calls"):
                n += sql.run(f"DELETE FROM {table} WHERE start < ?", (bucket_of(before),))
            return n
        return await self.db.do(run)


# The record's reads, on one (read-only) connection: the engine's ``HistoryStore`` runs
# them on the store's readers, a report process on its own connection.


def read_calls(sql: Sql, since: float, until: float, limit: int = MAX_READ_ROWS) -> list[CallRecord]:
    until = min(until, 1e18)
    moved: dict[str, list[Transfer]] = {}
    for t in bounded(sql.rows(
            "SELECT t.* FROM call_transfers t JOIN call_records r ON r.call_id = t.call_id "
            "WHERE r.ended_at >= ? AND r.ended_at < ? ORDER BY t.at LIMIT ?", (since, until, limit + 1)), limit):
        moved.setdefault(t["call_id"], []).append(Transfer(
            t["agent_id"], float(t["at"]), t["to_kind"], t["target"], bool(t["attended"]),
            float(t["talked_s"]), float(t["held_s"])))
    return [record_of(r, tuple(moved.get(r["call_id"], ()))) for r in bounded(sql.rows(
        "SELECT * FROM call_records WHERE ended_at >= ? AND ended_at < ? ORDER BY ended_at LIMIT ?",
        (since, until, limit + 1)), limit)]


def read_spans(sql: Sql, since: float, until: float) -> list[AgentSpan]:
    return [AgentSpan(r["agent_id"], r["state"], r["reason"], float(r["started_at"]), float(r["ended_at"]), r["queue"])
            for r in bounded(sql.rows("SELECT * FROM agent_spans WHERE ended_at >= ? AND started_at < ? "
                                      "ORDER BY started_at LIMIT ?", (since, min(until, 1e18), MAX_READ_ROWS + 1)))]


def read_buckets(sql: Sql, since: float, until: float, by: str = "") -> list[tuple[str, str, float, QueueSums]]:
    if not by:
        rows = bounded(sql.rows("SELECT * FROM queue_buckets WHERE start >= ? AND start < ? LIMIT ?",
                                (since, until, MAX_READ_ROWS + 1)))
    else:
        keys = {"queue": "queue, '' AS kind", "kind": "'' AS queue, kind", "all": "'' AS queue, '' AS kind"}[by]
        group = {"queue": "queue, start", "kind": "kind, start", "all": "start"}[by]
        sums = ", ".join(f"MAX({n}) AS {n}" if n == "longest_wait_s" else f"SUM({n}) AS {n}" for n in SUMS)
        rows = bounded(sql.rows(
            f"SELECT {keys}, start, {sums} FROM queue_buckets WHERE start >= ? AND start < ? GROUP BY {group} "
            "LIMIT ?", (since, until, MAX_READ_ROWS + 1)))
    return [(r["queue"], r["kind"], float(r["start"]), _sums(r)) for r in rows]


def read_agent_buckets(sql: Sql, since: float, until: float) -> tuple[list[TimeRow], list[CallRow]]:
    times = [(r["agent_id"], float(r["start"]), r["state"], r["reason"], float(r["seconds"]))
             for r in bounded(sql.rows("SELECT * FROM agent_time WHERE start >= ? AND start < ? LIMIT ?",
                                       (since, until, MAX_READ_ROWS + 1)))]
    calls = [(r["agent_id"], float(r["start"]), CallSums(int(r["answered"]), float(r["talk_s"]),
                                                          float(r["hold_s"]), int(r["rona"]),
                                                          int(r["hold_overruns"])))
             for r in bounded(sql.rows("SELECT * FROM agent_calls WHERE start >= ? AND start < ? LIMIT ?",
                                       (since, until, MAX_READ_ROWS + 1)))]
    return times, calls
