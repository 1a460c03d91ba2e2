"""R18: where inspections are kept, the same tables and queries on SQLite and PostgreSQL
(``cti.store.sql``), and what sampling reads: the record of calls (``call_records``),
the dispositions (a complaint's) and R17's ``surveys`` table, the
callers' scores (without it: no scores, so no low-score trigger).

One row per inspected call (a call is inspected once). A step is written only if the
inspection is still in the status the step starts from: two steps at once, one wins,
the other is told (409)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cti.store.sql import MAX_READ_ROWS, Database, Row, Sql, bounded
from reports.quality import CallFacts, Result

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS inspections (call_id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, queue TEXT, "
    "kind TEXT, ended_at DOUBLE PRECISION NOT NULL, reason TEXT NOT NULL, status TEXT NOT NULL, "
    "sampled_at DOUBLE PRECISION NOT NULL, sampled_by TEXT NOT NULL, form TEXT, marks TEXT, "
    "score DOUBLE PRECISION, critical_failed TEXT, items TEXT, sections TEXT, comments TEXT, "
    "inspector TEXT, scored_at DOUBLE PRECISION, reply TEXT, replied_at DOUBLE PRECISION, "
    "resolution TEXT, resolved_by TEXT, resolved_at DOUBLE PRECISION, updated_at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS inspections_agent ON inspections (agent_id, status)",
    "CREATE INDEX IF NOT EXISTS inspections_status ON inspections (status, sampled_at)",
    "CREATE INDEX IF NOT EXISTS inspections_scored ON inspections (scored_at)",
    # the sampling key (random, made once): the same calls on every run and every leader
    "CREATE TABLE IF NOT EXISTS quality_key (id INTEGER PRIMARY KEY, key TEXT NOT NULL)",
)
JSON_COLUMNS = ("marks", "critical_failed", "items", "sections", "comments")


@dataclass(frozen=True, slots=True)
class Picked:
    """A call chosen for inspection, as the record has it."""

    call_id: str
    agent_id: str
    queue: str
    kind: str
    ended_at: float
    reason: str


def _doc(row: Row) -> dict[str, Any]:
    doc = dict(row)
    for column in JSON_COLUMNS:
        doc[column] = json.loads(row[column]) if row[column] is not None else None
    return doc


class QualityStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def key(self) -> bytes:
        """The sampling key, made at the first use."""
        def run(sql: Sql) -> bytes:
            sql.run("INSERT INTO quality_key (id, key) VALUES (1, ?) ON CONFLICT (id) DO NOTHING",
                    (secrets.token_hex(32),))
            return bytes.fromhex(sql.rows("SELECT key FROM quality_key WHERE id = 1")[0]["key"])
        return await self.db.do(run)

    async def facts(self, since: float, until: float) -> list[tuple[CallFacts, str, float]]:
        """(facts, queue, ended) of the calls answered by an agent that ended in
        [since, until): kind (a complaint by the call's kind or its disposition), hold
        overruns, RONA, the lowest survey score (R17's surveys)."""
        return await self.db.read(lambda sql: read_facts(sql, since, until))

    async def sampled_between(self, since: float, until: float) -> set[str]:
        """Calls of [since, until) sampled by the rules (not manual picks)."""
        rows = await self.db.do(lambda sql: sql.rows(
            "SELECT call_id FROM inspections WHERE ended_at >= ? AND ended_at < ? AND reason <> 'manual'",
            (since, until)))
        return {r["call_id"] for r in rows}

    async def add(self, picked: Iterable[Picked], now: float, who: str) -> list[str]:
        """Store new inspections (pending); a call already inspected is left as it is.
        Answers the call ids added."""
        picked = list(picked)

        def run(sql: Sql) -> list[str]:
            added = []
            for p in picked:
                if sql.run("INSERT INTO inspections (call_id, agent_id, queue, kind, ended_at, reason, status, "
                           "sampled_at, sampled_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?) "
                           "ON CONFLICT (call_id) DO NOTHING",
                           (p.call_id, p.agent_id, p.queue, p.kind, p.ended_at, p.reason, now, who, now)):
                    added.append(p.call_id)
            return added
        return await self.db.do(run) if picked else []

    async def call(self, call_id: str) -> Picked | None:
        """An answered call of the record, to pick by hand."""
        rows = await self.db.do(lambda sql: sql.rows(
            "SELECT call_id, agent_id, queue, kind, ended_at FROM call_records WHERE call_id = ? "
            "AND outcome = 'handled' AND agent_id IS NOT NULL", (call_id,)))
        if not rows:
            return None
        r = rows[0]
        return Picked(r["call_id"], r["agent_id"], r["queue"], r["kind"], float(r["ended_at"]), "manual")

    async def get(self, call_id: str) -> dict[str, Any] | None:
        rows = await self.db.do(lambda sql: sql.rows("SELECT * FROM inspections WHERE call_id = ?", (call_id,)))
        return _doc(rows[0]) if rows else None

    async def step(self, call_id: str, expected: str, changes: dict[str, Any]) -> bool:
        """Write ``changes`` if the inspection is still ``expected`` (JSON columns given
        as values are written as JSON)."""
        names = sorted(changes)
        values = [json.dumps(changes[n], ensure_ascii=False) if n in JSON_COLUMNS else changes[n] for n in names]
        statement = (f"UPDATE inspections SET {', '.join(f'{n} = ?' for n in names)} "
                     "WHERE call_id = ? AND status = ?")
        return await self.db.do(lambda sql: sql.run(statement, (*values, call_id, expected)) == 1)

    async def search(self, status: str | None = None, agent_id: str | None = None, limit: int = 200,
                     offset: int = 0) -> list[dict[str, Any]]:
        where, params = ["1 = 1"], []
        for column, value in (("status", status), ("agent_id", agent_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        statement = (f"SELECT * FROM inspections WHERE {' AND '.join(where)} "
                     "ORDER BY sampled_at DESC, call_id LIMIT ? OFFSET ?")
        return [_doc(r) for r in await self.db.do(lambda sql: sql.rows(statement, (*params, limit, offset)))]

    async def of_agent(self, agent_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """An agent's scored inspections, newest first (pending ones are not shown to it)."""
        rows = await self.db.do(lambda sql: sql.rows(
            "SELECT * FROM inspections WHERE agent_id = ? AND status <> 'pending' ORDER BY scored_at DESC "
            "LIMIT ?", (agent_id, limit)))
        return [_doc(r) for r in rows]

    async def scored_between(self, since: float, until: float) -> list[dict[str, Any]]:
        """The inspections scored in [since, until) (reports)."""
        rows = await self.db.read(lambda sql: bounded(sql.rows(
            "SELECT * FROM inspections WHERE scored_at >= ? AND scored_at < ? AND status <> 'pending' LIMIT ?",
            (since, until, MAX_READ_ROWS + 1)), what="inspections"))
        return [_doc(r) for r in rows]

    async def context(self, call_id: str) -> dict[str, Any]:
        """What the inspector sees beside the recording: the call's record, its
        dispositions and its work orders."""
        def run(sql: Sql) -> dict[str, Any]:
            record = sql.rows("SELECT call_id, queue, caller, kind, emergency, arrived_at, ended_at, outcome, "
                              "agent_id, waited_s, talked_s, held_s, ended_by, rona, hold_overruns FROM call_records "
                              "WHERE call_id = ?", (call_id,))
            dispositions = sql.rows("SELECT agent_id, kind, fields, at, order_id FROM dispositions "
                                    "WHERE call_id = ? ORDER BY at", (call_id,))
            orders = sql.rows("SELECT order_id, kind, department, status, urgency, region, fields, created_at, "
                              "due_at, closed_at FROM work_orders WHERE call_id = ? ORDER BY created_at", (call_id,))
            for row in (*dispositions, *orders):
                row["fields"] = json.loads(row["fields"])
            return {"record": record[0] if record else None, "dispositions": dispositions, "work_orders": orders}
        return await self.db.do(run)

    async def purge(self, before: float) -> int:
        """R5: inspections of calls that ended before ``before``."""
        return int(await self.db.do(lambda sql: sql.run("DELETE FROM inspections WHERE ended_at < ?", (before,))))


def read_facts(sql: Sql, since: float, until: float) -> list[tuple[CallFacts, str, float]]:
    rows = bounded(sql.rows(
        "SELECT r.call_id, r.agent_id, r.queue, r.kind, r.ended_at, r.rona, r.hold_overruns, "
        "(SELECT COUNT(*) FROM dispositions d WHERE d.call_id = r.call_id AND d.kind = 'complaint') AS complained "
        "FROM call_records r WHERE r.ended_at >= ? AND r.ended_at < ? AND r.outcome = 'handled' "
        "AND r.agent_id IS NOT NULL ORDER BY r.ended_at LIMIT ?", (since, until, MAX_READ_ROWS + 1)))
    scores = _survey_scores(sql, since, until)
    return [(CallFacts(r["call_id"], r["agent_id"], "complaint" if int(r["complained"]) else r["kind"],
                       int(r["hold_overruns"]), int(r["rona"]), scores.get(r["call_id"])),
             r["queue"], float(r["ended_at"])) for r in rows]


def _survey_scores(sql: Sql, since: float, until: float) -> dict[str, int]:
    """R17's survey scores (the lowest per call: the caller's keyed one, a return visit's)
    of the calls that ended in [since, until) (a survey follows its call: those only, not
    every survey since, which a LIMIT would cut at random)."""
    rows = bounded(sql.rows(
        "SELECT call_id, MIN(score) AS score FROM surveys WHERE score IS NOT NULL AND call_id IN "
        "(SELECT r.call_id FROM call_records r WHERE r.ended_at >= ? AND r.ended_at < ? AND r.outcome = 'handled') "
        "GROUP BY call_id LIMIT ?", (since, until, MAX_READ_ROWS + 1)), MAX_READ_ROWS, "survey scores")
    return {r["call_id"]: int(r["score"]) for r in rows}


def read_scored(sql: Sql, since: float, until: float) -> list[tuple[str, Result, bool]]:
    """(agent, result, disputed) of the inspections scored in [since, until), for the
    appraisal report (a report process's read-only connection): disputed as in
    ``Quality.report``, the agent replied and disputed it (open or resolved)."""
    rows = bounded(sql.rows("SELECT agent_id, score, critical_failed, status, reply FROM inspections "
                            "WHERE scored_at >= ? AND scored_at < ? AND status <> 'pending' LIMIT ?",
                            (since, until, MAX_READ_ROWS + 1)), MAX_READ_ROWS, "inspections")
    return [(r["agent_id"], Result(float(r["score"]), tuple(json.loads(r["critical_failed"] or "[]")), {}, {}),
             r["reply"] is not None and r["status"] in ("disputed", "resolved")) for r in rows]
