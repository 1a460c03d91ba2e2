"""Where dispositions, work orders (with their history), return visits and the contacts
of callers are kept: the same tables and queries on SQLite and PostgreSQL
(``cti.store.sql``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cti.orders.complaints import SCHEMA as COMPLAINTS_SCHEMA
from cti.orders.lists import SCHEMA as LISTS_SCHEMA, CallLists
from cti.orders.tasks import SCHEMA as TASKS_SCHEMA
from cti.reports.surveys import SCHEMA as SURVEYS_SCHEMA
from cti.store.sql import MAX_READ_ROWS, Database, Row, Sql, bounded
from reports.departments import Order
from workorders import WorkOrder

_TABLES = COMPLAINTS_SCHEMA + SURVEYS_SCHEMA + LISTS_SCHEMA + (  # R16: complaints; R17: return visits' answers; R11
    "CREATE TABLE IF NOT EXISTS contacts (call_id TEXT PRIMARY KEY, caller TEXT NOT NULL, queue TEXT, "
    "kind TEXT, emergency INTEGER, agent_id TEXT, outcome TEXT, arrived_at DOUBLE PRECISION, "
    "ended_at DOUBLE PRECISION, waited_s DOUBLE PRECISION, talked_s DOUBLE PRECISION)",
    "CREATE INDEX IF NOT EXISTS contacts_caller ON contacts (caller, ended_at)",
    "CREATE INDEX IF NOT EXISTS contacts_ended ON contacts (ended_at)",
    "CREATE TABLE IF NOT EXISTS dispositions (call_id TEXT NOT NULL, agent_id TEXT NOT NULL, "
    "kind TEXT NOT NULL, fields TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, order_id TEXT, "
    "PRIMARY KEY (call_id, agent_id))",
    # R12: a disposition being typed, kept until it is recorded (the desk's drafts)
    "CREATE TABLE IF NOT EXISTS disposition_drafts (agent_id TEXT NOT NULL, call_id TEXT NOT NULL, "
    "draft TEXT NOT NULL, updated_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (agent_id, call_id))",
    "CREATE TABLE IF NOT EXISTS work_orders (order_id TEXT PRIMARY KEY, call_id TEXT NOT NULL, "
    "kind TEXT NOT NULL, department TEXT NOT NULL, status TEXT NOT NULL, caller TEXT, agent_id TEXT, "
    "urgency TEXT, region TEXT, fields TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, "
    "reported_at DOUBLE PRECISION, due_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION, "
    "closed_at DOUBLE PRECISION, overdue_alerted INTEGER NOT NULL DEFAULT 0, return_visit_at DOUBLE PRECISION)",
    "CREATE INDEX IF NOT EXISTS work_orders_caller ON work_orders (caller, created_at)",
    "CREATE INDEX IF NOT EXISTS work_orders_open ON work_orders (status, due_at)",
    "CREATE INDEX IF NOT EXISTS work_orders_created ON work_orders (created_at)",
    "CREATE TABLE IF NOT EXISTS work_order_history (order_id TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, "
    "status TEXT NOT NULL, who TEXT NOT NULL, note TEXT)",
    "CREATE INDEX IF NOT EXISTS work_order_history_order ON work_order_history (order_id, at)",
)
# R20: columns added to work_orders once per database (an older store gains them at start)
_MIGRATIONS: tuple[tuple[str, str], ...] = tuple(
    (f"work_orders.{column}", f"ALTER TABLE work_orders ADD COLUMN {column} {kind}") for column, kind in (
        ("channel", "TEXT NOT NULL DEFAULT 'hotline'"), ("visit_at", "DOUBLE PRECISION"),
        ("onsite_due_at", "DOUBLE PRECISION"), ("arrived_at", "DOUBLE PRECISION"),
        ("onsite_alerted", "INTEGER NOT NULL DEFAULT 0"), ("helpers", "TEXT NOT NULL DEFAULT ''"),
        ("follow_up_of", "TEXT NOT NULL DEFAULT ''"))) + (
    ("work_orders_onsite", "CREATE INDEX IF NOT EXISTS work_orders_onsite ON work_orders (status, onsite_due_at)"),
    ("work_order_history.step", "ALTER TABLE work_order_history ADD COLUMN step TEXT"))
SCHEMA: tuple[str | tuple[str, str], ...] = (*_TABLES, *TASKS_SCHEMA, *_MIGRATIONS)
_ORDER_COLUMNS = ("order_id, call_id, kind, department, status, caller, agent_id, urgency, region, fields, "
                  "created_at, reported_at, due_at, updated_at, closed_at, overdue_alerted, return_visit_at, "
                  "channel, visit_at, onsite_due_at, arrived_at, onsite_alerted, helpers, follow_up_of")
_N_COLUMNS = _ORDER_COLUMNS.count(",") + 1
OPEN = ("new", "dispatched", "accepted", "on-site")
CLOSED = ("done", "unresolved", "cancelled")


@dataclass(frozen=True, slots=True)
class Search:
    """What ``orders`` looks for; None is "any"."""

    caller: str | None = None
    kind: str | None = None
    status: str | None = None
    department: str | None = None
    channel: str | None = None
    since: float | None = None  # created at or after (epoch s)
    until: float | None = None  # created before
    overdue_at: float | None = None  # open and due before this time
    limit: int = 50
    offset: int = 0


def _order(row: Row, history: list[Row] | None = None) -> WorkOrder:
    return WorkOrder(
        row["order_id"], row["call_id"], row["kind"], row["department"], row["status"], row["created_at"],
        row["due_at"], row["agent_id"] or "", row["caller"] or "", row["reported_at"] or 0.0,
        json.loads(row["fields"]), row["updated_at"] or 0.0, row["closed_at"], bool(row["overdue_alerted"]),
        row["return_visit_at"], history or [], row["channel"], row["visit_at"], row["onsite_due_at"],
        row["arrived_at"], bool(row["onsite_alerted"]), [d for d in row["helpers"].split(",") if d],
        row["follow_up_of"] or "",
    )


def _order_params(o: WorkOrder) -> tuple[Any, ...]:
    return (o.order_id, o.call_id, o.kind, o.department, o.status, o.caller, o.agent_id, o.urgency, o.region,
            json.dumps(o.fields, ensure_ascii=False), o.created_at, o.reported_at, o.due_at, o.updated_at,
            o.closed_at, int(o.overdue_alerted), o.return_visit_at, o.channel, o.visit_at, o.onsite_due_at,
            o.arrived_at, int(o.onsite_alerted), _helpers(o), o.follow_up_of)


def _helpers(o: WorkOrder) -> str:
    """``,a,b,``: a department found with ``LIKE '%,name,%'`` (names hold no comma)."""
    return f",{','.join(o.helpers)}," if o.helpers else ""


class WorkOrderStore(CallLists):
    """Dispositions, work orders and their history, the contacts of callers; the lists
    of customers to call (``CallLists``)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------ contacts

    async def add_contact(self, row: dict[str, Any]) -> None:
        keys = ("call_id", "caller", "queue", "kind", "emergency", "agent_id", "outcome", "arrived_at",
                "ended_at", "waited_s", "talked_s")
        await self.db.do(lambda sql: sql.run(
            f"INSERT INTO contacts ({', '.join(keys)}) VALUES ({', '.join('?' * len(keys))}) "
            "ON CONFLICT (call_id) DO NOTHING", [row[k] for k in keys]))

    async def contact(self, call_id: str) -> Row | None:
        rows = await self.db.do(lambda sql: sql.rows("SELECT * FROM contacts WHERE call_id = ?", (call_id,)))
        return rows[0] if rows else None

    async def contacts(self, caller: str, since: float, limit: int = 10) -> list[Row]:
        """The caller's recent contacts, newest first (R10)."""
        return await self.db.do(lambda sql: sql.rows(
            "SELECT * FROM contacts WHERE caller = ? AND ended_at >= ? ORDER BY ended_at DESC LIMIT ?",
            (caller, since, limit)))

    # ------------------------------------------------------------ dispositions and orders

    async def record(self, disposition: dict[str, Any], order: WorkOrder | None,
                     with_order: Callable[[Sql], None] | None = None,
                     also: Callable[[Sql], None] | None = None) -> str | None:
        """A disposition, and the order it became, in one transaction; ``with_order``
        writes what goes with a new order (R16: its complaint) in the same transaction,
        ``also`` what goes with the disposition (R17: a return visit's answers).
        Two dispositions of one call at once make one order: the second finds the
        first's (PostgreSQL: a transaction lock on the call and agent; SQLite's writer is
        one at a time). Returns the order id the disposition holds."""
        call_id, agent_id = disposition["call_id"], disposition["agent_id"]

        def run(sql: Sql) -> str | None:
            if self.db.postgres:
                sql.run("SELECT pg_advisory_xact_lock(hashtext(?))", (f"disposition {call_id} {agent_id}",))
            found = sql.rows("SELECT order_id FROM dispositions WHERE call_id = ? AND agent_id = ?", (call_id, agent_id))
            linked = found[0]["order_id"] if found else None
            if order is not None and linked is None:
                insert(sql, order)
                if with_order is not None:
                    with_order(sql)
                linked = order.order_id
            sql.run("DELETE FROM disposition_drafts WHERE agent_id = ? AND call_id = ?",  # recorded: no draft
                    (agent_id, call_id))
            if also is not None:
                also(sql)
            sql.run("INSERT INTO dispositions (call_id, agent_id, kind, fields, at, order_id) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (call_id, agent_id) DO UPDATE SET kind = excluded.kind, fields = excluded.fields, "
                    "at = excluded.at, order_id = COALESCE(excluded.order_id, dispositions.order_id)",
                    (call_id, agent_id, disposition["kind"], json.dumps(disposition["fields"], ensure_ascii=False),
                     disposition["at"], linked))
            return linked
        return await self.db.do(run)

    async def keep_draft(self, agent_id: str, call_id: str, draft: dict[str, Any], now: float,
                         keep: int, max_age_s: float) -> None:
        """The agent's draft of a call's disposition; its ``keep`` newest are kept, none
        older than ``max_age_s``."""
        def run(sql: Sql) -> None:
            sql.run("INSERT INTO disposition_drafts (agent_id, call_id, draft, updated_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (agent_id, call_id) DO UPDATE SET draft = excluded.draft, "
                    "updated_at = excluded.updated_at", (agent_id, call_id, json.dumps(draft, ensure_ascii=False), now))
            sql.run("DELETE FROM disposition_drafts WHERE agent_id = ? AND (updated_at < ? OR call_id NOT IN ("
                    "SELECT call_id FROM disposition_drafts WHERE agent_id = ? ORDER BY updated_at DESC LIMIT ?))",
                    (agent_id, now - max_age_s, agent_id, keep))
        await self.db.do(run)

    async def drafts(self, agent_id: str, since: float) -> list[dict[str, Any]]:
        rows = await self.db.do(lambda sql: sql.rows(
            "SELECT call_id, draft, updated_at FROM disposition_drafts WHERE agent_id = ? AND updated_at >= ? "
            "ORDER BY updated_at DESC LIMIT 100", (agent_id, since)))
        return [{**json.loads(r["draft"]), "call_id": r["call_id"], "at": float(r["updated_at"])} for r in rows]

    async def purge_drafts(self, before: float) -> int:
        """Drafts not touched since ``before`` (an agent who left keeps none)."""
        return int(await self.db.do(lambda sql: sql.run(
            "DELETE FROM disposition_drafts WHERE updated_at < ?", (before,))))

    async def drop_draft(self, agent_id: str, call_id: str) -> None:
        await self.db.do(lambda sql: sql.run(
            "DELETE FROM disposition_drafts WHERE agent_id = ? AND call_id = ?", (agent_id, call_id)))

    async def disposition(self, call_id: str, agent_id: str) -> Row | None:
        rows = await self.db.do(lambda sql: sql.rows(
            "SELECT * FROM dispositions WHERE call_id = ? AND agent_id = ?", (call_id, agent_id)))
        if not rows:
            return None
        return {**rows[0], "fields": json.loads(rows[0]["fields"])}

    async def update(self, order: WorkOrder, expected_status: str, expected_at: float,
                     with_update: Callable[[Sql], None] | None = None) -> bool:
        """Save ``order`` and its newest history entry if it is still as it was read
        (``expected_status``, updated at ``expected_at``: two updates at once, one wins,
        the other is told); ``with_update`` writes what goes with it in the same
        transaction (R20: the owner's task, the follow-up order)."""
        def run(sql: Sql) -> bool:
            changed = sql.run(
                "UPDATE work_orders SET status = ?, updated_at = ?, closed_at = ?, overdue_alerted = ?, "
                "return_visit_at = ?, department = ?, due_at = ?, visit_at = ?, arrived_at = ?, onsite_alerted = ?, "
                "helpers = ? WHERE order_id = ? AND status = ? AND updated_at = ?",
                (order.status, order.updated_at, order.closed_at, int(order.overdue_alerted),
                 order.return_visit_at, order.department, order.due_at, order.visit_at, order.arrived_at,
                 int(order.onsite_alerted), _helpers(order), order.order_id, expected_status, expected_at))
            if changed != 1:
                return False
            _history(sql, order)
            if with_update is not None:
                with_update(sql)
            if order.return_visit_at is not None:
                sql.run("INSERT INTO outbound_entries (entry_id, campaign_id, order_id, caller, name, due_at, "
                        "created_at, status) VALUES (?, 'return-visits', ?, ?, ?, ?, ?, 'scheduled') "
                        "ON CONFLICT (entry_id) DO NOTHING",
                        (order.order_id, order.order_id, order.caller, order.fields.get("customer_name", ""),
                         order.return_visit_at, order.updated_at))
            return True
        return await self.db.do(run)

    async def get(self, order_id: str) -> WorkOrder | None:
        def run(sql: Sql) -> WorkOrder | None:
            rows = sql.rows(f"SELECT {_ORDER_COLUMNS} FROM work_orders WHERE order_id = ?", (order_id,))
            if not rows:
                return None
            history = [{k: v for k, v in h.items() if v is not None} for h in sql.rows(
                "SELECT at, status, who, note, step FROM work_order_history WHERE order_id = ? ORDER BY at, status",
                (order_id,))]
            return _order(rows[0], history)
        return await self.db.do(run)

    async def orders(self, q: Search) -> list[WorkOrder]:
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        for column, value in (("caller", q.caller), ("kind", q.kind), ("status", q.status), ("channel", q.channel)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if q.department is not None:  # responsible for it, or helping (R20)
            where.append("(department = ? OR helpers LIKE ?)")
            params += [q.department, f"%,{q.department},%"]
        if q.since is not None:
            where.append("created_at >= ?")
            params.append(q.since)
        if q.until is not None:
            where.append("created_at < ?")
            params.append(q.until)
        if q.overdue_at is not None:
            where.append(f"status IN ({', '.join('?' * len(OPEN))}) AND due_at <= ?")
            params += [*OPEN, q.overdue_at]
        statement = (f"SELECT {_ORDER_COLUMNS} FROM work_orders WHERE {' AND '.join(where)} "
                     "ORDER BY created_at DESC, order_id LIMIT ? OFFSET ?")
        rows = await self.db.do(lambda sql: sql.rows(statement, [*params, q.limit, q.offset]))
        return [_order(r) for r in rows]

    async def open_orders(self, caller: str, limit: int = 10) -> list[WorkOrder]:
        rows = await self.db.do(lambda sql: sql.rows(
            f"SELECT {_ORDER_COLUMNS} FROM work_orders WHERE caller = ? AND status IN "
            f"({', '.join('?' * len(OPEN))}) ORDER BY created_at DESC LIMIT ?", (caller, *OPEN, limit)))
        return [_order(r) for r in rows]

    async def newly_overdue(self, now: float, limit: int = 500) -> list[WorkOrder]:
        """Open orders past due and not alerted yet, marked alerted in the same step."""
        def run(sql: Sql) -> list[WorkOrder]:
            rows = sql.rows(
                f"SELECT {_ORDER_COLUMNS} FROM work_orders WHERE status IN ({', '.join('?' * len(OPEN))}) "
                "AND due_at <= ? AND overdue_alerted = 0 ORDER BY due_at LIMIT ?", (*OPEN, now, limit))
            sql.many("UPDATE work_orders SET overdue_alerted = 1 WHERE order_id = ?",
                     [(r["order_id"],) for r in rows])
            return [_order(r) for r in rows]
        return await self.db.do(run)

    async def newly_late_on_site(self, now: float, limit: int = 500) -> list[WorkOrder]:
        """R20: open orders whose crew was due on site by ``now`` and has not arrived, not
        alerted yet, marked alerted in the same step."""
        def run(sql: Sql) -> list[WorkOrder]:
            rows = sql.rows(
                f"SELECT {_ORDER_COLUMNS} FROM work_orders WHERE status IN ({', '.join('?' * len(OPEN))}) "
                "AND onsite_due_at <= ? AND arrived_at IS NULL AND onsite_alerted = 0 ORDER BY onsite_due_at LIMIT ?",
                (*OPEN, now, limit))
            sql.many("UPDATE work_orders SET onsite_alerted = 1 WHERE order_id = ?", [(r["order_id"],) for r in rows])
            return [_order(r) for r in rows]
        return await self.db.do(run)

    async def create(self, order: WorkOrder, with_order: Callable[[Sql], None] | None = None) -> None:
        """R20: an order that no call's disposition made (the hall, the website, a letter)."""
        def run(sql: Sql) -> None:
            insert(sql, order)
            if with_order is not None:
                with_order(sql)
        await self.db.do(run)

    async def count_overdue(self, now: float) -> int:
        rows = await self.db.do(lambda sql: sql.rows(
            f"SELECT COUNT(*) AS n FROM work_orders WHERE status IN ({', '.join('?' * len(OPEN))}) "
            "AND due_at <= ?", (*OPEN, now)))
        return int(rows[0]["n"])

    async def undispatched(self, limit: int = 1000) -> list[WorkOrder]:
        rows = await self.db.do(lambda sql: sql.rows(
            f"SELECT {_ORDER_COLUMNS} FROM work_orders WHERE status = 'new' ORDER BY created_at LIMIT ?",
            (limit,)))
        return [_order(r) for r in rows]

    async def dispositions_between(self, since: float, until: float) -> list[tuple[str, float, str]]:
        """(agent, when, kind) of the dispositions recorded in [since, until) (R13)."""
        return await self.db.read(lambda sql: read_dispositions(sql, since, until))

    async def orders_between(self, since: float, until: float) -> list[Order]:
        """(department, kind, status, created, closed, due) of the orders made in
        [since, until) (R13 department reports)."""
        return await self.db.read(lambda sql: read_orders(sql, since, until))

    async def purge(self, before: float) -> int:
        """R5: forget what ended before ``before``: closed orders (and their history,
        dispositions and return visits) and contacts. Open orders stay."""
        def run(sql: Sql) -> int:
            ids = [r["order_id"] for r in sql.rows(
                "SELECT order_id FROM work_orders WHERE status IN ('done', 'unresolved', 'cancelled') AND closed_at < ?",
                (before,))]
            for table in ("work_order_history", "outbound_entries", "order_tasks", "work_orders"):
                sql.many(f"DELETE FROM {table} WHERE order_id = ?", [(i,) for i in ids])
            sql.run("DELETE FROM dispositions WHERE at < ? AND (order_id IS NULL OR order_id NOT IN "
                    "(SELECT order_id FROM work_orders))", (before,))
            return len(ids) + sql.run("DELETE FROM contacts WHERE ended_at < ?", (before,))
        return await self.db.do(run)


def insert(sql: Sql, order: WorkOrder) -> None:
    """A new order and its first history entry."""
    sql.run(f"INSERT INTO work_orders ({_ORDER_COLUMNS}) VALUES ({', '.join('?' * _N_COLUMNS)})", _order_params(order))
    _history(sql, order)


def _history(sql: Sql, order: WorkOrder) -> None:
    if order.history:
        h = order.history[-1]
        sql.run("INSERT INTO work_order_history (order_id, at, status, who, note, step) VALUES (?, ?, ?, ?, ?, ?)",
                (order.order_id, h["at"], h["status"], h["who"], h.get("note") or "", h.get("step")))


# Reads for reports, on one (read-only) connection (the store's readers or a report process's).


def read_dispositions(sql: Sql, since: float, until: float) -> list[tuple[str, float, str]]:
    rows = bounded(sql.rows("SELECT agent_id, at, kind FROM dispositions WHERE at >= ? AND at < ? LIMIT ?",
                            (since, until, MAX_READ_ROWS + 1)))
    return [(r["agent_id"], float(r["at"]), r["kind"]) for r in rows]


def read_orders(sql: Sql, since: float, until: float) -> list[Order]:
    rows = bounded(sql.rows("SELECT department, kind, status, created_at, closed_at, due_at, channel FROM work_orders "
                            "WHERE created_at >= ? AND created_at < ? LIMIT ?", (since, until, MAX_READ_ROWS + 1)))
    return [(r["department"], r["kind"], r["status"], float(r["created_at"]),
             None if r["closed_at"] is None else float(r["closed_at"]), float(r["due_at"]), r["channel"]) for r in rows]
