"""R11 queued callbacks and R2 on their dial-outs, on the sandbox: a SIPp UAS on the
`customers` trunk (port 5090 of the instance's address) stands for the customers."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from tests.e2e.harness import HOST, Sandbox, keys_scenario, wait_for
from tests.e2e.harness.sipp import Sipp, holds, sandbox_root, write_scenario

NUMBER = "13812345678"
PIN = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("432109")
CONFIG = """
[[queues]]
name = "support"
ring_cycle_s = {ring}
wrap_up_s = 0
announce_agent_id = false
callback_retry_s = {retry}
callback_max_attempts = 2

[[agents]]
id = "1001"
endpoint = "PJSIP/agent1001"
queues = ["support"]
login_at_start = true

pin_hash = "{pin}"

[[trunks]]
name = "customers"
endpoint = "PJSIP/{{number}}@customers"
region = "CN"
allowed_prefixes = ["13"]

[plan]
queue = "support"
mode = "confirm"
[plan.levels.III]
enter = {{ waiting_at_least = 50 }}
leave = {{ waiting_at_most = 0 }}
offer_callbacks = true
"""


def customers(sandbox: Sandbox, scenario: str, tmp: str, *extra: str) -> tuple[Sipp, Path]:
    """The customers' SIPp UAS, tracing every SIP message with its time."""
    trace = f"customers-{tmp}.log"
    (sandbox_root() / "opt/cti-sipp" / trace).unlink(missing_ok=True)
    sipp = sandbox.sipp("customers", "-sf", scenario, "-i", HOST, "-p", "5090", "-mp", "29000",
                        "-trace_msg", "-message_file", trace, "-trace_err", *extra)
    return sipp, sandbox_root() / "opt/cti-sipp" / trace


def received(trace: Path, method: str) -> list[float]:
    """When the customers' UAS received each ``method`` request (SIPp's message trace)."""
    text = trace.read_text(errors="replace") if trace.exists() else ""
    stamps = []
    for block in text.split("----------------------------------------------- ")[1:]:
        head, _, rest = block.partition("\n")
        if "message received" in rest.split("\n", 1)[0] and re.search(rf"^\s*{method} sip:", rest, re.M):
            stamps.append(datetime.fromisoformat(head.strip()[:26]).timestamp())
    return stamps


def mobile_keys_caller(sandbox: Sandbox, keys: str, talk_ms: int, then_ms: int | None = None) -> Sipp:
    """13812345678 presses ``keys`` (1 takes the callback; then 1 confirms the number,
    or 2 and another number ended by #)."""
    name = keys_scenario(keys, 2500, then_ms)
    mobile = write_scenario(name.replace(".xml", "-mobile.xml"), (sandbox_root() / "opt/cti-sipp" / name)
                            .read_text().replace("sip:caller@", f"sip:{NUMBER}@"))
    return sandbox.call_scenario(mobile, "100", talk_ms)


def callback_waiting(engine: Any) -> str:
    found = [k for k in engine.get("/calls") if k["callback"]]
    assert found, "no callback waiting"
    return str(found[0]["call_id"])


def test_R11_queued_callback_keeps_its_place_and_is_bridged_and_recorded(
        sandbox: Sandbox, start_engine) -> None:  # type: ignore[no-untyped-def]
    sandbox.agent("1001")
    customer, trace = customers(sandbox, "customer_answer.xml", "answer")
    engine = start_engine(agents=[], extra=CONFIG.format(ring=5, retry=30, pin=PIN), recording=True)
    engine.post("/agents/1001/pause", {"reason": "meeting"})
    engine.post("/plan/level", {"level": "III"})  # callbacks offered to new callers
    first = sandbox.call(talk_ms=20000)
    wait_for(lambda: len(engine.get("/calls")) == 1, 15, "the first caller waiting")
    second = mobile_keys_caller(sandbox, "11", 30000, 4000)
    wait_for(lambda: [k for k in engine.get("/calls") if k["callback"]], 25, "the second caller's callback")
    callback = callback_waiting(engine)
    second.wait(30)  # the farewell hangs the caller up
    second.outcome(5).cut_off()  # by the PBX (the farewell), not by the caller giving up
    third = sandbox.call(talk_ms=20000)
    wait_for(lambda: len(engine.get("/calls")) == 3, 15, "the third caller waiting")
    # Hanging up after taking the callback abandoned nothing: three calls, in arrival order.
    calls = engine.get("/calls")
    assert [k["callback"] for k in sorted(calls, key=lambda k: k["arrived_at"])] == [False, True, False]
    assert not engine.lines(rf"hung up: call {callback} abandoned", wait=0)
    holds(lambda: not engine.lines(rf"hung up: call {callback} abandoned", wait=0), 2.0,
          "the callback never counted as abandoned")

    engine.post("/agents/1001/ready")
    (offer_first,) = engine.lines(r"offer call (\S+) to agent 1001", wait=15)[:1]
    first_id = offer_first.group(1)
    assert first_id != callback
    sandbox.ari("DELETE", f"/channels/{first_id}")  # the first conversation ends
    # Next: the callback, before the third caller. The agent answers, then the customer.
    wait_for(lambda: engine.lines(rf"offer call {callback} to agent 1001", wait=0), 15, "the callback offered")
    wait_for(lambda: engine.lines(rf"callback {callback}: attempt 1 answered", wait=0), 20, "the customer answered")
    wait_for(lambda: [b for b in sandbox.bridges() if b["id"] == f"cti-{callback}" and len(b["channels"]) == 2],
             10, "the agent and the customer bridged")
    assert received(trace, "INVITE"), "the customer's phone was never rung"
    time.sleep(2.0)  # two seconds of conversation on the recording
    sandbox.ari("DELETE", f"/channels/{callback}")  # the customer hangs up
    wait_for(lambda: engine.lines(rf"hung up: call {callback} handled by agent 1001", wait=0), 10,
             "the callback handled")
    offers = [m.group(1) for m in engine.lines(r"offer call (\S+) to agent 1001", wait=10)]
    wait_for(lambda: len([m for m in engine.lines(r"offer call (\S+) to agent 1001", wait=0)]) >= 3, 15,
             "the third caller offered after the callback")
    offers = [m.group(1) for m in engine.lines(r"offer call (\S+) to agent 1001", wait=0)]
    assert offers[:2] == [first_id, callback] and offers[2] not in (first_id, callback)
    # R4: the conversation has a recording of its own, with audio in it, labelled.
    def recording() -> Any:
        found = [m for m in engine.recordings() if m["call_id"] == f"{callback}-callback"]
        return found[0] if found else None
    meta = wait_for(recording, 30, "the callback's recording archived")
    assert meta["duration_s"] >= 1.5 and meta["rms"] > 0 and not meta["problem"], meta
    assert (meta["agent_id"], meta["queue"], meta["caller"]) == ("1001", "support", NUMBER)
    sandbox.ari("DELETE", f"/channels/{offers[2]}")
    for sipp in (first, third):
        sipp.wait(40)
        sipp.outcome(5).cut_off()  # each served, then its line ended by the PBX (the DELETEs)


def test_R2_R11_a_customer_who_never_answers_is_cancelled_at_six_rings_and_retried(
        sandbox: Sandbox, start_engine) -> None:  # type: ignore[no-untyped-def]
    sandbox.agent("1001")
    customer, trace = customers(sandbox, "agent_noanswer.xml", "noanswer")
    engine = start_engine(agents=[], extra=CONFIG.format(ring=1, retry=3, pin=PIN))
    engine.post("/agents/1001/pause", {"reason": "meeting"})
    engine.post("/plan/level", {"level": "III"})
    # 1: the callback; 2: another number; keyed in, ended by #: that number is dialled.
    caller = mobile_keys_caller(sandbox, "1213912345678#", 30000, 700)
    wait_for(lambda: [k for k in engine.get("/calls") if k["callback"]], 40, "the callback")
    callback = callback_waiting(engine)
    caller.wait(30)
    caller.outcome(5).cut_off()  # thanked and hung up by the PBX
    engine.post("/agents/1001/ready")
    wait_for(lambda: len(received(trace, "CANCEL")) >= 2, 40, "two attempts, each cancelled")
    invites, cancels = received(trace, "INVITE"), received(trace, "CANCEL")
    assert "INVITE sip:13912345678@" in trace.read_text(errors="replace")  # the number keyed in
    rang = cancels[0] - invites[0]
    assert abs(rang - 6 * 1.0) <= 0.5, f"R2: rang {rang:.2f} s, not 6 rings x 1 s"  # measured on the wire
    assert abs((cancels[1] - invites[1]) - 6.0) <= 0.5
    assert invites[1] - cancels[0] >= 3.0  # the retry waited callback_retry_s
    assert engine.lines(rf"callback {callback}: attempt 1 no-answer after 6\.0 s; next attempt in 3 s")
    wait_for(lambda: engine.lines(rf"callback {callback}: attempt 2 no-answer", wait=0), 10, "the second no-answer")
    wait_for(lambda: engine.lines(rf"hung up: call {callback} callback-unreached", wait=0), 10,
             "the callback closed after its last attempt")
    assert engine.get("/calls") == [] and engine.agent("1001")["state"] == "ready"


def test_R11_kill_9_keeps_the_callbacks_place_and_never_dials_a_customer_twice(
        sandbox: Sandbox, start_engine) -> None:  # type: ignore[no-untyped-def]
    """kill -9 of the engine (Redis journal) twice: once with a callback waiting
    behind nobody and a caller behind it, once while its customer's phone is ringing.
    The callback keeps its place; the customer's phone rings once and the call is
    bridged by the restarted engine."""
    sandbox.agent("1001")
    # The customer lets it ring 8 s (R2 allows 6 x 5 s): time for a crash and a restart.
    _, trace = customers(sandbox, "customer_answer.xml", "restart", "-set", "ring_ms", "8000")
    config = CONFIG.format(ring=5, retry=30, pin=PIN)
    first = start_engine(redis=True, agents=[], extra=config)
    first.post("/agents/1001/pause", {"reason": "meeting"})
    first.post("/plan/level", {"level": "III"})
    caller = mobile_keys_caller(sandbox, "11", 30000, 4000)
    wait_for(lambda: [k for k in first.get("/calls") if k["callback"]], 30, "the callback")
    callback = callback_waiting(first)
    caller.wait(30)
    caller.outcome(5).cut_off()
    behind = sandbox.call(talk_ms=40000)
    wait_for(lambda: len(first.get("/calls")) == 2, 15, "a caller waiting behind the callback")
    first.kill()
    second = start_engine(redis=True, agents=[], extra=config)
    kept = sorted(second.get("/calls"), key=lambda k: k["arrived_at"])
    assert [(k["call_id"], k["callback"]) for k in kept][0] == (callback, True)
    second.post("/agents/1001/ready")
    wait_for(lambda: received(trace, "INVITE"), 20, "the customer's phone ringing")
    second.kill()  # while it rings
    third = start_engine(redis=True, agents=[], extra=config)
    wait_for(lambda: third.lines(rf"callback {callback}: attempt 1 answered", wait=0), 30,
             "the customer answering, under the restarted engine")
    wait_for(lambda: [b for b in sandbox.bridges() if b["id"] == f"cti-{callback}" and len(b["channels"]) == 2],
             10, "the agent and the customer bridged")
    assert len(received(trace, "INVITE")) == 1  # rung once, whatever the crashes
    sandbox.ari("DELETE", f"/channels/{callback}")
    (served,) = wait_for(lambda: third.lines(r"offer call (\S+) to agent 1001", wait=0), 15,
                         "the caller behind served next")
    assert served.group(1) != callback
    wait_for(lambda: third.lines(rf"answered: call {served.group(1)} by agent 1001", wait=0), 15,
             "the caller behind answered")
    sandbox.ari("DELETE", f"/channels/{served.group(1)}")  # done: hung up from the PBX's side
    assert behind.wait(20) == 0, behind.output()
    behind.outcome(5).cut_off()  # on the line through both crashes, until that DELETE


def test_R11_R12_closing_a_repair_order_makes_a_return_visit_that_is_dialled_agent_first(
        sandbox: Sandbox, start_engine) -> None:  # type: ignore[no-untyped-def]
    """The department closes a repair order; the return visit falls due (after 0 days
    here), is queued to the free agent, who is rung first; then the customer is
    dialled through the trunk, answers and is bridged with the agent; the visit is
    done. (The do-not-call list's effect is proved in tests/integration.)"""
    from tests.e2e.harness import ADMIN_TOKEN
    from tests.e2e.test_auth import basic, call, number_caller

    agent = sandbox.agent("1001")
    _, trace = customers(sandbox, "customer_answer.xml", "visit")
    config = CONFIG.format(ring=5, retry=30, pin=PIN).split("[plan]")[0] + """
[[workorders.departments]]
name = "repair"
webhook_url = "http://127.0.0.1:9/unreachable"
[[workorders.rules]]
department = "repair"
due_h = 24
[workorders]
return_visit_after_days = 0

[return_visits]
queue = "support"
poll_s = 0.5
"""
    engine = start_engine(agents=[], extra=config, recording=True)
    admin = f"Bearer {ADMIN_TOKEN}"
    engine.post("/agents/1001/pause", {"reason": "meeting"})
    status, _ = call(engine.port, "POST", "/do-not-call", admin, {"number": "13900000000", "reason": "asked"})
    assert status == 201
    caller = number_caller(sandbox, "100", 1500)  # 13812345678 reports a fault
    engine.post("/agents/1001/ready")
    assert caller.wait(40) == 0, caller.output()
    agent.leg_with(caller.outcome(5).hung_up_itself(1500))  # the fault was reported to the agent
    last = engine.agent("1001")["last_call_id"]
    status, done = call(engine.port, "POST", f"/calls/{last}/disposition", admin, {
        "agent_id": "1001", "kind": "fault-report", "fields": {
            "customer_name": "王", "address": "1 號", "contact_number": NUMBER, "content": "漏氣",
            "occurred_at": "今晨", "urgency": "normal", "region": "north"}})
    assert status == 201, done
    orders = [done["order"]["order_id"]]
    status, closed = call(engine.port, "POST", f"/workorders/{orders[0]}/progress", admin, {"status": "done"})
    assert status == 200 and closed["return_visit_at"] is not None
    # The visit's customer is the caller of the order's call: dialled after the agent answered.
    wait_for(lambda: engine.lines(r"return-visit rv1\.\S+ queued", wait=0), 15, "the return visit queued")
    visit_id = engine.lines(r"return-visit (rv1\.\S+) queued", wait=0)[0].group(1)
    wait_for(lambda: engine.lines(rf"callback {visit_id}: attempt 1 answered", wait=0), 30, "the customer answered")
    wait_for(lambda: [b for b in sandbox.bridges() if b["id"] == f"cti-{visit_id}" and len(b["channels"]) == 2],
             10, "the agent and the customer bridged")
    assert len(received(trace, "INVITE")) == 1
    status, desk = call(engine.port, "GET", "/desk/1001", basic("1001", "432109"))  # the agent's screen
    assert status == 200 and desk["call"]["campaign"] == "return visits", desk["call"]
    assert desk["call"]["customer_name"] == "王" and desk["call"]["order_id"] == orders[0]
    assert desk["call"]["caller"] == NUMBER and desk["call"]["state"] == "connected"
    sandbox.ari("DELETE", f"/channels/{visit_id}")
    wait_for(lambda: call(engine.port, "GET", "/return-visits?status=done", admin)[1], 15, "the visit done")
    (visit,) = call(engine.port, "GET", "/return-visits?status=done", admin)[1]
    assert visit["order_id"] == orders[0] and visit["outcome"] == "handled" and visit["attempts"] == 1
    # The customer asks not to be called again: the agent records it; the number is blocked.
    status, _ = call(engine.port, "POST", f"/calls/{visit_id}/disposition", basic("1001", "432109"),
                     {"kind": "return-visit", "fields": {"outcome": "do-not-call"}})
    assert status == 201
    assert call(engine.port, "GET", "/do-not-call", admin)[1] == sorted(["13900000000", NUMBER])
