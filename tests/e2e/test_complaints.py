"""R16 complaints closed with the customer, on the sandbox: a complaint call from a
customer's mobile, owned by the agent who took it; the owner's feedback call rings the
agent's phone first, then the customer's (a SIPp UAS on the `customers` trunk), and is
recorded; the customer is not satisfied, so the complaint goes up to the supervisor's
level; the engine, run again on a clock past the working-day due time (a weekend and a
configured holiday in between), sends it up to the manager with an alert (log, metric,
wallboard); the manager's result is accepted. R5: a purge run on a clock past six
months deletes none of the customer's recordings while the complaint is open; after
the close plus the retention period they go."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher

from tests.e2e.harness import Sandbox, wait_for
from tests.e2e.harness.clock import days_ahead
from tests.e2e.harness.sipp import sandbox_root, write_scenario
from tests.e2e.test_auth import basic, call
from tests.e2e.test_callbacks import customers, received

NUMBER = "13812345678"
ZONE = "Asia/Shanghai"
FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
OWNER = basic("1001", "432109")
LI, WANG = basic("li", "li-password-1"), basic("wang", "wang-password-1")


def first_weekday_after(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def working_day_due(received_at: float, days: int, holiday: date) -> date:
    """The last working day of the promise, counted by hand: Monday to Friday, not the holiday."""
    day = datetime.fromtimestamp(received_at, ZoneInfo(ZONE)).date()
    while days:
        day += timedelta(days=1)
        days -= day.weekday() < 5 and day != holiday
    return day


def config(holiday: date) -> str:
    return f"""
[[queues]]
name = "support"
wrap_up_s = 3
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

[[auth.accounts]]
name = "li"
role = "supervisor"
password_hash = "{FAST.hash('li-password-1')}"
[[auth.accounts]]
name = "wang"
role = "supervisor"
password_hash = "{FAST.hash('wang-password-1')}"

[site]
timezone = "{ZONE}"
workdays = ["mon", "tue", "wed", "thu", "fri"]
holidays = ["{holiday.isoformat()}"]

[complaints]
feedback_days = 3
[complaints.accounts]
supervisor = ["li"]
manager = ["wang"]

[workorders]
check_interval_s = 0.5
[[workorders.departments]]
name = "service"
webhook_url = "http://127.0.0.1:9/unreachable"
[[workorders.rules]]
department = "service"
due_h = 24
"""


def complaint(port: int, order_id: str) -> dict[str, Any]:
    status, got = call(port, "GET", f"/complaints/{order_id}", OWNER)
    assert status == 200, got
    return dict(got)


def step(port: int, who: str, order_id: str, status: str, note: str = "", channel: str | None = None) -> None:
    body = {"status": status, "note": note, **({"channel": channel} if channel else {})}
    code, got = call(port, "POST", f"/complaints/{order_id}/steps", who, body)
    assert code == 200, (status, code, got)


def purge(config_path: str, days: int) -> str:
    """``cti recordings purge`` on a clock ``days`` ahead; what it printed."""
    out = subprocess.run([sys.executable, "-m", "cti.cli", "recordings", "--config", config_path, "--as", "e2e",
                          "purge"], capture_output=True, text=True, timeout=60,
                         env={**os.environ, **days_ahead(days)})
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_R16_R5_a_complaint_is_called_back_escalated_by_working_days_accepted_and_its_recordings_kept(
        sandbox: Sandbox, start_engine) -> None:  # type: ignore[no-untyped-def]
    agent = sandbox.agent("1001")
    _, trace = customers(sandbox, "customer_answer.xml", "complaint")
    holiday = first_weekday_after(datetime.now(ZoneInfo(ZONE)).date())  # inside the three working days
    cfg = config(holiday)
    engine = start_engine(agents=[], extra=cfg, recording=True)
    # The complaint call, from the customer's mobile; agent 1001 takes it.
    base = (sandbox_root() / "opt/cti-sipp/caller.xml").read_text()
    caller = sandbox.call_scenario(write_scenario("caller-complaint.xml",
                                                  base.replace("sip:caller@", f"sip:{NUMBER}@")), "100", 3000)
    assert caller.wait(40) == 0, caller.output()
    agent.leg_with(caller.outcome(5).hung_up_itself(3000))
    wait_for(lambda: engine.agent("1001")["last_call_id"], 10, "the call on 1001's record")
    call_id = engine.agent("1001")["last_call_id"]
    status, done = call(engine.port, "POST", f"/calls/{call_id}/disposition", OWNER, {
        "kind": "complaint", "fields": {"customer_name": "王", "contact_number": NUMBER,
                                        "content": "維修人員遲到兩小時"}})
    assert status == 201, done
    order_id = done["order"]["order_id"]
    got = complaint(engine.port, order_id)
    assert (got["owner"], got["level"], got["status"]) == ("1001", "owner", "received")
    # Due at the end of the third working day: weekends and the holiday count for nothing.
    due_day = datetime.fromtimestamp(got["feedback_due"] - 1, ZoneInfo(ZONE)).date()
    assert due_day == working_day_due(got["received_at"], 3, holiday), (due_day, holiday)

    # The owner's feedback call: 1001's phone first, then the customer's; recorded.
    wait_for(lambda: engine.agent("1001")["state"] == "ready", 10, "1001 ready after wrap-up")
    status, placed = call(engine.port, "POST", f"/complaints/{order_id}/feedback-call", OWNER, {})
    assert status == 202, placed
    feedback = placed["call_id"]
    wait_for(lambda: engine.lines(rf"offer call {feedback} to agent 1001", wait=0), 15, "the agent's phone first")
    wait_for(lambda: engine.lines(rf"callback {feedback}: attempt 1 answered", wait=0), 20, "the customer answered")
    assert f"INVITE sip:{NUMBER}@" in trace.read_text(errors="replace") and received(trace, "INVITE")
    wait_for(lambda: [b for b in sandbox.bridges() if b["id"] == f"cti-{feedback}" and len(b["channels"]) == 2],
             10, "the agent and the customer bridged")
    time.sleep(2.0)  # two seconds of the result told
    sandbox.ari("DELETE", f"/channels/{feedback}")  # the customer hangs up
    wait_for(lambda: engine.lines(rf"hung up: call {feedback} handled by agent 1001", wait=0), 10, "handled")

    def recorded(which: str) -> Any:
        found = [m for m in engine.recordings() if m["call_id"] in (which, f"{which}-callback")]
        return found[0] if found else None
    meta = wait_for(lambda: recorded(feedback), 30, "the feedback call's recording archived")
    assert meta["duration_s"] >= 1.5 and meta["caller"] == NUMBER and not meta["problem"], meta
    first = wait_for(lambda: recorded(call_id), 30, "the complaint call's recording archived")

    # The result given on that call; the customer is not satisfied: up to the supervisor.
    step(engine.port, OWNER, order_id, "investigating")
    step(engine.port, OWNER, order_id, "result-given", "crew delayed by a gas leak elsewhere; apology", "phone")
    step(engine.port, OWNER, order_id, "not-satisfied", "wants the fee waived")
    step(engine.port, LI, order_id, "investigating", "reopened by the floor supervisor")
    got = complaint(engine.port, order_id)
    assert got["level"] == "supervisor" and [h.get("call_id") for h in got["history"]].count(feedback) == 1

    # R5: a purge on a clock past six months deletes none of the customer's recordings.
    said = purge(str(engine.config_path), 200)
    assert call_id not in said and feedback not in said, said
    assert recorded(feedback) and recorded(call_id)
    assert engine.stop() == 0

    # The engine again, on a clock a day past the supervisor's due time: up to the manager.
    complaint_due = got["feedback_due"]
    ahead = math.ceil((complaint_due - time.time()) / 86400) + 1
    late = start_engine(agents=[], extra=cfg, recording=True, env=days_ahead(ahead))
    wait_for(lambda: late.lines(rf"R16 ALERT: complaint {order_id}: feedback overdue, escalated to manager",
                                wait=0), 15, "the late feedback sent up to the manager")
    got = complaint(late.port, order_id)
    assert got["level"] == "manager" and got["feedback_due"] > complaint_due
    assert any(a.get("type") == "ComplaintOverdue" and a.get("order_id") == order_id
               for a in late.get("/wallboard/live")["alerts"])
    assert re.search(r"^cti_complaints_escalated_total 1(\.0)?$", late.text("/metrics"), re.M)
    code, _ = call(late.port, "POST", f"/complaints/{order_id}/steps", LI, {"status": "result-given",
                                                                           "note": "x", "channel": "phone"})
    assert code == 403  # the manager's level now
    step(late.port, WANG, order_id, "result-given", "fee waived, written apology", "phone")
    step(late.port, WANG, order_id, "accepted", "the customer accepts")
    got = complaint(late.port, order_id)
    assert not got["open"] and got["status"] == "accepted"
    closed_at = got["history"][-1]["at"]
    assert late.stop() == 0
    # Closed, the hold stays for the retention period counted from the close: a purge past
    # six months from the calls (but not from the close) still deletes neither.
    said = purge(str(engine.config_path), 200)
    assert call_id not in said and feedback not in said, said
    # Closed: the normal retention runs from the close. A purge at the close plus six
    # months and a day, once the engine has released the hold, deletes them.
    after = math.ceil((closed_at + 6 * 30.44 * 86400 - time.time()) / 86400) + 2
    released = start_engine(agents=[], extra=cfg, recording=True, env=days_ahead(after))
    wait_for(lambda: released.lines(rf"R5: complaint {order_id}: hold \S+ released", wait=0), 15,
             "the hold released by the engine")
    assert released.stop() == 0
    said = purge(str(engine.config_path), after)
    assert call_id in said and feedback in said, said
    assert first["call_id"] == call_id
