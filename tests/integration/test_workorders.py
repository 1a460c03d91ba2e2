"""R12 work orders on the real databases: the same store and service tests on SQLite
and on PostgreSQL (the test server `make test` starts), with a virtual clock for due
times and return visits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from acd import commands as c
from cti.store.outbox import SqliteOutbox
from cti.errors import BadRequest
from cti.store.sql import Database, StoreUnavailable
from cti.notify import Notifier
from cti.orders.settings import WorkOrderSettings
from cti.orders.service import WorkOrders
from cti.orders.store import SCHEMA, Search, WorkOrderStore
from workorders import BadDisposition, BadTransition, Department, Rule, Rules
from workorders.model import DEFAULT_KINDS

HOUR = 3600.0
T0 = 1_790_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def settings() -> WorkOrderSettings:
    rules = Rules({k.name: k for k in DEFAULT_KINDS}, (
        Rule("gas-emergency", 0.5 * HOUR, kind="emergency"),
        Rule("north-repair", 4 * HOUR, kind="fault-report", urgency="high", region="north"),
        Rule("repair", 24 * HOUR, kind="fault-report"),
        Rule("service", 48 * HOUR),
    ))
    departments = tuple(Department(n, f"http://127.0.0.1:9/{n}")
                        for n in ("gas-emergency", "north-repair", "repair", "service"))
    return WorkOrderSettings(rules, departments, check_interval_s=60, return_visit_after_days=3, enabled=True)


@pytest.fixture
async def service(store_url: str) -> AsyncIterator[tuple[WorkOrders, Clock]]:
    db = Database(store_url, 5.0, SCHEMA)
    await db.open()
    clock = Clock()
    yield WorkOrders(settings(), WorkOrderStore(db), None, clock), clock
    db.close()


CALL = {"call_id": "call-1", "caller": "13812345678", "arrived_at": T0 - 120}
REPAIR = {"customer_name": "王小明", "address": "北區 1 號", "contact_number": "13812345678",
          "content": "燃氣表漏氣", "occurred_at": "今晨 7 時", "urgency": "high", "region": "north"}


async def test_R12_disposition_becomes_an_order_routed_by_kind_urgency_region(service: Any) -> None:
    wo, clock = service
    disposition, order = await wo.dispose(CALL, "1001", "fault-report", REPAIR, "agent:1001")
    assert order is not None and order.department == "north-repair"
    assert order.due_at == clock.now + 4 * HOUR and order.status == "new"
    assert order.reported_at == T0 - 120 and order.caller == "13812345678"
    assert disposition["order_id"] == order.order_id
    kept = await wo.get(order.order_id)
    assert kept is not None and kept.fields["customer_name"] == "王小明" and kept.fields["address"] == "北區 1 號"
    assert [h["status"] for h in kept.history] == ["new"]
    # Same kind elsewhere, normal urgency: the general repair desk, 24 h.
    _, other = await wo.dispose({**CALL, "call_id": "call-2"}, "1002", "fault-report",
                                {**REPAIR, "urgency": "normal", "region": "south"}, "agent:1002")
    assert other is not None and other.department == "repair" and other.due_at == clock.now + 24 * HOUR
    # An emergency is always urgency "emergency", 30 minutes.
    _, em = await wo.dispose({**CALL, "call_id": "call-3"}, "1001", "emergency", {"address": "東路 5 號"}, "agent:1001")
    assert em is not None and em.urgency == "emergency" and em.department == "gas-emergency"
    assert em.due_at == clock.now + 0.5 * HOUR


async def test_R12_required_fields_per_kind_and_kinds_without_action(service: Any) -> None:
    wo, _ = service
    with pytest.raises(BadDisposition, match="address") as refused:
        await wo.dispose(CALL, "1001", "fault-report", {**REPAIR, "address": ""}, "agent:1001")
    assert refused.value.fields == {"address": "required"}  # for the desk, next to the field
    with pytest.raises(BadDisposition, match="longer") as refused:
        await wo.dispose(CALL, "1001", "consultation", {"content": "x" * 4001}, "agent:1001")
    assert refused.value.fields == {"content": "too-long"}
    with pytest.raises(BadDisposition, match="unknown kind"):
        await wo.dispose(CALL, "1001", "gossip", {"content": "x"}, "agent:1001")
    with pytest.raises(BadDisposition, match="unknown fields"):
        await wo.dispose(CALL, "1001", "consultation", {"content": "x", "mood": "good"}, "agent:1001")
    disposition, order = await wo.dispose(CALL, "1001", "consultation", {"content": "開戶要帶什麼"}, "agent:1001")
    assert order is None and disposition["kind"] == "consultation"
    assert (await wo.search(Search())) == []


async def test_R12_status_moves_forward_only_and_keeps_a_history(service: Any) -> None:
    wo, clock = service
    _, order = await wo.dispose(CALL, "1001", "fault-report", REPAIR, "agent:1001")
    assert order is not None
    with pytest.raises(KeyError):  # another department's order is not found for it
        await wo.progress(order.order_id, "accepted", "", "token:repair", department="repair")
    for status in ("accepted", "on-site"):
        clock.now += 600
        await wo.progress(order.order_id, status, f"{status} note", "token:north-repair", department="north-repair")
    with pytest.raises(BadTransition, match="cannot take the step .accept."):
        await wo.progress(order.order_id, "accepted", "", "token:north-repair", department="north-repair")
    clock.now += 600
    done = await wo.progress(order.order_id, "done", "fixed", "token:north-repair", department="north-repair")
    assert done.closed_at == clock.now
    with pytest.raises(BadTransition, match="does not change"):
        await wo.progress(order.order_id, "cancelled", "", "account:li")
    kept = await wo.get(order.order_id)
    assert kept is not None
    assert [h["status"] for h in kept.history] == ["new", "accepted", "on-site", "done"]
    assert kept.history[-1]["who"] == "token:north-repair" and kept.history[-1]["note"] == "fixed"


async def test_R12_R11_R16_closing_a_repair_or_a_complaint_schedules_a_return_visit(service: Any) -> None:
    wo, clock = service
    _, order = await wo.dispose(CALL, "1001", "fault-report", REPAIR, "agent:1001")
    _, complaint = await wo.dispose({**CALL, "call_id": "call-9"}, "1001", "complaint",
                                    {"customer_name": "李", "contact_number": "13812345678", "content": "態度差"},
                                    "agent:1001")
    assert order is not None and complaint is not None
    await wo.progress(order.order_id, "done", "", "account:li")
    await wo.progress(complaint.order_id, "done", "", "account:li")
    visits = await wo.store.return_visits(clock.now, clock.now + 10 * 86400)
    # R16: a complaint's order closed is visited too (the issue found complaints left out)
    assert sorted(v["order_id"] for v in visits) == sorted([order.order_id, complaint.order_id])
    assert all(v["due_at"] == clock.now + 3 * 86400 and v["caller"] == "13812345678" for v in visits)


async def test_R12_overdue_orders_alert_once_on_a_virtual_clock(service: Any) -> None:
    wo, clock = service
    _, em = await wo.dispose(CALL, "1001", "emergency", {"address": "東路 5 號"}, "agent:1001")
    _, repair = await wo.dispose({**CALL, "call_id": "call-2"}, "1002", "fault-report",
                                 {**REPAIR, "urgency": "normal"}, "agent:1002")
    assert em is not None and repair is not None
    clock.now += 29 * 60
    assert await wo.check_overdue(clock.now) == [] and wo.overdue == 0
    clock.now += 2 * 60  # 31 minutes: the emergency order is late, the repair is not
    late = await wo.check_overdue(clock.now)
    assert [o.order_id for o in late] == [em.order_id] and wo.overdue == 1
    assert list(wo.alerts)[-1]["order_id"] == em.order_id
    assert await wo.check_overdue(clock.now + 60) == [] and wo.overdue == 1  # alerted once, still counted
    overdue = await wo.search(Search(overdue_at=clock.now))
    assert [o.order_id for o in overdue] == [em.order_id]
    await wo.progress(em.order_id, "done", "", "account:li")
    await wo.check_overdue(clock.now + 120)
    assert wo.overdue == 0
    clock.now += 24 * HOUR
    late = await wo.check_overdue(clock.now)
    assert [o.order_id for o in late] == [repair.order_id]


async def test_R12_search_by_caller_kind_status_date(service: Any) -> None:
    wo, clock = service
    ids = []
    for i, caller in enumerate(["13812345678", "13900000001", "13812345678"]):
        clock.now = T0 + i * 86400
        _, o = await wo.dispose({"call_id": f"k{i}", "caller": caller, "arrived_at": clock.now}, "1001",
                                "fault-report" if i < 2 else "complaint",
                                {**REPAIR, "contact_number": caller}, "agent:1001")
        assert o is not None
        ids.append(o.order_id)
    found = await wo.search(Search(caller="13812345678"))
    assert [o.order_id for o in found] == [ids[2], ids[0]]  # newest first
    assert [o.order_id for o in await wo.search(Search(kind="complaint"))] == [ids[2]]
    assert [o.order_id for o in await wo.search(Search(since=T0 + 86400, until=T0 + 2 * 86400))] == [ids[1]]
    await wo.progress(ids[1], "cancelled", "duplicate", "account:li")
    assert [o.order_id for o in await wo.search(Search(status="cancelled"))] == [ids[1]]
    assert len(await wo.search(Search(limit=1))) == 1


async def test_R10_contacts_of_a_caller_and_R5_purge(service: Any) -> None:
    wo, clock = service
    wo.observe(c.CallEnded("k1", "handled", "1001", 3.0, 60.0, T0 - 7200, "support", "13812345678",
                           "fault-report", False, T0 - 7263))
    wo.observe(c.CallEnded("k0", "abandoned", None, 9.0, 0.0, T0 - 40 * 86400, "support", "13812345678",
                           "", False, T0 - 40 * 86400 - 9))
    task = asyncio.create_task(wo.run())
    for _ in range(100):
        await asyncio.sleep(0.02)
        if not wo._contacts:
            break
    context = await wo.caller_context("13812345678", clock.now)
    assert [k["call_id"] for k in context["contacts"]] == ["k1"]  # 30 days back only
    assert context["contacts"][0]["agent_id"] == "1001"
    _, order = await wo.dispose(CALL, "1001", "fault-report", REPAIR, "agent:1001")
    assert order is not None
    context = await wo.caller_context("13812345678", clock.now)
    assert [o["order_id"] for o in context["open_orders"]] == [order.order_id]
    await wo.progress(order.order_id, "done", "", "account:li")
    # Seven months later the closed order and the old contacts are gone; open ones stay.
    _, still_open = await wo.dispose({**CALL, "call_id": "call-7"}, "1001", "fault-report", REPAIR, "agent:1001")
    assert still_open is not None
    gone = await wo.store.purge(clock.now + 1)
    task.cancel()
    assert gone == 3  # the closed order and both contacts
    assert await wo.get(order.order_id) is None and await wo.get(still_open.order_id) is not None


async def test_R12_dispatch_through_the_outbox_marks_the_order_dispatched(store_url: str, tmp_path: Any) -> None:
    """The department's receiver gets the order (signed idempotency key = the order);
    only its 2xx makes the order dispatched. A receiver that failed first gets it again."""
    from aiohttp import web

    got: list[dict[str, Any]] = []
    keys: list[str] = []
    tries = {"n": 0}

    async def receive(request: web.Request) -> web.Response:
        tries["n"] += 1
        if tries["n"] == 1:
            return web.Response(status=503)
        got.append(await request.json())
        keys.append(request.headers["Idempotency-Key"])
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/orders", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    db = Database(store_url, 5.0, SCHEMA)
    await db.open()
    s = settings()
    s = WorkOrderSettings(s.rules, tuple(Department(d.name, f"http://127.0.0.1:{port}/orders")
                                         for d in s.departments), 60, 3, 6, True)
    outbox = SqliteOutbox(tmp_path / "outbox.sqlite")
    async with aiohttp.ClientSession() as session:
        notifier = Notifier(session, {}, outbox)
        wo = WorkOrders(s, WorkOrderStore(db), notifier)
        tasks = [asyncio.create_task(notifier.run()), asyncio.create_task(wo.run())]
        _, order = await wo.dispose(CALL, "1001", "fault-report", REPAIR, "agent:1001")
        assert order is not None
        for _ in range(300):
            await asyncio.sleep(0.02)
            kept = await wo.get(order.order_id)
            if kept is not None and kept.status == "dispatched":
                break
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    outbox.close()
    await runner.cleanup()
    assert kept is not None and kept.status == "dispatched", kept
    assert tries["n"] == 2 and keys == [f"wo-{order.order_id}"]
    assert got[0]["order_id"] == order.order_id and got[0]["department"] == "north-repair"
    assert got[0]["fields"]["contact_number"] == "13812345678"  # the department calls the customer
    assert [h["status"] for h in kept.history] == ["new", "dispatched"]
    db.close()


async def test_a_database_that_does_not_answer_fails_the_call_in_time(tmp_path: Any) -> None:
    """A store that hangs (here: a listening socket that never answers) costs the call
    its deadline, not the engine."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    port = sock.getsockname()[1]
    db = Database(f"postgresql://u:p@127.0.0.1:{port}/x", 1.0, SCHEMA)
    with pytest.raises(StoreUnavailable):
        await db.open()
    sock.close()
    db._thread.shutdown(wait=False)


async def test_R11_R12_a_return_visit_not_solved_opens_a_new_order_satisfied_does_not(service: Any) -> None:
    wo, _ = service
    _, none = await wo.dispose(CALL, "1001", "return-visit", {"outcome": "satisfied"}, "agent:1001")
    assert none is None
    _, again = await wo.dispose({**CALL, "call_id": "rv1.x"}, "1001", "return-visit",
                                {"outcome": "not-solved", "content": "仍然漏氣"}, "agent:1001")
    assert again is not None and again.kind == "return-visit" and again.department == "service"
    with pytest.raises(BadDisposition, match="outcome"):
        await wo.dispose({**CALL, "call_id": "rv2.x"}, "1001", "return-visit", {"outcome": "maybe"}, "agent:1001")


async def test_R13_R12_department_report_counts_orders_and_times_to_close(service: Any) -> None:
    """Three orders for north-repair (one done in 2 h, one done after its 4 h due time,
    one still open past it) and one for repair: the report per department says so."""
    from reports.departments import department_report

    wo, clock = service
    made = []
    for i, fields in enumerate((REPAIR, REPAIR, REPAIR, {**REPAIR, "urgency": "normal"})):
        _, order = await wo.dispose({**CALL, "call_id": f"call-{i}"}, "1001", "fault-report", fields, "agent:1001")
        assert order is not None
        made.append(order)
    clock.now += 2 * HOUR
    await wo.progress(made[0].order_id, "done", "", "token:north-repair", department="north-repair")
    clock.now += 3 * HOUR
    await wo.progress(made[1].order_id, "done", "", "token:north-repair", department="north-repair")
    orders = await wo.store.orders_between(T0 - 1, T0 + 1)
    rows = department_report(orders, "day", "UTC", clock.now)
    by = {r["department"]: r for r in rows}
    assert by["north-repair"]["created"] == 3 and by["north-repair"]["done"] == 2 and by["north-repair"]["open"] == 1
    assert by["north-repair"]["overdue"] == 2  # one closed late, one open past its due time
    assert by["north-repair"]["mean_close_h"] == pytest.approx((2 + 5) / 2)
    assert by["repair"]["created"] == 1 and by["repair"]["overdue"] == 0  # due in 24 h
    assert by["north-repair"]["kinds"] == {"fault-report": 3}
    assert by["north-repair"]["channels"] == {"hotline": 3, "hall": 0, "web": 0, "letter": 0}
    # R20: orders from the hall and letters, and one closed unresolved, by channel and status
    hall = await wo.create("hall", "fault-report", REPAIR, "agent:1002", "1002")
    await wo.create("letter", "fault-report", REPAIR, "account:li")
    await wo.step(hall.order_id, "accept", {}, "token:north-repair", "north-repair")
    await wo.step(hall.order_id, "unresolved", {"reason": "無法入戶", "follow_up": "再約"}, "token:north-repair",
                  "north-repair")
    rows = department_report(await wo.store.orders_between(T0 - 1, clock.now + 1), "day", "UTC", clock.now)
    north = next(r for r in rows if r["department"] == "north-repair")
    assert north["channels"] == {"hotline": 3, "hall": 2, "web": 0, "letter": 1}  # (the follow-up is the hall's)
    assert (north["unresolved"], north["created"]) == (1, 6)


async def test_R12_a_disposition_draft_is_kept_bounded_and_dropped_when_recorded(service: Any) -> None:
    """R12: what the agent typed is kept per call until the disposition is recorded, the
    agent's 20 newest for a week; fields outside the form are refused."""
    wo, clock = service
    await wo.keep_draft("1001", "call-1", "fault-report", {"customer_name": "王小明", "content": "燃氣表"})
    await wo.keep_draft("1001", "call-1", "fault-report", {"customer_name": "王小明", "content": "燃氣表漏氣"})
    (kept,) = await wo.drafts("1001")
    assert kept["call_id"] == "call-1" and kept["fields"]["content"] == "燃氣表漏氣" and kept["kind"] == "fault-report"
    assert await wo.drafts("1002") == []  # each agent's own
    with pytest.raises(BadRequest):
        await wo.keep_draft("1001", "call-1", "fault-report", {"password": "x"})
    with pytest.raises(BadRequest):
        await wo.keep_draft("1001", "call-1", "fault-report", {"content": "x" * 4001})
    # Recorded: the draft goes, in the same transaction.
    await wo.dispose(CALL, "1001", "fault-report", REPAIR, "agent:1001")
    assert await wo.drafts("1001") == []
    # Bounded: the 20 newest, none older than a week.
    for i in range(25):
        clock.now += 1
        await wo.keep_draft("1001", f"call-{100 + i}", "consultation", {"content": str(i)})
    kept_ids = [d["call_id"] for d in await wo.drafts("1001")]
    assert len(kept_ids) == 20 and kept_ids[0] == "call-124" and "call-104" not in kept_ids
    clock.now += 8 * 86400
    await wo.keep_draft("1001", "call-new", "consultation", {"content": "new"})
    assert [d["call_id"] for d in await wo.drafts("1001")] == ["call-new"]
    await wo.drop_draft("1001", "call-new")
    assert await wo.drafts("1001") == []
