"""R20 on the real databases (SQLite and PostgreSQL), through the HTTP API as each role:
orders from the service hall, the website and letters; the read-back recorded; the
department's steps (visit time, delay with the owner's task to tell the customer, help,
hand-over, unresolved with its follow-up order); illegal steps refused and bad input
answered 400 with nothing changed; the on-site deadline on a virtual clock; a store made
before R20 gains its columns at start."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cti.orders.service import WorkOrders
from cti.orders.store import SCHEMA, WorkOrderStore
from cti.store.sql import Database
from tests.integration.test_workorders import CALL, HOUR, REPAIR, T0, Clock, settings
from tests.integration.world import World, answered_call, world
from workorders import Rule, Rules
from workorders.model import DEFAULT_KINDS
from workorders.steps import STEPS

WALK_IN = {"customer_name": "陳大文", "address": "北區 8 號", "contact_number": "13900001111", "content": "燃氣表不走字",
           "occurred_at": "昨日", "urgency": "high", "region": "north", "read_back": "confirmed"}


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat()


async def _post(w: World, role: str, url: str, body: dict[str, Any], status: int) -> Any:
    got = await w.http.post(url, headers=w.as_role(role), json=body)
    assert got.status == status, (url, body, await got.text())
    return await got.json()


async def _order(w: World, order_id: str) -> dict[str, Any]:
    got = await w.http.get(f"/workorders/{order_id}", headers=w.as_role("reader"))
    assert got.status == 200
    doc: dict[str, Any] = await got.json()
    return doc


async def test_R20_orders_from_the_hall_the_website_and_letters_are_the_same_orders(
        store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        hall = await _post(w, "agent:1001", "/workorders", {"channel": "hall", "kind": "fault-report",
                                                             "fields": WALK_IN}, 201)
        assert (hall["channel"], hall["agent_id"], hall["department"], hall["call_id"]) == (
            "hall", "1001", "north-repair", "")
        assert hall["fields"]["contact_number"] == "13900001111"  # its own order: the agent sees the number
        web_order = await _post(w, "intake", "/workorders", {"channel": "web", "kind": "service-request", "fields": {
            "customer_name": "李", "address": "南區 2 號", "contact_number": "13900002222", "content": "開戶",
            "region": "south"}}, 201)
        assert (web_order["channel"], web_order["agent_id"], web_order["department"]) == ("web", "", "service")
        letter = await _post(w, "supervisor", "/workorders", {"channel": "letter", "kind": "complaint", "fields": {
            "customer_name": "趙", "contact_number": "13900003333", "content": "信件投訴"}}, 201)
        assert letter["channel"] == "letter"
        # The same search and reports as a call's orders, by channel.
        found = await (await w.http.get("/workorders?channel=hall", headers=w.as_role("reader"))).json()
        assert [o["order_id"] for o in found] == [hall["order_id"]]
        both = await (await w.http.get("/workorders", headers=w.as_role("supervisor"))).json()
        assert {o["channel"] for o in both} == {"hall", "web", "letter"}
        assert all("1390000" not in str(o["fields"]) for o in both)  # R14: masked for a supervisor
        kept = await _order(w, hall["order_id"])
        assert kept["fields"]["read_back"] == "confirmed" and kept["status"] == "new"


async def test_R20_bad_orders_from_the_channels_get_a_clear_400_and_change_nothing(
        store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        cases: list[tuple[str, dict[str, Any], str]] = [
            ("agent:1001", {"channel": "hotline", "kind": "fault-report", "fields": WALK_IN}, "channel"),
            ("agent:1001", {"channel": "fax", "kind": "fault-report", "fields": WALK_IN}, "channel"),
            ("agent:1001", {"channel": "hall", "kind": "consultation", "fields": {"content": "問"}}, "not a work order"),
            ("agent:1001", {"channel": "hall", "kind": "fault-report", "fields": {**WALK_IN, "address": ""}}, "address"),
            ("agent:1001", {"channel": "hall", "kind": "emergency", "fields": {"content": "漏氣"}}, "address"),
            ("agent:1001", {"channel": "hall", "kind": "fault-report", "fields": {**WALK_IN, "read_back": "maybe"}},
             "read_back"),
            ("agent:1001", {"channel": "hall", "kind": "fault-report", "fields": {**WALK_IN, "read_back": "corrected"}},
             "corrected"),
            ("agent:1001", {"channel": "hall", "kind": "fault-report", "fields": WALK_IN, "agent_id": "1002"}, "own"),
            ("agent:1001", {"channel": "hall", "kind": "fault-report", "fields": WALK_IN, "extra": 1}, "unknown"),
            ("agent:1001", {"channel": "hall", "kind": 5, "fields": WALK_IN}, "kind"),
            ("intake", {"channel": "hall", "kind": "fault-report", "fields": WALK_IN}, "intake"),
            ("supervisor", {"channel": "letter", "kind": "fault-report", "fields": WALK_IN, "agent_id": "9999"},
             "no agent"),
        ]
        for role, body, said in cases:
            got = await _post(w, role, "/workorders", body, 400)
            assert said in str(got), (body, got)
        assert (await w.http.post("/workorders", headers=w.as_role("department-own"), json={
            "channel": "web", "kind": "fault-report", "fields": WALK_IN})).status == 403
        assert await (await w.http.get("/workorders", headers=w.as_role("reader"))).json() == []


async def test_R20_delay_tells_the_owner_hand_over_moves_the_order_and_both_departments_see_it(
        store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        answered_call(w.runtime, "c1", "13812345678", "1001")
        done = await _post(w, "agent:1001", "/calls/c1/disposition", {"kind": "fault-report", "fields": {
            **REPAIR, "contact_number": "13700007777", "read_back": "corrected", "corrections": "門牌 1 號不是 7 號"}}, 201)
        order_id = done["order"]["order_id"]
        url = f"/workorders/{order_id}/steps"
        dept = "department-own"  # north-repair
        await _post(w, dept, url, {"step": "accept"}, 200)
        visit = time.time() + 3 * HOUR
        agreed = await _post(w, dept, url, {"step": "visit", "visit_at": iso(visit), "note": "客戶下午在家"}, 200)
        assert abs(agreed["visit_at"] - visit) < 1 and agreed["status"] == "accepted"
        new_due = time.time() + 30 * HOUR
        delayed = await _post(w, dept, url, {"step": "delay", "reason": "零件缺貨", "due_at": iso(new_due)}, 200)
        assert abs(delayed["due_at"] - new_due) < 1
        # The owner (agent 1001) has a task to tell the customer, with the reason and the new due time.
        (task,) = await (await w.http.get("/tasks", headers=w.as_role("agent:1001"))).json()
        assert task["order_id"] == order_id and task["kind"] == "tell-delay" and "零件缺貨" in task["note"]
        assert await (await w.http.get("/tasks", headers=w.as_role("agent:1002"))).json() == []
        # The task's call rings 1001 first, then the contact number recorded (not the caller's).
        placed = await _post(w, "agent:1001", f"/tasks/{task['task_id']}/call", {}, 202)
        (call,) = [k for k in w.runtime.engine.calls() if k.call_id == placed["call_id"]]
        assert call.caller == "13700007777"
        assert (await w.http.post(f"/tasks/{task['task_id']}/done", headers=w.as_role("agent:1002"),
                                  json={"outcome": "x"})).status == 403
        await _post(w, "agent:1001", f"/tasks/{task['task_id']}/done", {"outcome": "客戶知悉"}, 200)
        assert await (await w.http.get("/tasks", headers=w.as_role("agent:1001"))).json() == []
        await _post(w, "agent:1001", f"/tasks/{task['task_id']}/done", {"outcome": "again"}, 409)
        # Help, then a hand-over: the other department becomes responsible; both see it.
        helped = await _post(w, dept, url, {"step": "help", "department": "repair"}, 200)
        assert helped["helpers"] == ["repair"] and helped["department"] == "north-repair"
        moved = await _post(w, dept, url, {"step": "hand-over", "department": "service", "reason": "屬業務"}, 200)
        assert (moved["department"], moved["status"]) == ("service", "new")
        assert set(moved["helpers"]) == {"repair", "north-repair"}
        seen = await (await w.http.get(f"/workorders/{order_id}", headers=w.as_role("department-own"))).json()
        assert seen["department"] == "service" and seen["fields"]["contact_number"] == "13700007777"
        listed = await (await w.http.get("/workorders", headers=w.as_role("department"))).json()  # service
        assert [o["order_id"] for o in listed] == [order_id]
        # Only the responsible department acts: north-repair no longer may.
        assert (await w.http.post(url, headers=w.as_role(dept), json={"step": "done"})).status == 404
        await _post(w, "department", url, {"step": "arrive"}, 200)
        closed = await _post(w, "department", url, {"step": "done", "note": "已換表"}, 200)
        assert closed["status"] == "done" and closed["return_visit_at"] is not None
        steps = [h.get("step") or h["status"] for h in (await _order(w, order_id))["history"]]
        assert steps == ["new", "accept", "visit", "delay", "help", "hand-over", "arrive", "done"]


async def test_R20_closed_unresolved_needs_a_reason_and_a_plan_and_opens_the_follow_up(
        store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        order = await _post(w, "agent:1001", "/workorders", {"channel": "hall", "kind": "fault-report",
                                                              "fields": WALK_IN}, 201)
        url = f"/workorders/{order['order_id']}/steps"
        await _post(w, "department-own", url, {"step": "unresolved", "reason": "x", "follow_up": "y"}, 409)  # new
        await _post(w, "department-own", url, {"step": "accept"}, 200)
        for body in ({"step": "unresolved"}, {"step": "unresolved", "reason": "管線在私宅內"},
                     {"step": "unresolved", "follow_up": "約業主"}):
            await _post(w, "department-own", url, body, 400)
        assert (await _order(w, order["order_id"]))["status"] == "accepted"  # unchanged
        closed = await _post(w, "department-own", url, {"step": "unresolved", "reason": "管線在私宅內",
                                                        "follow_up": "約業主週六入戶"}, 200)
        assert closed["status"] == "unresolved" and closed["closed_at"] is not None
        follow = [o for o in await (await w.http.get("/workorders", headers=w.as_role("reader"))).json()
                  if o["follow_up_of"] == order["order_id"]]
        assert len(follow) == 1 and follow[0]["status"] == "new" and follow[0]["channel"] == "hall"
        assert follow[0]["fields"]["content"].startswith("約業主週六入戶")
        assert follow[0]["agent_id"] == "1001" and follow[0]["department"] == "north-repair"
        assert follow[0]["order_id"] in closed["history"][-1]["note"]
        await _post(w, "department-own", url, {"step": "accept"}, 409)  # final


async def test_R20_bad_steps_are_400_illegal_ones_409_and_nothing_changes(store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        order = await _post(w, "agent:1001", "/workorders", {"channel": "hall", "kind": "fault-report",
                                                              "fields": WALK_IN}, 201)
        url = f"/workorders/{order['order_id']}/steps"
        now = time.time()
        for body in ({"step": "fly"}, {"step": "accept", "color": "red"}, {"step": "visit"},
                     {"step": "visit", "visit_at": "2026-13-01T00:00:00+08:00"},
                     {"step": "visit", "visit_at": "2099-01-01T10:00:00"},  # no offset
                     {"step": "visit", "visit_at": iso(now - 60)}, {"step": "visit", "visit_at": True},
                     {"step": "delay", "due_at": iso(now + HOUR)}, {"step": "delay", "reason": "r"},
                     {"step": "delay", "reason": "r", "due_at": iso(now + 400 * 86400)},
                     {"step": "help", "department": "nobody"}, {"step": "help", "department": "north-repair"},
                     {"step": "hand-over", "department": "service"},
                     {"step": "accept", "note": "x" * 501}, {"step": "accept", "note": 5}):
            await _post(w, "department-own", url, body, 400)
        kept = await _order(w, order["order_id"])
        assert (kept["status"], kept["due_at"], kept["visit_at"], kept["helpers"]) == (
            "new", order["due_at"], None, [])
        assert len(kept["history"]) == 1
        assert (await w.http.post(url, headers=w.as_role("agent:1001"), json={"step": "accept"})).status == 403
        assert (await w.http.post("/workorders/WO-NOPE/steps", headers=w.as_role("supervisor"),
                                  json={"step": "accept"})).status == 404
        await _post(w, "supervisor", url, {"step": "cancel", "note": "客戶撤回"}, 200)
        for step in STEPS:
            await _post(w, "supervisor", url, {"step": step, "reason": "r", "follow_up": "f", "department": "service",
                                               "due_at": iso(now + HOUR), "visit_at": iso(now + HOUR)}, 409)


async def test_R20_a_task_with_no_number_left_to_call_is_refused_never_a_crash(store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        answered_call(w.runtime, "c2", "anonymous", "1001")
        done = await _post(w, "agent:1001", "/calls/c2/disposition", {"kind": "fault-report", "fields": {
            **REPAIR, "contact_number": "13700008888"}}, 201)
        url = f"/workorders/{done['order']['order_id']}/steps"
        await _post(w, "department-own", url, {"step": "delay", "reason": "雨天", "due_at": iso(time.time() + HOUR)}, 200)
        (task,) = await (await w.http.get("/tasks", headers=w.as_role("agent:1001"))).json()
        await w.visits.set_blocked("13700008888", True, "test", "the customer asked")
        refused = await _post(w, "agent:1001", f"/tasks/{task['task_id']}/call", {}, 409)
        assert "do-not-call" in refused["message"]
        assert not [k for k in w.runtime.engine.calls() if k.call_id.startswith("tk.")]
        supervisors = await (await w.http.get("/tasks", headers=w.as_role("supervisor"))).json()
        assert [t["task_id"] for t in supervisors] == [task["task_id"]]


async def test_R20_the_on_site_deadline_is_alerted_once_on_a_virtual_clock(store_url: str) -> None:
    base = settings()
    rules = Rules({k.name: k for k in DEFAULT_KINDS}, (
        Rule("north-repair", 4 * HOUR, kind="fault-report", urgency="high", region="north", onsite_s=HOUR),
        *base.rules.rules))
    db = Database(store_url, 5.0, SCHEMA)
    await db.open()
    try:
        clock = Clock()
        wo = WorkOrders(type(base)(rules, base.departments, 60, 3, 6, True), WorkOrderStore(db), None, clock)
        _, late = await wo.dispose(CALL, "1001", "fault-report", REPAIR, "agent:1001")
        _, there = await wo.dispose({**CALL, "call_id": "call-b"}, "1001", "fault-report", REPAIR, "agent:1001")
        _, other = await wo.dispose({**CALL, "call_id": "call-c"}, "1001", "fault-report",
                                    {**REPAIR, "region": "south"}, "agent:1001")  # no on-site deadline
        assert late is not None and there is not None and other is not None
        assert late.onsite_due_at == T0 + HOUR and other.onsite_due_at is None
        clock.now += 0.5 * HOUR
        await wo.step(there.order_id, "arrive", {}, "token:north-repair", "north-repair")
        clock.now += 0.5 * HOUR - 1
        await wo.check_overdue(clock.now)
        assert not wo.alerts
        clock.now += 1
        await wo.check_overdue(clock.now)
        assert [(a["order_id"], a["late"]) for a in wo.alerts] == [(late.order_id, "on-site")]
        assert wo.late_on_site == 1
        clock.now += HOUR
        await wo.check_overdue(clock.now)  # once
        assert wo.late_on_site == 1 and len(wo.alerts) == 1
    finally:
        db.close()


async def test_R20_a_store_made_before_r20_gains_its_columns_and_keeps_its_orders(store_url: str) -> None:
    old = Database(store_url, 5.0, [s for s in SCHEMA if isinstance(s, str)])  # the tables, no migration
    await old.open()
    await old.do(lambda sql: sql.run(
        "INSERT INTO work_orders (order_id, call_id, kind, department, status, caller, agent_id, urgency, region, "
        "fields, created_at, due_at) VALUES ('WO-OLD', 'k', 'fault-report', 'repair', 'accepted', '138', '1001', "
        "'normal', '', '{}', ?, ?)", (T0, T0 + HOUR)))
    old.close()
    for _ in range(2):  # (a second start finds the migrations done)
        db = Database(store_url, 5.0, SCHEMA)
        await db.open()
        kept = await WorkOrderStore(db).get("WO-OLD")
        assert kept is not None and (kept.channel, kept.helpers, kept.onsite_due_at) == ("hotline", [], None)
        db.close()


async def test_R20_an_agent_identity_with_no_agent_cannot_close_another_agents_task(
        store_url: str, tmp_path: Path, monkeypatch: Any) -> None:
    """An agent-role token (or account) bound to no agent is not a supervisor: it may not
    record another agent's task done (it was let through as one)."""
    import hashlib
    from tests.integration import world as world_module
    from cti.web.accounts import ApiToken, AuthSettings
    from cti.web.auth import Auth
    base = world_module.auth

    def with_unbound_agent() -> Auth:
        made = base()
        tokens = (*made.settings.tokens, ApiToken("desk", "agent", hashlib.sha256(b"t-unbound").hexdigest()))
        return Auth(AuthSettings(tokens=tokens), {a: made._secrets[f"agent:{a}"][0] for a in world_module.AGENTS}, {})
    monkeypatch.setattr(world_module, "auth", with_unbound_agent)
    async with world(store_url, tmp_path) as w:
        answered_call(w.runtime, "c1", "13812345678", "1001")
        done = await _post(w, "agent:1001", "/calls/c1/disposition", {"kind": "fault-report", "fields": REPAIR}, 201)
        url = f"/workorders/{done['order']['order_id']}/steps"
        await _post(w, "department-own", url, {"step": "accept"}, 200)
        await _post(w, "department-own", url, {"step": "delay", "reason": "零件缺貨",
                                                "due_at": iso(time.time() + 30 * HOUR)}, 200)
        (task,) = await (await w.http.get("/tasks", headers=w.as_role("agent:1001"))).json()
        unbound = {"Authorization": "Bearer t-unbound"}
        answer = await w.http.post(f"/tasks/{task['task_id']}/done", headers=unbound, json={"outcome": "x"})
        assert answer.status in (400, 403)
        (still,) = await (await w.http.get("/tasks", headers=w.as_role("agent:1001"))).json()
        assert still["task_id"] == task["task_id"]
