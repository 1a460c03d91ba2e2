"""The use cases of R12: record a disposition (and the work order it becomes), dispatch
orders to their department through the notification outbox, take the department's
progress reports, alert on overdue orders, keep the contacts of callers (R10), purge
with the call's record (R5).

Dispatch is at least once: the order is stored (status new) before its webhook is
queued; the webhook's entry id is derived from the order id, so a restart that queues
it again sends the same idempotency key; the order becomes *dispatched* only when the
department's system answered 2xx. Orders still new at a start are queued again.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from acd import commands as c
from cti.errors import BadRequest
from cti.notify import Notifier
from cti.orders.complaints import Complaints, ComplaintStore
from cti.orders.settings import WorkOrderSettings
from cti.orders.store import Search, WorkOrderStore, insert as insert_order
from cti.orders.tasks import insert as insert_task, new_task
from cti.store.sql import Sql
from cti.reports.surveys import write_visit
from reports.satisfaction import Answer, Survey
from workorders import FIELDS, BadDisposition, BadTransition, WorkOrder, check_disposition
from workorders.model import open_order, visit_answer
from workorders.steps import CHANNELS, PROGRESS, take

log = logging.getLogger("cti.workorders")
audit = logging.getLogger("cti.audit")
MONTH_S = 30.44 * 86400
DRAFTS_KEPT, DRAFT_MAX_AGE_S = 20, 7 * 86400.0  # an agent's drafts of dispositions: the newest, for a week


@dataclass(frozen=True, slots=True)
class Recorded:
    """A disposition, or an order from another channel, as recorded: what the customer
    records (R19) learn from."""

    at: float
    who: str  # the identity that recorded it
    agent_id: str  # the agent who handled it ("" when none did)
    kind: str
    fields: Mapping[str, str]
    caller: str  # the number the customer called from ("" for another channel, or hidden)
    call_id: str  # "" for an order from another channel
    order_id: str | None
    channel: str = "hotline"  # hotline, hall, web, letter


class WorkOrders:
    def __init__(self, settings: WorkOrderSettings, store: WorkOrderStore, notifier: Notifier | None,
                 clock: Callable[[], float] = time.time,
                 listeners: Sequence[Callable[[str, dict[str, Any]], None]] = (),
                 complaints: Complaints | None = None,
                 recorded: Sequence[Callable[[Recorded], Awaitable[None]]] = ()) -> None:
        """``listeners``: told (event, doc) of each order's change (the live pages);
        ``complaints``: R16, a complaint's disposition opens one; ``recorded``: told of
        each disposition or order recorded, after it is stored (R19: the customer's
        record); one that fails is logged and counted, the disposition stands."""
        self.settings = settings
        self.recorded = tuple(recorded)
        self.complaints = complaints
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self.departments = {d.name: d for d in settings.departments}
        self.overdue = 0  # open orders past due, as of the last check
        self.late_on_site = 0  # R20: orders alerted for a crew not on site by its deadline
        self.alerts: collections.deque[dict[str, Any]] = collections.deque(maxlen=200)
        self.created = 0
        self.errors = 0  # maintenance steps that failed (logged, tried again)
        self._contacts: collections.deque[dict[str, Any]] = collections.deque(maxlen=10_000)
        self._dispatched: collections.deque[str] = collections.deque(maxlen=10_000)
        self._wake = asyncio.Event()
        self.listeners = tuple(listeners)
        if notifier is not None:
            notifier.delivered.append(self._delivered)

    # ------------------------------------------------------------ inputs from the core

    def observe(self, cmd: c.Command) -> None:
        """The record of each call as it ends: the contacts of callers (R10)."""
        if isinstance(cmd, c.CallEnded) and cmd.caller:
            self._contacts.append({
                "call_id": cmd.call_id, "caller": cmd.caller, "queue": cmd.queue, "kind": cmd.kind,
                "emergency": int(cmd.emergency), "agent_id": cmd.agent_id, "outcome": cmd.outcome,
                "arrived_at": cmd.arrived_at, "ended_at": cmd.at, "waited_s": cmd.waited_s, "talked_s": cmd.talked_s,
            })
            self._wake.set()

    # ------------------------------------------------------------ use cases

    async def dispose(self, call: dict[str, Any], agent_id: str, kind: str, given: dict[str, Any],
                      who: str) -> tuple[dict[str, Any], WorkOrder | None]:
        """Record what the call was about; a kind that needs action becomes an order.
        ``call``: call_id, caller, arrived_at (the report time) of the agent's call."""
        fields = check_disposition(self.settings.rules, kind, given)
        now = self.clock()
        disposition = {"call_id": call["call_id"], "agent_id": agent_id, "kind": kind, "fields": fields, "at": now}
        order: WorkOrder | None = None
        existing = await self.store.disposition(call["call_id"], agent_id)
        if self.settings.enabled and self.settings.rules.kinds[kind].needs_order(fields) and not (
                existing and existing["order_id"]):  # (looked at again in the writing transaction)
            order = open_order(self.settings.rules, _order_id(now), kind, fields, now, who, call_id=call["call_id"],
                               agent_id=agent_id, caller=str(call.get("caller") or ""),
                               reported_at=float(call.get("arrived_at") or now))
        book = self.complaints if kind == "complaint" else None
        complaint = book.opened(order.order_id, agent_id, who, fields) if order is not None and book is not None else None
        answer = visit_answer(fields) if kind == "return-visit" else None  # R17: the customer's answers
        survey = None if answer is None else Survey(call["call_id"], now, agent_id, str(call.get("queue") or ""), kind,
                                                    "visit", Answer(*answer), comment=fields.get("comment", ""))
        linked = await self.store.record(disposition, order, None if complaint is None else (
            lambda sql: ComplaintStore.insert(sql, call["call_id"], complaint)),  # R16: the agent owns it
            None if survey is None else (lambda sql: write_visit(sql, survey)))
        if order is not None and linked != order.order_id:
            order = None  # another disposition of the same call, at the same moment, made the order
        elif order is not None and book is not None:
            await book.hold(order.order_id, call["call_id"], order.caller)  # R5 while it is open (tried again if it fails)
        audit.info("disposition of call %s (%s) recorded by %s%s", call["call_id"], kind, who,
                   f": work order {order.order_id} for {order.department}" if order else "")
        if order is not None:
            self.created += 1
            self._dispatch(order)
            self._tell("order", public(order))
        await self._recorded(Recorded(now, who, agent_id, kind, fields, str(call.get("caller") or ""),
                                      call["call_id"], linked))
        return {**disposition, "order_id": linked}, order

    async def _recorded(self, what: Recorded) -> None:
        for hook in self.recorded:
            try:
                await hook(what)
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as exc:
                self.errors += 1
                log.error("after the disposition of %s: %s failed: %s", what.call_id or what.order_id,
                          getattr(hook, "__qualname__", hook), exc)

    async def progress(self, order_id: str, status: str, note: str, who: str,
                       department: str | None = None) -> WorkOrder:
        """A status report (R12: accepted, on-site, done, cancelled): the step it stands for."""
        step = PROGRESS.get(status)
        if step is None:
            raise BadTransition(f"a status report is one of {list(PROGRESS)}; other steps have their parameters")
        return await self.step(order_id, step, {"note": note}, who, department)

    async def step(self, order_id: str, step: str, params: dict[str, Any], who: str,
                   department: str | None = None) -> WorkOrder:
        """R20: a step by the department responsible (``department``: only its own
        orders) or a supervisor. A delay gives the owner a task to tell the customer; a
        hand-over dispatches the order to the other department; closing unresolved opens
        the follow-up order; done schedules a return visit (R11)."""
        order = await self.store.get(order_id)
        if order is None or (department is not None and order.department != department):
            raise KeyError(order_id)
        before, before_at, now = order.status, order.updated_at, self.clock()
        effects = take(order, step, params, now, who, self.departments)  # (BadTransition, BadStep)
        kind = self.settings.rules.kinds.get(order.kind)
        if order.status == "done" and kind is not None and kind.return_visit:
            order.return_visit_at = now + self.settings.return_visit_after_days * 86400
        task = new_task(order_id, order.agent_id, "tell-delay", effects.tell_customer, now) \
            if effects.tell_customer else None
        follow = open_order(self.settings.rules, _order_id(now), order.kind, {
            **order.fields, "content": f"{effects.follow_up}\n({order.fields.get('content', '')})"[:4000]}, now, who,
            agent_id=order.agent_id, caller=order.caller, reported_at=order.reported_at, channel=order.channel,
            follow_up_of=order_id) if effects.follow_up else None

        def also(sql: Sql) -> None:
            if task is not None:
                insert_task(sql, task)
            if follow is not None:
                insert_order(sql, follow)
        if follow is not None:
            order.history[-1]["note"] += f" (order {follow.order_id})"
        if not await self.store.update(order, before, before_at, also):
            raise BadTransition(f"order {order_id} changed meanwhile; read it again")
        audit.info("work order %s: %s (%s -> %s) by %s", order_id, step, before, order.status, who)
        self._tell("order", public(order))
        if effects.dispatch_to:
            self._dispatch(order)
        if effects.helper and self.notifier is not None and (helper := self.departments.get(effects.helper)):
            self.notifier.post_to(helper.webhook_url, {"type": "work-order-help", **public(order)},  # R20: both see it
                                  entry_id=f"wo-{order_id}-help-{helper.name}", full_numbers=True)
        if task is not None:
            self._tell("task", {"task_id": task.task_id, "order_id": order_id, "agent_id": task.agent_id})
        if follow is not None:
            self.created += 1
            self._dispatch(follow)
            self._tell("order", public(follow))
        return order

    async def create(self, channel: str, kind: str, given: dict[str, Any], who: str,
                     agent_id: str = "") -> WorkOrder:
        """R20: an order from the service hall (a walk-in, ``agent_id`` the agent at the
        desk), the website or a letter: the same object and rules as a call's."""
        if channel not in CHANNELS or channel == "hotline":
            raise BadDisposition(f"channel is one of {[c for c in CHANNELS if c != 'hotline']} "
                                 "(a hotline order is its call's disposition)", {"channel": "invalid"})
        fields = check_disposition(self.settings.rules, kind, given)
        if not self.settings.rules.kinds[kind].needs_order(fields):
            raise BadDisposition(f"a {kind} is not a work order", {"kind": "invalid"})
        if not self.settings.enabled:
            raise BadDisposition("work orders are not configured ([workorders])")
        now = self.clock()
        order = open_order(self.settings.rules, _order_id(now), kind, fields, now, who, agent_id=agent_id,
                           channel=channel)
        book = self.complaints if kind == "complaint" else None
        complaint = book.opened(order.order_id, agent_id, who, fields) if book is not None and agent_id else None
        await self.store.create(order, None if complaint is None else (
            lambda sql: ComplaintStore.insert(sql, "", complaint)))
        audit.info("work order %s (%s, %s) recorded by %s for %s", order.order_id, kind, channel, who,
                   order.department)
        self.created += 1
        self._dispatch(order)
        self._tell("order", public(order))
        await self._recorded(Recorded(now, who, agent_id, kind, fields, "", "", order.order_id, channel))
        return order

    async def ended_call(self, call_id: str) -> dict[str, Any] | None:
        """The record of a call that ended (for its disposition in wrap-up)."""
        pending = [row for row in self._contacts if row["call_id"] == call_id]
        if pending:
            return pending[-1]
        return await self.store.contact(call_id)

    async def keep_draft(self, agent_id: str, call_id: str, kind: str, fields: dict[str, str]) -> None:
        """R12: what the agent has typed of a call's disposition, kept on the server too
        (another browser, a lost one) until the disposition is recorded; the 20 newest of
        an agent's, for a week."""
        if len(kind) > 64 or not all(isinstance(v, str) and len(v) <= 4000 for v in fields.values()):
            raise BadRequest("a draft is {'kind': text of 64 characters at most, 'fields': {name: text}}")
        unknown = sorted(set(fields) - set(FIELDS))
        if unknown:
            raise BadRequest(f"a draft's fields are among {list(FIELDS)}: not {unknown}")
        await self.store.keep_draft(agent_id, call_id, {"kind": kind, "fields": fields}, self.clock(),
                                    DRAFTS_KEPT, DRAFT_MAX_AGE_S)

    async def drafts(self, agent_id: str) -> list[dict[str, Any]]:
        return await self.store.drafts(agent_id, self.clock() - DRAFT_MAX_AGE_S)

    async def drop_draft(self, agent_id: str, call_id: str) -> None:
        await self.store.drop_draft(agent_id, call_id)

    async def disposition(self, call_id: str, agent_id: str) -> dict[str, Any] | None:
        return await self.store.disposition(call_id, agent_id)

    async def get(self, order_id: str) -> WorkOrder | None:
        return await self.store.get(order_id)

    async def search(self, q: Search) -> list[WorkOrder]:
        return await self.store.orders(q)

    async def caller_context(self, caller: str, now: float) -> dict[str, Any]:
        """The screen pop's history (R10): recent contacts (30 days) and open orders."""
        if not caller:
            return {"contacts": [], "open_orders": []}
        contacts = await self.store.contacts(caller, now - 30 * 86400, 5)
        orders = await self.store.open_orders(caller, 5)
        return {"contacts": contacts, "open_orders": [public(o) for o in orders]}

    # ------------------------------------------------------------ dispatch

    def _dispatch(self, order: WorkOrder) -> None:
        department = self.departments.get(order.department)
        if self.notifier is None or department is None:
            return
        # One idempotency key per department the order is sent to (R20: a hand-over sends it again)
        handed = sum(1 for h in order.history if h.get("step") == "hand-over")
        self.notifier.post_to(department.webhook_url, {"type": "work-order", **public(order)},
                              entry_id=f"wo-{order.order_id}" + (f"-h{handed}" if handed else ""), full_numbers=True)

    def _delivered(self, doc: dict[str, Any]) -> None:
        if doc.get("type") == "work-order" and isinstance(doc.get("order_id"), str):
            self._dispatched.append(doc["order_id"])
            self._wake.set()

    async def _mark_dispatched(self) -> None:
        while self._dispatched:
            order_id = self._dispatched[0]
            order = await self.store.get(order_id)
            if order is not None and order.status == "new":
                now = self.clock()
                before_at = order.updated_at
                order.status, order.updated_at = "dispatched", now
                order.history.append({"at": now, "status": "dispatched", "who": "engine",
                                      "note": f"taken by {order.department}'s system"})
                if await self.store.update(order, "new", before_at):
                    self._tell("order", public(order))
            self._dispatched.popleft()

    # ------------------------------------------------------------ maintenance

    async def check_overdue(self, now: float) -> list[WorkOrder]:
        """Alert once for each order that has become overdue, and (R20) for each whose
        crew is not on site by its deadline; count the overdue."""
        late = await self.store.newly_overdue(now)
        for order in late:
            alert = {"order_id": order.order_id, "department": order.department, "kind": order.kind,
                     "due_at": order.due_at, "status": order.status, "at": now}
            self.alerts.append(alert)
            log.warning("R12 ALERT: work order %s (%s, %s) is overdue since %s (status %s)", order.order_id,
                        order.kind, order.department, _iso(order.due_at), order.status)
            self._tell("overdue", alert)
        for order in await self.store.newly_late_on_site(now):  # R20: the crew not there in time
            self.late_on_site += 1
            alert = {"order_id": order.order_id, "department": order.department, "kind": order.kind,
                     "onsite_due_at": order.onsite_due_at, "status": order.status, "at": now, "late": "on-site"}
            self.alerts.append(alert)
            log.warning("R20 ALERT: work order %s (%s, %s): nobody on site since %s (status %s)", order.order_id,
                        order.kind, order.department, _iso(order.onsite_due_at or now), order.status)
            self._tell("late-on-site", alert)
        self.overdue = await self.store.count_overdue(now)
        return late

    async def start(self) -> None:
        """Queue again what a previous engine stored but may not have dispatched."""
        for order in await self.store.undispatched():
            self._dispatch(order)

    async def run(self) -> None:
        """Contacts written, deliveries marked, overdue orders alerted, old records
        purged; a step that fails is logged, counted and tried again."""
        last_check = last_purge = 0.0
        while True:
            try:
                while self._contacts:
                    await self.store.add_contact(self._contacts[0])
                    self._contacts.popleft()
                await self._mark_dispatched()
                now = self.clock()
                if now - last_check >= self.settings.check_interval_s:
                    last_check = now
                    await self.check_overdue(now)
                    if self.complaints is not None:  # R16: late feedback up a level; holds tried again
                        try:
                            await self.complaints.maintain(now)
                        except (asyncio.CancelledError, KeyboardInterrupt):
                            raise
                        except Exception as exc:
                            self.errors += 1
                            log.error("complaints' maintenance failed (tried again): %s", exc)
                if now - last_purge >= 3600:
                    last_purge = now
                    gone = await self.store.purge(now - self.settings.retention_months * MONTH_S)
                    if self.complaints is not None:
                        gone += await self.complaints.store.purge(now - self.settings.retention_months * MONTH_S)
                    gone += await self.store.purge_drafts(now - DRAFT_MAX_AGE_S)
                    if gone:
                        log.info("R5 retention: %d old work orders and contacts purged", gone)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.errors += 1
                log.error("work orders maintenance failed (tried again): %s", exc)
                await asyncio.sleep(1.0)
            self._wake.clear()
            try:
                async with asyncio.timeout(min(1.0, self.settings.check_interval_s)):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def _tell(self, event: str, doc: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(event, doc)


def _order_id(now: float) -> str:
    """``WO-261202-K7Q2M9XA``: the day, then a letter and seven letters or digits, so
    that no run of seven digits (a phone number to the log masking) appears in it."""
    day = datetime.fromtimestamp(now, timezone.utc).strftime("%y%m%d")
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    return f"WO-{day}-{secrets.choice(letters)}{''.join(secrets.choice(letters + '23456789') for _ in range(7))}"


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat()


def public(order: WorkOrder) -> dict[str, Any]:
    """An order as the API and the department's system see it (times ISO 8601 and epoch)."""
    doc = asdict(order)
    doc.update(urgency=order.urgency, region=order.region, due=_iso(order.due_at),
               reported=_iso(order.reported_at) if order.reported_at else None)
    return doc
