"""R17: the surveys in the store (SQLite or PostgreSQL, the record's), one row each.

``surveys``: the keypad survey after a call (``source`` "call", from the core's
``SurveyAnswered``) and a return visit's answers (``source`` "visit", written with the
visit's disposition, ``cti.orders``): who took the call, its queue and kind, the score
(NULL: no response), whether the problem was solved (NULL: not asked) and a comment.
A row already stored (the same call and source, written again after a restart) is kept
as it was. Rows are purged with the call records (``HistoryStore.purge``).

The department is read, not kept: for a return visit the visited order's, else that of
the order the call became (a call that became several: the first by name), "" when none.
"""

from __future__ import annotations

from collections.abc import Iterable

from acd import commands as c
from cti.store.sql import MAX_READ_ROWS, Sql, bounded
from reports.satisfaction import Answer, Survey

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS surveys (call_id TEXT NOT NULL, source TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, "
    "agent_id TEXT NOT NULL, queue TEXT NOT NULL, kind TEXT NOT NULL, score INTEGER, solved INTEGER, comment TEXT, "
    "order_id TEXT, PRIMARY KEY (call_id, source))",
    "CREATE INDEX IF NOT EXISTS surveys_at ON surveys (at)",
)
COMMENT_MAX = 1000


def of_notice(cmd: c.SurveyAnswered) -> Survey:
    return Survey(cmd.call_id, cmd.at, cmd.agent_id, cmd.queue, cmd.kind, "call", Answer(cmd.score))


def write(sql: Sql, surveys: Iterable[Survey], order_id: str | None = None, replace: bool = False) -> int:
    """In the caller's transaction; returns how many were new (``replace``: a row
    already there takes the new answers: a return visit's disposition corrected)."""
    new = 0
    on_conflict = ("DO UPDATE SET at = excluded.at, agent_id = excluded.agent_id, score = excluded.score, "
                   "solved = excluded.solved, comment = excluded.comment") if replace else "DO NOTHING"
    for s in surveys:
        solved = None if s.answer.solved is None else int(s.answer.solved)
        new += sql.run("INSERT INTO surveys (call_id, source, at, agent_id, queue, kind, score, solved, comment, "
                       f"order_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (call_id, source) {on_conflict}",
                       (s.call_id, s.source, s.at, s.agent_id, s.queue, s.kind, s.answer.score, solved,
                        s.comment[:COMMENT_MAX] or None, order_id))
    return new


def write_visit(sql: Sql, survey: Survey) -> None:
    """A return visit's answers, in its disposition's transaction, linked to the work
    order it visits (its department)."""
    found = sql.rows("SELECT order_id FROM outbound_entries WHERE call_id = ? AND order_id IS NOT NULL LIMIT 1",
                     (survey.call_id,))
    write(sql, [survey], found[0]["order_id"] if found else None, replace=True)


def purge(sql: Sql, before: float) -> int:
    return sql.run("DELETE FROM surveys WHERE at < ?", (before,))


def read_surveys(sql: Sql, since: float, until: float, limit: int = MAX_READ_ROWS,
                 departments: bool = True) -> list[Survey]:
    """The surveys that ended in [since, until), oldest first, with their department
    (unless not ``departments``: a store without work orders)."""
    department = ("COALESCE((SELECT w.department FROM work_orders w WHERE w.order_id = s.order_id), "
                  "(SELECT MIN(w.department) FROM work_orders w WHERE w.call_id = s.call_id))" if departments
                  else "''")
    rows = bounded(sql.rows(
        f"SELECT s.*, {department} AS department FROM surveys s WHERE s.at >= ? AND s.at < ? ORDER BY s.at LIMIT ?",
        (since, min(until, 1e18), limit + 1)), limit)
    return [Survey(r["call_id"], float(r["at"]), r["agent_id"], r["queue"], r["kind"], r["source"],
                   Answer(None if r["score"] is None else int(r["score"]),
                          None if r["solved"] is None else bool(r["solved"])),
                   r["department"] or "", r["comment"] or "") for r in rows]
