"""R11 return visits on the real stores (SQLite and PostgreSQL) with the real core and
a virtual clock: closing a repair schedules a visit; due visits are handed to the core
only inside the call window (site time zone, days of the week), never more than the
queue's free agents (progressive pacing), never to a number on the do-not-call list;
a visit not reached is tried again later, up to its maximum."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, time as dtime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from acd import AgentConfig, Engine, QueueConfig
from acd import commands as c
from acd import events as e
from acd.hours import BusinessHours
from cti.store.sql import Database
from cti.runtime import Runtime
from cti.orders.service import WorkOrders
from cti.orders.store import SCHEMA, WorkOrderStore
from cti.outbound.visits import ReturnVisits, VisitSettings
from tests.integration.test_workorders import REPAIR, settings

ZONE = "Asia/Shanghai"
WEEKDAYS = {d: ((dtime(9), dtime(20)),) for d in ("mon", "tue", "wed", "thu", "fri")}
# Wednesday 2 December 2026, 10:00 in Shanghai: inside the window.
OPEN = datetime(2026, 12, 2, 10, 0, tzinfo=ZoneInfo(ZONE)).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def world(store_url: str) -> AsyncIterator[tuple[ReturnVisits, WorkOrders, Runtime, Clock]]:
    db = Database(store_url, 5.0, SCHEMA)
    await db.open()
    clock = Clock(OPEN - 3 * 86400 - 3600)
    engine = Engine([QueueConfig("support", wrap_up_s=0, announce_agent_id=False)],
                    [AgentConfig(a, f"PJSIP/agent{a}", ("support",)) for a in ("1001", "1002")])
    runtime = Runtime(engine, clock)
    wo = WorkOrders(settings(), WorkOrderStore(db), None, clock)
    visits = ReturnVisits(VisitSettings("support", BusinessHours(WEEKDAYS), max_attempts=2, retry_s=4 * 3600,
                                        timezone=ZONE), wo.store, runtime, clock)
    runtime.follow(visits.observe)
    await visits.start()
    yield visits, wo, runtime, clock
    db.close()


async def closed_repairs(wo: WorkOrders, n: int) -> list[str]:
    numbers = []
    for i in range(n):
        number = f"1380000{i:04d}"
        _, order = await wo.dispose({"call_id": f"k{i}", "caller": number, "arrived_at": wo.clock()}, "1001",
                                    "fault-report", {**REPAIR, "contact_number": number}, "agent:1001")
        assert order is not None
        await wo.progress(order.order_id, "done", "fixed", "token:repair", department=order.department)
        numbers.append(number)
    return numbers


def queued(out: Any) -> list[e.OutboundQueued]:
    return [ev for ev, _ in out if isinstance(ev, e.OutboundQueued)]


async def test_R11_visits_paced_by_free_agents_in_the_window_never_to_do_not_call(world: Any) -> None:
    visits, wo, runtime, clock = world
    numbers = await closed_repairs(wo, 10)
    await visits.set_blocked(numbers[1], True, "account:li", "asked not to be called")
    runtime.apply(e.AgentLoggedIn("1001", clock.now))
    runtime.apply(e.AgentLoggedIn("1002", clock.now))
    assert await visits.step() == 0  # not due yet (3 days after closing)
    clock.now = OPEN + 11 * 3600  # due, but 21:00: outside the window
    assert await visits.step() == 0
    clock.now = OPEN
    assert await visits.step() == 2  # two agents free: two customers, no more
    assert await visits.step() == 0  # both agents have one now
    offers = [cmd for cmd in runtime.engine.calls() if cmd.state == "offered"]
    assert len(offers) == 2 and {k.caller for k in offers} <= set(numbers) - {numbers[1]}
    # The agents take them; the customers answer, talk and hang up: two more go out.
    for k in offers:
        runtime.apply(e.OfferAnswered(k.call_id, k.offered_to[0], clock.now))
        runtime.apply(e.CustomerAnswered(k.call_id, clock.now + 5))
        runtime.apply(e.CallerHungUp(k.call_id, clock.now + 60))
    clock.now += 61
    assert await visits.step() == 2
    done = await wo.store.visits("done")
    assert len(done) == 2 and all(v["outcome"] == "handled" for v in done)
    await visits.reload()  # the wallboard's progress of the builtin list
    assert visits.progress["return-visits"] == {"name": "回訪 return visits", "status": "active",
                                                "done": 2, "queued": 2, "scheduled": 5, "closed": 1}
    # Saturday: the window is closed all day; agents free, visits due, nobody dialled.
    clock.now = OPEN + 3 * 86400
    for k in runtime.engine.calls():  # the two in progress end
        runtime.apply(e.OfferAnswered(k.call_id, k.offered_to[0], clock.now))
        runtime.apply(e.CustomerAnswered(k.call_id, clock.now + 5))
        runtime.apply(e.CallerHungUp(k.call_id, clock.now + 60))
    clock.now += 61
    assert not visits.in_window(clock.now) and runtime.engine.outbound_capacity("support") == 2
    assert await visits.step() == 0
    closed = await wo.store.visits("closed")
    assert [(v["caller"], v["outcome"]) for v in closed] == [(numbers[1], "do-not-call")]
    every = [ev.number for ev in queued(runtime._pending)]
    assert numbers[1] not in every  # never handed to the core, let alone dialled


async def test_R11_a_visit_not_reached_is_tried_again_later_then_closed(world: Any) -> None:
    visits, wo, runtime, clock = world
    (number,) = await closed_repairs(wo, 1)
    runtime.apply(e.AgentLoggedIn("1001", clock.now))
    clock.now = OPEN
    assert await visits.step() == 1
    (k,) = runtime.engine.calls()
    runtime.apply(e.OfferAnswered(k.call_id, "1001", clock.now))
    runtime.apply(e.CustomerNotReached(k.call_id, "busy", clock.now + 2))
    await visits.step()
    (visit,) = await wo.store.visits("scheduled")
    assert visit["outcome"] == "busy" and visit["due_at"] == pytest.approx(clock.now + 4 * 3600)
    assert await visits.step() == 0  # not before the retry delay
    clock.now += 4 * 3600
    assert await visits.step() == 1
    (k2,) = runtime.engine.calls()
    assert k2.call_id.startswith("rv2.") and k2.caller == number
    runtime.apply(e.OfferAnswered(k2.call_id, "1001", clock.now))
    runtime.apply(e.CustomerNotReached(k2.call_id, "no-answer", clock.now + 30))
    await visits.step()
    (visit,) = await wo.store.visits("closed")
    assert visit["outcome"] == "unreached" and visit["attempts"] == 2
    dialled = [cmd for _, cmds in runtime._pending for cmd in cmds if isinstance(cmd, c.DialCustomer)]
    assert [d.number for d in dialled] == [number, number]


async def test_R11_campaign_of_ten_with_two_agents_never_more_than_two_at_once(world: Any) -> None:
    """A CSV of 10 customers (one on the do-not-call list, one line not a number) with
    two agents: at no moment more than two customers are being called; the blocked
    number is never handed to the core; outside the window nothing is; all the others
    are handled."""
    from cti.outbound.visits import campaign_from_csv

    visits, wo, runtime, clock = world
    lines = ["number,name"] + [f"1390000{i:04d},客戶{i}" for i in range(10)] + ["not-a-number,x"]
    campaign, entries, refused = campaign_from_csv(
        "燃氣安全回訪", "support", "\n".join(lines), clock.now, "您好，這裡是燃氣公司回訪…",
        {d: ["09:00-20:00"] for d in ("mon", "tue", "wed", "thu", "fri")}, 2, 3600.0)
    assert len(entries) == 10 and refused == [12]
    await wo.store.add_campaign(campaign, entries)
    await visits.set_blocked("13900000003", True, "account:li", "do not call")
    await visits.reload()
    runtime.apply(e.AgentLoggedIn("1001", clock.now))
    runtime.apply(e.AgentLoggedIn("1002", clock.now))
    clock.now = OPEN - 2 * 3600  # 08:00: before the window
    assert await visits.step() == 0
    clock.now = OPEN
    most = 0
    for _ in range(30):
        await visits.step()
        outbound = [k for k in runtime.engine.calls() if k.call_id.startswith("rv")]
        most = max(most, len(outbound))
        for k in outbound:  # each customer: agent answers, customer answers, talks, hangs up
            if k.state == "offered":
                runtime.apply(e.OfferAnswered(k.call_id, k.offered_to[0], clock.now))
            elif k.state == "dialing":
                runtime.apply(e.CustomerAnswered(k.call_id, clock.now))
            elif k.state == "connected":
                runtime.apply(e.CallerHungUp(k.call_id, clock.now))
        clock.now += 30
    assert most == 2  # progressive: never more customers than agents
    rows = await wo.store.visits(None, campaign["campaign_id"])
    by_number = {r["caller"]: (r["status"], r["outcome"]) for r in rows}
    assert by_number.pop("13900000003") == ("closed", "do-not-call")
    assert set(by_number.values()) == {("done", "handled")} and len(by_number) == 9
    dialled = [cmd.number for _, cmds in runtime._pending for cmd in cmds if isinstance(cmd, c.DialCustomer)]
    assert "13900000003" not in dialled and len(dialled) == 9 == len(set(dialled))
    (listed,) = await wo.store.campaigns()
    assert listed["progress"] == {"done": 9, "closed": 1} and listed["script"].startswith("您好")


async def test_R11_after_a_crash_handed_over_entries_are_settled_from_the_record_of_calls(world: Any) -> None:
    """kill -9 without Redis: the new core knows none of the calls handed over. One
    had ended (its record says handled): done, not dialled again. One has no record
    (the call was lost with the engine): scheduled again."""
    visits, wo, runtime, clock = world
    await closed_repairs(wo, 2)
    runtime.apply(e.AgentLoggedIn("1001", clock.now))
    runtime.apply(e.AgentLoggedIn("1002", clock.now))
    clock.now = OPEN
    assert await visits.step() == 2
    first, second = sorted(k.call_id for k in runtime.engine.calls())
    await wo.store.add_contact({"call_id": first, "caller": "13800000000", "queue": "support", "kind": "return-visit",
                                "emergency": 0, "agent_id": "1001", "outcome": "handled", "arrived_at": clock.now,
                                "ended_at": clock.now + 60, "waited_s": 0.0, "talked_s": 55.0})
    fresh = Runtime(Engine([QueueConfig("support")], [AgentConfig("1001", "PJSIP/agent1001", ("support",))]), clock)
    again = ReturnVisits(visits.settings, wo.store, fresh, clock)
    await again.start()
    rows = {r["call_id"]: (r["status"], r["outcome"]) for r in await wo.store.visits(None)}
    assert rows[first] == ("done", "handled")
    assert rows[second] == ("scheduled", "lost")


async def test_R11_campaigns_and_do_not_call_through_the_http_api(store_url: str) -> None:
    """POST /campaigns (CSV in JSON), GET /campaigns with progress, pause, and the
    do-not-call list: what the API says is what the store holds."""
    from aiohttp.test_utils import TestClient, TestServer

    from cti.app import FEATURES
    from cti.web.auth import Auth
    from cti.web.accounts import AuthSettings
    from cti.web.server import ROLE, RUNTIME, build_app
    from cti.outbound.http import VISITS

    db = Database(store_url, 5.0, SCHEMA)
    await db.open()
    clock = Clock(OPEN)
    engine = Engine([QueueConfig("support")], [AgentConfig("1001", "PJSIP/agent1001", ("support",))])
    runtime = Runtime(engine, clock)
    visits = ReturnVisits(VisitSettings(), WorkOrderStore(db), runtime, clock)
    await visits.start()
    admin = {"Authorization": "Bearer admin-token-for-the-http-test", "Content-Type": "application/json"}
    app = build_app(Auth(AuthSettings(), {}, {"admin": "admin-token-for-the-http-test"}), FEATURES)
    app[ROLE].become("leader")
    app[RUNTIME].start(runtime)
    app[VISITS].start(visits)
    async with TestClient(TestServer(app), headers=admin) as http:
        resp = await http.post("/campaigns", json={"name": "回訪", "queue": "support", "script": "您好",
                                                   "csv": "number,name\n13900000001,王\nx,y\n", "max_attempts": 2,
                                                   "hours": {"mon": ["09:00-20:00"]}})
        made = await resp.json()
        assert resp.status == 201 and made["entries"] == 1 and made["refused_lines"] == [3]
        assert (await http.post("/campaigns", json={"name": "x", "queue": "nope", "csv": ""})).status == 400
        assert (await http.post("/campaigns", json={"name": "x", "queue": "support", "csv": "",
                                                    "hours": {"someday": ["9-5"]}})).status == 400
        (listed,) = await (await http.get("/campaigns")).json()
        assert listed["progress"] == {"scheduled": 1} and listed["hours"] == {"mon": ["09:00-20:00"]}
        assert made["campaign_id"] in visits.campaigns
        assert visits.progress[made["campaign_id"]] == {"name": "回訪", "status": "active", "scheduled": 1}
        from cti.supervision.prometheus import prometheus_text
        text = prometheus_text({"queues": {}, "agents": {"by_state": {}, "occupancy": 0.0, "ring_no_answer": {},
                                "hold_overruns": {}}, "plan": None, "recording_coverage": None, "connections": {},
                                "event_loop_lag_s": 0.0, "notifications": {"sent": 0, "failed": 0, "dropped": 0},
                                "maintenance_errors": {}, "faults": [], "campaigns": visits.progress}).decode()
        assert f'cti_campaign_entries{{campaign="{made["campaign_id"]}",status="scheduled"}} 1.0' in text
        resp = await http.post(f"/campaigns/{made['campaign_id']}/pause", json={})
        assert resp.status == 200 and made["campaign_id"] not in visits.campaigns
        assert (await http.post("/campaigns/nope/pause", json={})).status == 404
        assert (await http.post("/do-not-call", json={"number": "139 0000 0002"})).status == 201
        assert await (await http.get("/do-not-call")).json() == ["13900000002"]
        assert (await http.post("/do-not-call", json={"number": "call me"})).status == 400
        assert (await http.delete("/do-not-call/13900000002")).status == 200
        assert await (await http.get("/do-not-call")).json() == []
    db.close()


async def test_R11_the_schedule_is_driven_by_the_cores_notices_not_by_its_poll(world: Any) -> None:
    """The loop polls once an hour here; the visits go out anyway, because an agent
    becoming ready (and an outbound call ending) starts a round at once: the first
    customer is queued when agent 1001 logs in, the second when the first call ends
    and 1001 is ready again."""
    import asyncio
    from dataclasses import replace

    visits, wo, runtime, clock = world
    await closed_repairs(wo, 2)
    clock.now = OPEN
    visits.settings = replace(visits.settings, poll_s=3600.0)
    loop = asyncio.create_task(visits.run())
    try:
        await asyncio.sleep(0.2)  # the first round: due, but no agent
        assert visits.queued == 0
        runtime.apply(e.AgentLoggedIn("1001", clock.now))
        async with asyncio.timeout(10):
            while visits.queued < 1:
                await asyncio.sleep(0.02)
        (k,) = runtime.engine.calls()
        runtime.apply(e.OfferAnswered(k.call_id, "1001", clock.now))
        runtime.apply(e.CustomerAnswered(k.call_id, clock.now + 1))
        runtime.apply(e.CallerHungUp(k.call_id, clock.now + 30))
        async with asyncio.timeout(10):
            while visits.queued < 2:
                await asyncio.sleep(0.02)
        assert [v["outcome"] for v in await wo.store.visits("done")] == ["handled"]
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)


async def test_R20_a_visit_dials_the_contact_number_recorded_then_the_callers_never_a_blocked_or_hidden_one(
        world: Any) -> None:
    visits, wo, runtime, clock = world
    cases = (("c1", "13800000001", "13900000001"),  # called from one phone, asked to be called on another
             ("c2", "13800000002", "13900000002"),  # the contact number asked not to be called: the caller's
             ("c3", "anonymous", "13900000003"),  # a hidden caller: the contact number
             ("c4", "anonymous", "王先生"),  # hidden, and no number recorded: closed with the reason
             ("c5", "13800000005", "13900000005"))  # both on the do-not-call list: closed
    for call_id, caller, contact in cases:
        _, order = await wo.dispose({"call_id": call_id, "caller": caller, "arrived_at": wo.clock()}, "1001",
                                    "fault-report", {**REPAIR, "contact_number": contact}, "agent:1001")
        assert order is not None
        await wo.progress(order.order_id, "done", "fixed", "token:repair", department=order.department)
    for number in ("13900000002", "13800000005", "13900000005"):
        await visits.set_blocked(number, True, "account:li", "asked not to be called")
    for agent in ("1001", "1002"):
        runtime.apply(e.AgentLoggedIn(agent, clock.now))
    clock.now = OPEN
    assert await visits.step() == 2
    assert await visits.step() == 0  # two agents, two customers at a time
    for k in runtime.engine.calls():  # served, then the next
        runtime.apply(e.OfferAnswered(k.call_id, k.offered_to[0], clock.now))
        runtime.apply(e.CustomerAnswered(k.call_id, clock.now + 5))
        runtime.apply(e.CallerHungUp(k.call_id, clock.now + 60))
    clock.now += 61
    assert await visits.step() == 1
    assert sorted(ev.number for ev in queued(runtime._pending)) == ["13800000002", "13900000001", "13900000003"]
    closed = {v["order_id"]: v["outcome"] for v in await wo.store.visits("closed")}
    assert sorted(closed.values()) == ["do-not-call", "no-number"]
