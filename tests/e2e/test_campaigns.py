"""R11 campaigns and answering machines on the sandbox: SIPp UAS on the `customers`
trunk (127.0.0.1:5090) stand for the customers, SIPp UAS for the agents, the engine
dials through real Asterisk."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from tests.e2e.harness import ADMIN_TOKEN, Sandbox, stop_group, wait_for
from tests.e2e.test_auth import basic, call
from tests.e2e.test_callbacks import customers, received

PIN = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("432109")
ADMIN = f"Bearer {ADMIN_TOKEN}"
CONFIG = """
[[queues]]
name = "support"
ring_cycle_s = 5
wrap_up_s = 0
announce_agent_id = false

[[agents]]
id = "1001"
endpoint = "PJSIP/agent1001"
queues = ["support"]
login_at_start = true
pin_hash = "{pin}"

[[agents]]
id = "1002"
endpoint = "PJSIP/agent1002"
queues = ["support"]
login_at_start = {second}
pin_hash = "{pin}"

[[trunks]]
name = "customers"
endpoint = "PJSIP/{{number}}@customers"
region = "CN"
allowed_prefixes = ["13"]
detect_machines = {amd}

[return_visits]
queue = "support"
poll_s = 0.3
"""


def config(amd: bool = False, second: bool = True) -> str:
    return CONFIG.format(pin=PIN, amd=str(amd).lower(), second=str(second).lower())


def campaign(engine: Any, numbers: list[str], **extra: Any) -> str:
    status, made = call(engine.port, "POST", "/campaigns", ADMIN, {
        "name": "回訪 e2e", "queue": "support", "csv": "number,name\n" + "".join(f"{n},客戶{i}\n" for i, n in enumerate(numbers)),
        "script": "您好，這裡是燃氣客服回訪。", **extra})
    assert status == 201, made
    return str(made["campaign_id"])


def progress(engine: Any, campaign_id: str) -> dict[str, int]:
    status, rows = call(engine.port, "GET", "/campaigns", ADMIN)
    assert status == 200
    (row,) = [r for r in rows if r["campaign_id"] == campaign_id]
    return dict(row["progress"])


def invites_by_number(trace: Path) -> dict[str, int]:
    text = trace.read_text(errors="replace") if trace.exists() else ""
    counts: dict[str, int] = {}
    for number in re.findall(r"^\s*INVITE sip:(\d+)@", text, re.M):
        counts[number] = counts.get(number, 0) + 1
    return counts


class Desk:
    """The agents' side of a campaign: each customer bridged is talked to for a moment,
    the customer hangs up, and the agent records the disposition. Counts how many
    customers were being dialled or talked to at once (Asterisk's channels)."""

    def __init__(self, sandbox: Sandbox, engine: Any) -> None:
        self.sandbox, self.engine = sandbox, engine
        self.most_at_once = 0
        self.bridged_at: dict[str, float] = {}
        self.disposed: list[str] = []

    def step(self) -> None:
        legs = [ch for ch in self.sandbox.channels() if str(ch.get("name", "")).startswith("PJSIP/customers-")]
        self.most_at_once = max(self.most_at_once, len(legs))
        now = time.monotonic()
        for bridge in self.sandbox.bridges():
            if bridge["id"].startswith("cti-rv") and len(bridge["channels"]) == 2:
                if bridge["id"].removeprefix("cti-") not in self.disposed:
                    self.bridged_at.setdefault(bridge["id"].removeprefix("cti-"), now)
        for call_id, since in list(self.bridged_at.items()):
            if now - since >= 1.0:
                agent = next((a["agent_id"] for a in self.engine.get("/agents") if a.get("call_id") == call_id), None)
                if agent is not None:  # the agent records the outcome while talking
                    status, done = call(self.engine.port, "POST", f"/calls/{call_id}/disposition", basic(agent, "432109"),
                                        {"kind": "return-visit", "fields": {
                                            "outcome": "satisfied", "score": "5", "solved": "yes",
                                            "comment": "師傅很準時"}})
                    assert status == 201, done
                    self.disposed.append(call_id)
                try:
                    self.sandbox.ari("DELETE", f"/channels/{call_id}")  # the customer hangs up
                except Exception:
                    pass
                del self.bridged_at[call_id]

    def until(self, predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
            self.step()
            time.sleep(0.15)


def test_R11_campaign_of_ten_with_two_agents_never_dials_more_than_two_nor_the_do_not_call_number(
        sandbox: Sandbox, start_engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A CSV of 10 customers, one of them on the do-not-call list, two agents: at no
    moment more than two customers' legs in Asterisk (progressive: one per free agent),
    the blocked number never INVITEd, the nine others dialled once each, talked to, and
    their dispositions recorded, with the customers' answers (R17: score, solved)."""
    sandbox.agent("1001")
    sandbox.agent("1002")
    _, trace = customers(sandbox, "customer_answer.xml", "campaign")
    engine = start_engine(agents=[], extra=config())
    numbers = [f"1381234{5600 + i}" for i in range(10)]
    status, _ = call(engine.port, "POST", "/do-not-call", ADMIN, {"number": numbers[3], "reason": "asked"})
    assert status == 201
    campaign_id = campaign(engine, numbers)
    desk = Desk(sandbox, engine)
    desk.until(lambda: progress(engine, campaign_id).get("done", 0) == 9, 150, "nine customers handled")
    assert desk.most_at_once <= 2, f"{desk.most_at_once} customers dialled at once with two agents"
    assert desk.most_at_once == 2  # both agents were used
    wait_for(lambda: progress(engine, campaign_id) == {"done": 9, "closed": 1}, 15, "nine done, one closed")
    # (SIPp writes its message trace as it goes: the last INVITEs may reach the file late)
    expected = {n: 1 for n in numbers if n != numbers[3]}
    wait_for(lambda: invites_by_number(trace) == expected, 10, "each allowed customer INVITEd once in the trace")
    invited = invites_by_number(trace)
    assert numbers[3] not in invited  # R11/R14: the do-not-call list is checked before dialling
    assert invited == expected
    wait_for(lambda: len(desk.disposed) == 9, 10, "nine dispositions")
    with sqlite3.connect(f"file:{tmp_path / 'cti.sqlite'}?mode=ro", uri=True) as db:
        kinds = db.execute("SELECT kind, COUNT(*) FROM dispositions GROUP BY kind").fetchall()
    assert kinds == [("return-visit", 9)]
    (visits,) = engine.get("/reports/satisfaction?source=visit&by=all")["rows"]
    assert (visits["offered"], visits["responses"], visits["mean_score"], visits["solved_rate"]) == (9, 9, 5.0, 1.0)
    figures = engine.get("/wallboard.json")
    assert figures["campaigns"][campaign_id]["done"] == 9 or progress(engine, campaign_id)["done"] == 9
    # The wallboard's own figure, not only the API's (it may lag a moment behind).
    wait_for(lambda: engine.get("/wallboard.json")["campaigns"][campaign_id]["done"] == 9, 15,
             "the wallboard to show the nine done")


def test_R2_R11_an_answering_machine_is_told_apart_then_a_person_is_bridged(
        sandbox: Sandbox, start_engine) -> None:  # type: ignore[no-untyped-def]
    """Machine detection on the trunk (Asterisk's AMD): the first attempt is answered
    by a machine's long greeting: hung up at once, never bridged to the agent, counted
    as "machine"; the retry is answered by a person ("Hello?"): bridged and recorded."""
    sandbox.agent("1001")
    machine, trace = customers(sandbox, "customer_machine.xml", "machine")
    engine = start_engine(agents=[], extra=config(amd=True, second=False), recording=True)
    campaign_id = campaign(engine, ["13812345601"], max_attempts=2, retry_h=0.003)  # retried after 11 s
    (first,) = wait_for(lambda: engine.lines(r"callback (rv1\.\S+): attempt 1 machine", wait=0), 40,
                        "the machine told apart")
    first_id = first.group(1)
    wait_for(lambda: received(trace, "BYE"), 5, "the machine hung up (a BYE at its phone)")
    assert not engine.lines(rf"callback {first_id}: attempt 1 answered", wait=0)
    assert engine.agent("1001")["state"] == "ready"  # the agent is free again at once
    wait_for(lambda: progress(engine, campaign_id) == {"scheduled": 1}, 5, "the entry scheduled again")
    stop_group(machine.proc)
    customers(sandbox, "customer_person.xml", "person")
    (second,) = wait_for(lambda: engine.lines(r"callback (rv2\.\S+): attempt 1 answered", wait=0), 40,
                         "the person answering the retry")
    second_id = second.group(1)
    wait_for(lambda: [b for b in sandbox.bridges() if b["id"] == f"cti-{second_id}" and len(b["channels"]) == 2],
             10, "the agent and the person bridged")
    metrics = engine.text("/metrics")
    assert 'cti_callback_attempts_total{outcome="machine",queue="support"} 1.0' in metrics
    assert 'cti_callback_connect_ratio{queue="support"} 0.5' in metrics
    time.sleep(1.5)
    sandbox.ari("DELETE", f"/channels/{second_id}")
    wait_for(lambda: progress(engine, campaign_id) == {"done": 1}, 15, "the entry done")

    def recording() -> Any:
        return next((m for m in engine.recordings() if m["call_id"] == second_id), None)
    meta = wait_for(recording, 30, "the person's call recorded")
    assert meta["rms"] > 0 and not meta["problem"], meta
    assert not [m for m in engine.recordings() if m["call_id"] == first_id]  # the machine: nothing to record


def test_R11_kill_9_with_a_campaign_running_dials_nobody_twice(
        sandbox: Sandbox, start_engine) -> None:  # type: ignore[no-untyped-def]
    """kill -9 of the engine (Redis journal, SQLite store) while a campaign customer's
    phone rings, and the customer answers before the engine is back (the dialplan
    keeps the answered leg, knocking until the engine is there): the restarted engine
    takes the answered customer and bridges them, goes on with the rest, and every
    customer is INVITEd exactly once."""
    sandbox.agent("1001")
    sandbox.agent("1002")
    _, trace = customers(sandbox, "customer_answer.xml", "killed", "-set", "ring_ms", "4000")
    first = start_engine(redis=True, agents=[], extra=config())
    numbers = [f"1391234{7700 + i}" for i in range(6)]
    campaign_id = campaign(first, numbers)
    desk = Desk(sandbox, first)
    desk.until(lambda: progress(first, campaign_id).get("done", 0) >= 2, 60, "two customers handled")
    desk.until(lambda: any(k["state"] == "dialing" for k in first.get("/calls")), 30, "a customer ringing")
    first.kill()
    wait_for(lambda: any(ch.get("state") == "Up" for ch in sandbox.channels()
                         if str(ch.get("name", "")).startswith("PJSIP/customers-")), 15,
             "the ringing customer answering while no engine is there")
    time.sleep(1.5)  # a knock or two at the door
    second = start_engine(redis=True, agents=[], extra=config())
    desk = Desk(sandbox, second)
    desk.until(lambda: progress(second, campaign_id).get("done", 0) == 6, 90, "every customer handled")
    assert invites_by_number(trace) == {n: 1 for n in numbers}  # nobody dialled twice
    assert desk.most_at_once <= 2


def test_R11_detect_machines_without_asterisks_AMD_is_refused_at_start(
        sandbox: Sandbox, start_engine) -> None:  # type: ignore[no-untyped-def]
    """A key the engine cannot honour is refused: with app_amd unloaded from Asterisk a
    trunk with detect_machines = true stops the start with a clear message."""
    import pytest

    from tests.e2e.harness.sandbox import asterisk_cli as asterisk

    asterisk("module unload app_amd.so")
    try:
        with pytest.raises(AssertionError, match=r"detect_machines = true but Asterisk's app_amd is"):
            start_engine(agents=[], extra=config(amd=True, second=False))
    finally:
        asterisk("module load app_amd.so")
    assert "Running" in asterisk("module show like app_amd")
    start_engine(agents=[], extra=config(amd=True, second=False))  # loaded again: it starts
