"""R19 and R20 end to end on the sandbox: a customer with a record calls from the second
number of that record; the desk pops the record (matched by that number) and the
disposition is pre-filled from it; the agent reads the key facts back and the customer
confirms; the order is dispatched to the department (its webhook answered); the
department reports a delay with a new due time and the owner's desk gets the task to
tell the customer; the department hands the order over to a second department, which
arrives and closes it; the return visit then dials the contact number recorded (a SIPp
customer on that number), not the number the customer called from."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from argon2 import PasswordHasher

from tests.e2e.harness import ADMIN_TOKEN, Sandbox, Webhook, wait_for
from tests.e2e.test_auth import NUMBER, basic, call, number_caller
from tests.e2e.test_callbacks import customers, received

FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
OWNER = basic("1001", "432109")
ADMIN = f"Bearer {ADMIN_TOKEN}"
NORTH, SERVICE = "Bearer t-north-repair-e2e", "Bearer t-service-e2e"
CONTACT = "13700001111"  # the record's other number: the one to call back on


def config(hook: str) -> str:
    def token(name: str, secret: str) -> str:
        return (f'[[auth.tokens]]\nname = "{name}"\nrole = "department"\n'
                f'sha256 = "{hashlib.sha256(secret.encode()).hexdigest()}"\n')
    return f"""
[[queues]]
name = "support"
wrap_up_s = 2
announce_agent_id = false

[[agents]]
id = "1001"
endpoint = "PJSIP/agent1001"
queues = ["support"]
login_at_start = true
pin_hash = "{FAST.hash('432109')}"

[[trunks]]
name = "customers"
endpoint = "PJSIP/{{number}}@customers"
region = "CN"
allowed_prefixes = ["13"]

{token("north-repair", "t-north-repair-e2e")}
{token("service", "t-service-e2e")}

[workorders]
check_interval_s = 0.5
return_visit_after_days = 0
[[workorders.departments]]
name = "north-repair"
webhook_url = "{hook}/north-repair"
[[workorders.departments]]
name = "service"
webhook_url = "{hook}/service"
[[workorders.rules]]
kind = "fault-report"
department = "north-repair"
due_h = 24
onsite_h = 4
[[workorders.rules]]
department = "service"
due_h = 48

[return_visits]
queue = "support"
poll_s = 0.5
"""


def step(port: int, who: str, order_id: str, body: dict[str, Any]) -> dict[str, Any]:
    status, got = call(port, "POST", f"/workorders/{order_id}/steps", who, body)
    assert status == 200, (body, status, got)
    return dict(got)


def test_R19_R20_a_known_customer_calls_from_a_second_number_and_the_order_is_followed_to_the_return_visit(
        sandbox: Sandbox, start_engine) -> None:  # type: ignore[no-untyped-def]
    agent = sandbox.agent("1001")
    _, trace = customers(sandbox, "customer_answer.xml", "lifecycle")
    department = Webhook()
    engine = start_engine(agents=[], extra=config(f"http://127.0.0.1:{department.port}"), recording=True)
    port = engine.port
    engine.post("/agents/1001/pause", {"reason": "meeting"})  # (ready once the record is made)

    # R19: the customer's record, with two numbers. A first call (its number withheld): its
    # disposition makes the record with the contact number; the agent adds the mobile.
    first = sandbox.call_scenario("caller.xml", "100", 1500)
    engine.post("/agents/1001/ready")
    assert first.wait(40) == 0, first.output()
    agent.leg_with(first.outcome(5).hung_up_itself(1500))
    wait_for(lambda: engine.agent("1001")["last_call_id"], 10, "the first call on 1001's record")
    first_id = engine.agent("1001")["last_call_id"]
    status, _ = call(port, "POST", f"/calls/{first_id}/disposition", OWNER, {"kind": "consultation", "fields": {
        "customer_name": "王小明", "address": "北區和平路 1 號", "region": "north", "contact_number": CONTACT,
        "account_id": "M-2026-0931", "content": "問收費"}})
    assert status == 201
    status, (record,) = call(port, "GET", f"/customers?number={CONTACT}", ADMIN)
    assert status == 200 and [n["number"] for n in record["numbers"]] == [CONTACT]
    status, edited = call(port, "PATCH", f"/customers/{record['customer_id']}", OWNER,
                          {"numbers": [CONTACT, NUMBER]})
    assert status == 200, edited
    wait_for(lambda: engine.agent("1001")["state"] == "ready", 10, "1001 ready after the wrap-up")

    caller = number_caller(sandbox, "100", 1500)  # from NUMBER (13812345678), the record's second number
    assert caller.wait(40) == 0, caller.output()
    agent.leg_with(caller.outcome(5).hung_up_itself(1500))
    wait_for(lambda: engine.agent("1001")["last_call_id"] not in (None, first_id), 10, "the call on 1001's record")
    call_id = engine.agent("1001")["last_call_id"]

    # The desk pops the record, matched by the number called from; the form's facts from it.
    status, desk = call(port, "GET", "/desk/1001", OWNER)
    assert status == 200 and desk["call"]["caller"] == NUMBER
    popped = desk["customer"]
    assert popped["customer_id"] == record["customer_id"] and popped["name"] == "王小明"
    assert popped["account_id"] == "M-2026-0931" and {n["number"] for n in popped["numbers"]} == {CONTACT, NUMBER}
    assert first_id in str(popped["calls"])  # the earlier call, on the record
    (address,) = popped["addresses"]
    prefilled = {"customer_name": popped["name"], "address": address["address"], "region": address["region"],
                 "contact_number": CONTACT, "account_id": popped["account_id"]}

    # The agent reads the key facts back (the number to call back on: the one on record, not
    # this mobile); the customer confirms. The order is dispatched.
    status, done = call(port, "POST", f"/calls/{call_id}/disposition", OWNER, {"kind": "fault-report", "fields": {
        **prefilled, "content": "燃氣表漏氣", "occurred_at": "今晨 7 時", "urgency": "high",
        "read_back": "confirmed"}})
    assert status == 201, done
    order_id = done["order"]["order_id"]
    assert done["order"]["department"] == "north-repair" and done["order"]["fields"]["read_back"] == "confirmed"
    wait_for(lambda: [d for d in department.received if d.get("order_id") == order_id], 15, "the webhook delivered")
    wait_for(lambda: call(port, "GET", f"/workorders/{order_id}", ADMIN)[1]["status"] == "dispatched", 15,
             "the order dispatched")

    # The department accepts, agrees a visit, then reports a delay with a new due time.
    step(port, NORTH, order_id, {"step": "accept"})
    visit = (datetime.now(timezone.utc) + timedelta(hours=3)).isoformat()
    step(port, NORTH, order_id, {"step": "visit", "visit_at": visit, "note": "客戶下午在家"})
    new_due = (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()
    delayed = step(port, NORTH, order_id, {"step": "delay", "reason": "零件缺貨", "due_at": new_due})
    assert delayed["due_at"] == datetime.fromisoformat(new_due).timestamp()
    # The owner's desk: the task to tell the customer, with the reason.
    status, tasks = call(port, "GET", "/tasks", OWNER)
    assert status == 200 and [t["order_id"] for t in tasks] == [order_id] and "零件缺貨" in tasks[0]["note"]
    status, _ = call(port, "POST", f"/tasks/{tasks[0]['task_id']}/done", OWNER, {"outcome": "客戶同意延期"})
    assert status == 200

    # The second department is asked to help: its system is told; then the order is handed
    # over to it: it is responsible and is sent the order; both see it.
    helped = step(port, NORTH, order_id, {"step": "help", "department": "service", "note": "需表務協助"})
    assert helped["department"] == "north-repair" and helped["helpers"] == ["service"]
    wait_for(lambda: [d for d in department.received if d.get("order_id") == order_id
                      and d.get("type") == "work-order-help"], 15, "the helping department told")
    assert call(port, "GET", f"/workorders/{order_id}", SERVICE)[0] == 200
    moved = step(port, NORTH, order_id, {"step": "hand-over", "department": "service", "reason": "屬表務"})
    assert moved["department"] == "service" and "north-repair" in moved["helpers"]
    wait_for(lambda: [d for d in department.received if d.get("order_id") == order_id
                      and d.get("type") == "work-order" and d.get("department") == "service"], 15,
             "the order sent to the second department")
    wait_for(lambda: call(port, "GET", f"/workorders/{order_id}", ADMIN)[1]["status"] == "dispatched", 15,
             "dispatched to the second department")
    assert call(port, "GET", f"/workorders/{order_id}", NORTH)[0] == 200
    assert call(port, "POST", f"/workorders/{order_id}/steps", NORTH, {"step": "done"})[0] == 404
    step(port, SERVICE, order_id, {"step": "accept"})
    step(port, SERVICE, order_id, {"step": "arrive"})
    closed = step(port, SERVICE, order_id, {"step": "done", "note": "已換表"})
    assert closed["status"] == "done" and closed["return_visit_at"] is not None
    assert re.search(r"^cti_workorders_late_on_site_total 0(\.0)?$", engine.text("/metrics"), re.M)  # arrived in time

    # The return visit: the agent first, then the contact number recorded (not the caller's).
    wait_for(lambda: engine.lines(r"return-visit rv1\.\S+ queued", wait=0), 15, "the return visit queued")
    visit_id = engine.lines(r"return-visit (rv1\.\S+) queued", wait=0)[0].group(1)
    wait_for(lambda: engine.lines(rf"callback {visit_id}: attempt 1 answered", wait=0), 30, "the customer answered")
    text = trace.read_text(errors="replace")
    assert f"INVITE sip:{CONTACT}@" in text and f"INVITE sip:{NUMBER}@" not in text
    assert len(received(trace, "INVITE")) == 1
    sandbox.ari("DELETE", f"/channels/{visit_id}")
    history = [h.get("step") or h["status"] for h in call(port, "GET", f"/workorders/{order_id}", ADMIN)[1]["history"]]
    assert history == ["new", "dispatched", "accept", "visit", "delay", "help", "hand-over", "dispatched", "accept",
                       "arrive", "done"]
    department.close()
