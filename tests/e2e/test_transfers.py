"""Transfers and holds from the API on real calls: SIPp callers and agents through the
sandbox, the engine's bridges read back from Asterisk's ARI."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

from argon2 import PasswordHasher
from selenium.webdriver.support.ui import Select

from recording.wav import SILENCE_RMS, inspect
from tests.e2e.harness import HOST, Sandbox, wait_for
from tests.e2e.harness.browser import Page
from tests.e2e.harness.sipp import holds
from tests.e2e.harness.softphone import Softphone
from tests.e2e.harness.toml import ADMIN_TOKEN
from tests.e2e.test_recording import archive_dir
from tests.unit.test_queue_log import read_queue_log


FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


def agents_toml(*specs: str) -> str:
    return "".join(f"\n[[agents]]\n{spec}\n" for spec in specs)


def connected_call(engine: Any, agent_id: str) -> dict[str, Any]:
    return wait_for(lambda: next((k for k in engine.get("/calls") if k["agent_id"] == agent_id
                                  and k["state"] == "connected" and k["bridged"]), None),
                    20, f"a call bridged with agent {agent_id}")


def bridge(sandbox: Sandbox, bridge_id: str) -> set[str]:
    """The channels in an ARI bridge (none when it does not exist, or not yet)."""
    try:
        return set(sandbox.ari("GET", f"/bridges/{bridge_id}")["channels"])
    except OSError:
        return set()


def in_bridge(sandbox: Sandbox, call_id: str) -> set[str]:
    """Who is in the call's bridge: "caller", and the agents whose legs are there."""
    return {"caller" if ch == call_id else ch.split("-")[2] for ch in bridge(sandbox, f"cti-{call_id}")}


def test_attended_transfer_cancel_then_complete_one_recording_both_agents(
        sandbox: Sandbox, start_engine) -> None:  # type: ignore[no-untyped-def]
    """Attended from the API: the caller is held out of the bridge while the agents
    talk; cancel returns the caller to the first agent; a second consult completes.
    The call is recorded in one file across both parts, and the record (queue_log)
    credits each agent with its part."""
    sandbox.agent("1001")
    sandbox.agent("1002")
    engine = start_engine(agents=[], recording=True, extra="""
[[queues]]
name = "support"
wrap_up_s = 1
announce_agent_id = false
hold_max_s = 60
""" + agents_toml('id = "1001"\nendpoint = "PJSIP/agent1001"\nqueues = ["support"]\nlogin_at_start = true',
                  'id = "1002"\nendpoint = "PJSIP/agent1002"\nqueues = ["support"]\nlogin_at_start = false'))
    caller = sandbox.call(talk_ms=12000)
    call_id = connected_call(engine, "1001")["call_id"]
    wait_for(lambda: in_bridge(sandbox, call_id) == {"caller", "1001"}, 10, "the caller bridged with 1001")
    time.sleep(2.0)  # agent 1001 talks a while
    engine.post("/agents/1002/login")
    engine.post(f"/calls/{call_id}/transfer", {"to": "agent", "target": "1002", "attended": True})
    # The consult: both agents in the bridge, the caller out of it (on hold, music).
    wait_for(lambda: in_bridge(sandbox, call_id) == {"1001", "1002"}, 15, "the agents to consult")
    (view,) = engine.get("/calls")
    assert view["on_hold"] and view["consult"] == "1002" and view["consult_answered"]
    engine.post(f"/calls/{call_id}/transfer/cancel")
    wait_for(lambda: in_bridge(sandbox, call_id) == {"caller", "1001"}, 15, "the caller back with agent 1001")
    assert engine.agent("1002")["state"] == "ready" and engine.agent("1001")["state"] == "on-call"
    # Again, and this time complete it.
    engine.post(f"/calls/{call_id}/transfer", {"to": "agent", "target": "1002", "attended": True})
    wait_for(lambda: in_bridge(sandbox, call_id) == {"1001", "1002"}, 15, "the second consult")
    engine.post(f"/calls/{call_id}/transfer/complete")
    wait_for(lambda: in_bridge(sandbox, call_id) == {"caller", "1002"}, 15, "the caller with agent 1002")
    assert engine.get("/calls")[0]["agent_id"] == "1002"
    assert engine.agent("1001")["state"] in ("wrap-up", "ready")
    assert caller.wait(40) == 0, caller.output()  # the caller heard the call through, then hung up
    caller.outcome(5).hung_up_itself(12000)
    # R4: one continuous recording of the whole call, not silent, filed under agent 1002.
    (meta,) = wait_for(lambda: engine.recordings() or None, 30, "the recording archived")
    assert meta["call_id"] == call_id and meta["agent_id"] == "1002"
    info = inspect(archive_dir(engine) / meta["path"])
    assert info.duration_s >= 10.5 and info.rms > SILENCE_RMS, info
    # R13: the record shows the transfer; each agent has its part.
    req = urllib.request.Request(f"http://127.0.0.1:{engine.port}/reports/queue_log",
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    def entries() -> list[Any]:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return read_queue_log(resp.read().decode())
    log = wait_for(lambda: [x for x in entries() if x.callid == call_id and x.event.startswith("COMPLETE")]
                   and [x for x in entries() if x.callid == call_id], 10, "the call in the record")
    events = [(x.event, x.agent) for x in log if x.event in ("CONNECT", "TRANSFER") or x.event.startswith("COMPLETE")]
    assert events[0] == ("CONNECT", "1001") and events[1] == ("TRANSFER", "1001")
    assert events[2] == ("CONNECT", "1002") and events[3][1] == "1002" and len(events) == 4
    (moved,) = [x for x in log if x.event == "TRANSFER"]
    assert moved.data["extension"] == "1002" and int(moved.data["calltime"]) >= 2
    agents = wait_for(lambda: {r["agent"]: r for r in engine.get("/reports/agents?interval=day")["rows"]
                               if r["answered"]}, 10, "the agents' report")
    assert agents["1001"]["answered"] == 1 and agents["1002"]["answered"] == 1
    assert agents["1001"]["talk_s"] > 2 and agents["1002"]["talk_s"] > 2
    sandbox.assert_no_channels()


def test_blind_transfer_to_a_queue_keeps_priority_and_hold_from_the_api(
        sandbox: Sandbox, start_engine) -> None:  # type: ignore[no-untyped-def]
    """A call transferred to another queue keeps its priority there: it is served
    before a lower-priority caller who waited longer. R3: a hold from the API takes
    the caller out of the agent's bridge and back."""
    sandbox.agent("1001")
    gas_phone = sandbox.agent("1003")
    engine = start_engine(agents=[], extra="""
[[queues]]
name = "support"
wrap_up_s = 0
announce_agent_id = false
[[queues]]
name = "gas"
wrap_up_s = 0
announce_agent_id = false
[[routes]]
exten = "100"
queue = "support"
priority = 7
kind = "complaint"
[[routes]]
exten = "300"
queue = "gas"
priority = 1
kind = "repair"
""" + agents_toml('id = "1001"\nendpoint = "PJSIP/agent1001"\nqueues = ["support"]\nlogin_at_start = true',
                  'id = "1003"\nendpoint = "PJSIP/agent1003"\nqueues = ["gas"]\nlogin_at_start = false'))
    early = sandbox.call("300", talk_ms=20000)  # waits in gas: nobody there yet
    wait_for(lambda: len(engine.get("/calls")) == 1, 15, "the gas caller waiting")
    caller = sandbox.call("100", talk_ms=12000)
    call_id = connected_call(engine, "1001")["call_id"]
    engine.post(f"/calls/{call_id}/hold")  # R3 from the API
    wait_for(lambda: in_bridge(sandbox, call_id) == {"1001"}, 10, "the caller out of the bridge")
    assert next(k for k in engine.get("/calls") if k["call_id"] == call_id)["on_hold"]
    engine.post(f"/calls/{call_id}/unhold")
    wait_for(lambda: in_bridge(sandbox, call_id) == {"caller", "1001"}, 10, "the caller back")
    engine.post(f"/calls/{call_id}/transfer", {"to": "queue", "target": "gas"})
    calls = {k["call_id"]: k for k in engine.get("/calls")}
    assert (calls[call_id]["queue"], calls[call_id]["state"], calls[call_id]["priority"],
            calls[call_id]["kind"]) == ("gas", "waiting", 7, "complaint")
    assert calls[call_id]["position"] == 1  # ahead of the caller who waited longer
    wait_for(lambda: engine.agent("1001")["state"] == "ready", 10, "agent 1001 free again")
    engine.post("/agents/1003/login")
    wait_for(lambda: in_bridge(sandbox, call_id) == {"caller", "1003"}, 15, "the transferred call with 1003")
    offers = engine.lines(r"offer call (\S+) to agent 1003")
    assert offers[0].group(1) == call_id
    assert caller.wait(40) == 0, caller.output()
    # The phones: the transferred caller talked to its own hang-up, the rest of it with
    # 1003's phone; the earlier gas caller waited until the PBX ended it.
    gas_phone.leg_with(caller.outcome(5).hung_up_itself(12000))
    for k in engine.get("/calls"):  # the caller still waiting in gas: ended here
        sandbox.ari("DELETE", f"/channels/{k['call_id']}")
    assert early.wait(20) == 0, early.output()
    early.outcome(5).cut_off()


def test_softphone_registers_logs_in_by_feature_code_and_transfers_by_refer(
        sandbox: Sandbox, start_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A real softphone (baresip) registers as agent 2001 with digest authentication,
    logs in with *45 and its PIN, answers a caller by itself and blind-transfers the
    call by SIP REFER to agent 1002, who answers. The recording is one file over both
    parts; the record shows both agents. Agent 2002 is logged in but its phone is not
    registered: it is first in the queue's order, yet never offered the call."""
    sandbox.agent("1002")
    pin = FAST.hash("246813")
    engine = start_engine(agents=[], recording=True, extra="""
[[queues]]
name = "support"
strategy = "linear"
wrap_up_s = 1
announce_agent_id = false
""" + agents_toml(
        'id = "2002"\nendpoint = "PJSIP/agent2002"\nqueues = ["support"]\nlogin_at_start = true',
        f'id = "2001"\nendpoint = "PJSIP/agent2001"\nqueues = ["support"]\nlogin_at_start = false\npin_hash = "{pin}"',
        'id = "1002"\nendpoint = "PJSIP/agent1002"\nqueues = ["support"]\nlogin_at_start = false'))
    phone = Softphone("2001", tmp_path)
    try:
        phone.registered()
        contacts = sandbox.ari("GET", "/endpoints/PJSIP/agent2001")
        assert contacts["state"] == "online"
        wait_for(lambda: "agent 2002: phone unreachable" in engine.log(), 10, "agent 2002's phone seen away")
        # *45 and a wrong PIN: refused, still logged out (the refusal is audited).
        for keys, state in (("111111#", "logged-out"), ("246813#", "ready")):
            mark = len(phone.events)
            phone.command("dial", "*45")
            phone.event("CALL_ESTABLISHED", mark)
            time.sleep(1.0)  # the prompt starts
            phone.command("sndcode", keys)
            phone.event("CALL_CLOSED", mark, timeout=20)  # the engine says how it went and hangs up
            assert engine.agent("2001")["state"] == state, engine.log()
        assert "agent 2001: login from the phone refused (wrong PIN)" in engine.log()
        assert "agent 2001: login from the phone" in engine.log()
        caller = sandbox.call(talk_ms=12000)
        call_id = connected_call(engine, "2001")["call_id"]
        assert not engine.lines(r"offer call \S+ to agent 2002", wait=0)  # the unregistered phone skipped
        holds(lambda: not engine.lines(r"offer call \S+ to agent 2002", wait=0)
              and not [ch for ch in sandbox.channels() if ch["name"].startswith("PJSIP/agent2002")], 2.0,
              "agent 2002 never offered the call, no channel to its phone")
        assert engine.agent("2002")["state"] == "ready"
        time.sleep(2.0)
        engine.post("/agents/1002/login")
        mark = len(phone.events)
        phone.command("transfer", f"sip:1002@{HOST}")  # the phone's own transfer: SIP REFER
        wait_for(lambda: in_bridge(sandbox, call_id) == {"caller", "1002"}, 20, "the caller with agent 1002")
        phone.event("CALL_CLOSED", mark)  # the softphone's leg ended
        assert engine.lines(rf"call {call_id}: agent 2001's phone transferred it to agent 1002")
        assert caller.wait(40) == 0, caller.output()
    finally:
        phone.close()
    (meta,) = wait_for(lambda: engine.recordings() or None, 30, "the recording archived")
    info = inspect(archive_dir(engine) / meta["path"])
    assert meta["call_id"] == call_id and info.duration_s >= 10.5 and info.rms > SILENCE_RMS, info
    agents = wait_for(lambda: {r["agent"]: r for r in engine.get("/reports/agents?interval=day")["rows"]
                               if r["answered"]}, 10, "the agents' report")
    assert set(agents) == {"2001", "1002"}
    sandbox.assert_no_channels()


def test_desk_holds_consults_and_completes_and_the_wallboard_listens(
        sandbox: Sandbox, start_engine, browser) -> None:  # type: ignore[no-untyped-def]
    """In Chromium: the agent holds the caller and takes it back, consults agent 1002
    and completes the transfer from the desk; the supervisor listens to the call from
    the wallboard, switches to whisper and stops (the supervisor's phone: SIPp 1003)."""
    for agent_id in ("1001", "1002", "1003"):
        sandbox.agent(agent_id)
    engine = start_engine(agents=[], extra="""
[[queues]]
name = "support"
wrap_up_s = 1
announce_agent_id = false
""" + agents_toml(f'id = "1001"\nendpoint = "PJSIP/agent1001"\nqueues = ["support"]\npin_hash = "{FAST.hash("432109")}"',
                  'id = "1002"\nendpoint = "PJSIP/agent1002"\nqueues = ["support"]\nlogin_at_start = false') + f"""
[auth]
cookie_secure = false
[[auth.accounts]]
name = "li"
role = "supervisor"
password_hash = "{FAST.hash("li-password-for-tests")}"
phone = "PJSIP/agent1003"
""")
    page = Page(browser, f"http://127.0.0.1:{engine.port}")
    page.open("/agent")
    page.sign_in("1001", "432109")
    page.until(lambda: "Logged out" in page.text("state"), 10, "the agent shown logged out")
    page.click("btn-ready")  # logs in
    page.until(lambda: "Ready" in page.text("state"), 5, "the agent ready")
    caller = sandbox.call(talk_ms=25000)
    call_id = connected_call(engine, "1001")["call_id"]
    page.until(lambda: page.visible("call-controls"), 10, "the call controls")
    page.click("btn-hold")
    wait_for(lambda: in_bridge(sandbox, call_id) == {"1001"}, 10, "the caller held out of the bridge")
    page.until(lambda: "Resume" in page.text("btn-hold"), 5, "the hold shown")
    page.click("btn-hold")
    wait_for(lambda: in_bridge(sandbox, call_id) == {"caller", "1001"}, 10, "the caller back")
    engine.post("/agents/1002/login")
    page.click("transfer-target")  # the list is read again when opened
    page.until(lambda: "agent:1002" in page.el("transfer-target").get_attribute("innerHTML"), 10,
               "agent 1002 offered as a target")
    Select(page.el("transfer-target")).select_by_value("agent:1002")
    page.click("btn-consult")
    page.until(lambda: page.visible("consult-controls") and "answered" in page.text("consult-state"), 15,
               "the consult answered, shown live")
    wait_for(lambda: in_bridge(sandbox, call_id) == {"1001", "1002"}, 10, "the agents consulting")
    page.shot("desk-consult")
    page.click("btn-complete")
    wait_for(lambda: in_bridge(sandbox, call_id) == {"caller", "1002"}, 10, "the transfer completed")
    page.until(lambda: "Wrap-up" in page.text("state") or "Ready" in page.text("state"), 5, "agent 1001 freed")
    # The supervisor, on the wallboard.
    page.open("/wallboard")
    page.sign_in("li", "li-password-for-tests")
    page.until(lambda: page.visible("listen-listen-1002"), 10, "the listen button of agent 1002")
    page.click("listen-listen-1002")
    wait_for(lambda: len(bridge(sandbox, f"cti-sup-{call_id}")) == 2, 10, "the supervisor's phone bridged with the snoop")
    page.until(lambda: "Listen · li" in page.text("agent-1002"), 10, "the listening shown")
    page.click("listen-whisper-1002")
    page.until(lambda: "Whisper · li" in page.text("agent-1002"), 10, "the whisper shown")
    page.shot("wallboard-listening")
    page.click("listen-stop-1002")
    wait_for(lambda: not [b for b in sandbox.bridges() if b["id"] == f"cti-sup-{call_id}"], 10,
             "the supervisor's bridge gone")
    log = engine.log()
    assert "account:li starts to listen to agent 1002" in log and "account:li stops to whisper" in log
    sandbox.ari("DELETE", f"/channels/{call_id}")  # the caller's line ends the call
    assert caller.wait(20) == 0, caller.output()
    caller.outcome(5).cut_off()  # on the line through hold, consult and transfer until then


def test_blind_transfer_to_an_external_number_through_the_trunk(
        sandbox: Sandbox, start_engine) -> None:  # type: ignore[no-untyped-def]
    """To a number: the trunk's rules (R14) refuse one it may not dial; an allowed one
    is dialled, answered and bridged with the caller; the agent is free; the caller
    hanging up ends the external side; one recording covers the whole call."""
    from tests.e2e.test_callbacks import customers
    sandbox.agent("1001")
    customer, trace = customers(sandbox, "customer_answer.xml", "transfer-out")
    engine = start_engine(agents=["1001"], recording=True, wrap_up_s=1, tail="""
[[trunks]]
name = "customers"
endpoint = "PJSIP/{number}@customers"
region = "CN"
allowed_prefixes = ["13"]
""")
    caller = sandbox.call(talk_ms=10000)
    call_id = connected_call(engine, "1001")["call_id"]
    time.sleep(1.0)
    try:
        engine.post(f"/calls/{call_id}/transfer", {"to": "external", "target": "02012345678"})
        raise AssertionError("a number the trunk may not dial was accepted")
    except urllib.error.HTTPError as exc:
        assert exc.code == 400
    assert in_bridge(sandbox, call_id) == {"caller", "1001"}  # nothing changed
    answer = engine.post(f"/calls/{call_id}/transfer", {"to": "external", "target": "13812345678"})
    assert answer["state"] == "ended"  # it left the engine's routing
    wait_for(lambda: bridge(sandbox, f"cti-{call_id}") == {call_id, f"cti-ext-{call_id}"}, 15,
             "the caller bridged with the external number")
    wait_for(lambda: engine.agent("1001")["state"] in ("wrap-up", "ready"), 5, "the agent free")
    assert "INVITE sip:13812345678@" in trace.read_text()
    assert caller.wait(40) == 0, caller.output()
    wait_for(lambda: "BYE sip:" in trace.read_text(), 10, "the external side hung up after the caller")
    caller.outcome(5).hung_up_itself(10000)  # the caller's own hang-up ended it
    (meta,) = wait_for(lambda: engine.recordings() or None, 30, "the recording archived")
    info = inspect(archive_dir(engine) / meta["path"])
    assert meta["call_id"] == call_id and info.duration_s >= 8.5 and info.rms > SILENCE_RMS, info
    assert engine.lines(rf"call {call_id}: transferred to an external number")
    sandbox.assert_no_channels()
