"""R20: tasks for an order's owner (the agent who took it): when the department delays
the order, the owner is given a task to tell the customer the reason and the new due
time (R2: the agent calls the customer, the call offered to that agent first). A task
is open until the agent records it done (with what the customer said); tasks without an
owner (an order from the website or a letter) are the supervisors'. Kept and purged with
their order."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from acd.campaigns import number_to_dial
from cti.errors import Conflict, Forbidden
from cti.masking import letters_id
from cti.store.sql import Database, Row, Sql
from workorders import BadTransition, WorkOrder

audit = logging.getLogger("cti.audit")
Dial = Callable[[str, str, str], str | None]  # (call id, number, agent) -> why not, or None: queued

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS order_tasks (task_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, "
    "agent_id TEXT NOT NULL, kind TEXT NOT NULL, note TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, "
    "call_id TEXT, done_at DOUBLE PRECISION, done_by TEXT, outcome TEXT)",
    "CREATE INDEX IF NOT EXISTS order_tasks_agent ON order_tasks (agent_id, done_at)",
    "CREATE INDEX IF NOT EXISTS order_tasks_order ON order_tasks (order_id)",
)
KINDS = ("tell-delay",)
OPEN_LIMIT = 200  # an agent's open tasks listed at most


@dataclass(frozen=True, slots=True)
class Task:
    task_id: str
    order_id: str
    agent_id: str  # "" for the supervisors
    kind: str
    note: str
    created_at: float


def new_task(order_id: str, agent_id: str, kind: str, note: str, now: float) -> Task:
    return Task(letters_id("T-", upper=True), order_id, agent_id, kind, note[:1000], now)


def insert(sql: Sql, task: Task) -> None:
    sql.run("INSERT INTO order_tasks (task_id, order_id, agent_id, kind, note, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (task.task_id, task.order_id, task.agent_id, task.kind, task.note, task.created_at))


class TaskStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def open_tasks(self, agent_id: str | None) -> list[Row]:
        """Open tasks, oldest first: an agent's (``agent_id``), or all (None)."""
        where, params = ("AND agent_id = ?", (agent_id, OPEN_LIMIT)) if agent_id is not None else ("", (OPEN_LIMIT,))
        return await self.db.do(lambda sql: sql.rows(
            f"SELECT * FROM order_tasks WHERE done_at IS NULL {where} ORDER BY created_at LIMIT ?", params))

    async def get(self, task_id: str) -> Row | None:
        rows = await self.db.do(lambda sql: sql.rows("SELECT * FROM order_tasks WHERE task_id = ?", (task_id,)))
        return rows[0] if rows else None

    async def for_order(self, order_id: str) -> list[Row]:
        return await self.db.do(lambda sql: sql.rows(
            "SELECT * FROM order_tasks WHERE order_id = ? ORDER BY created_at LIMIT 100", (order_id,)))

    async def called(self, task_id: str, call_id: str) -> None:
        await self.db.do(lambda sql: sql.run("UPDATE order_tasks SET call_id = ? WHERE task_id = ?", (call_id, task_id)))

    async def done(self, task_id: str, who: str, outcome: str, now: float) -> bool:
        """Open -> done, once (False: it was done already)."""
        return await self.db.do(lambda sql: sql.run(
            "UPDATE order_tasks SET done_at = ?, done_by = ?, outcome = ? WHERE task_id = ? AND done_at IS NULL",
            (now, who, outcome, task_id)) == 1)


def purge(sql: Sql, order_ids: list[str]) -> None:
    """With their orders (R5)."""
    sql.many("DELETE FROM order_tasks WHERE order_id = ?", [(i,) for i in order_ids])


class Tasks:
    """The owner's tasks: listed, a call to the customer placed (the agent's phone first),
    recorded done."""

    def __init__(self, store: TaskStore, order: Callable[[str], Awaitable[WorkOrder | None]],
                 blocked: Callable[[], Awaitable[set[str]]], dial: Dial | None, clock: Callable[[], float]) -> None:
        self.store = store
        self._order = order
        self._blocked = blocked
        self._dial = dial
        self.clock = clock

    async def mine(self, agent_id: str | None) -> list[Row]:
        return await self.store.open_tasks(agent_id)

    async def _own(self, task_id: str, agent_id: str | None) -> Row:
        task = await self.store.get(task_id)
        if task is None:
            raise KeyError(task_id)
        if agent_id is not None and task["agent_id"] != agent_id:
            raise Forbidden(f"task {task_id} is another agent's")
        if task["done_at"] is not None:
            raise Conflict(f"task {task_id} is done")
        return task

    async def call(self, task_id: str, agent_id: str) -> str:
        """R2: the customer called from ``agent_id``'s phone (offered to it first): the
        contact number recorded, else the number the order came from; never one on the
        do-not-call list. Answers the call's id."""
        task = await self._own(task_id, None)
        if task["agent_id"] not in ("", agent_id):
            raise Forbidden(f"task {task_id} is another agent's")
        order = await self._order(task["order_id"])
        if order is None:
            raise KeyError(task_id)
        blocked = await self._blocked()
        number, why = number_to_dial((order.fields.get("contact_number", ""), order.caller), blocked.__contains__)
        if not number:
            raise BadTransition(f"task {task_id}: no number to call ({why})")
        if self._dial is None:
            raise BadTransition("calls are not placed by this engine")
        call_id = f"tk.{task_id.replace('-', '')}.{int(self.clock())}_"  # (no dash: agents' legs use them)
        refused = self._dial(call_id, number, agent_id)
        if refused is not None:
            raise BadTransition(refused)
        await self.store.called(task_id, call_id)
        audit.info("R20 task %s (order %s): call %s to the customer placed by agent %s", task_id,
                   task["order_id"], call_id, agent_id)
        return call_id

    async def done(self, task_id: str, agent_id: str | None, who: str, outcome: str) -> None:
        """Recorded done by its agent (``agent_id``) or a supervisor (None)."""
        await self._own(task_id, agent_id)
        if not await self.store.done(task_id, who, outcome[:1000], self.clock()):
            raise Conflict(f"task {task_id} is done")
        audit.info("R20 task %s done by %s", task_id, who)
