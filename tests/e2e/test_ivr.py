"""The IVR on real calls (R7, R8, R15): SIPp callers press keys with RFC 2833 DTMF
(sip-tester's dtmf_2833 pcaps) through the sandbox; menus come from the TOML config."""

from __future__ import annotations

import re

from tests.e2e.harness import AriObserver, Sandbox, Webhook, call_with_keys, wait_for

IVR_CONFIG = """
[[queues]]
name = "support"
wrap_up_s = 0
announce_agent_id = {announce}
[[queues]]
name = "service"
wrap_up_s = 0
announce_agent_id = false
[[queues]]
name = "repair"
wrap_up_s = 0
announce_agent_id = false
[[queues]]
name = "complaints"
wrap_up_s = 0
announce_agent_id = false

[ivr]
extensions = ["100"]
language = "{language}"
greeting = ["greeting"]
start = "main"

[[ivr.menus]]
name = "main"
prompts = ["main-menu"]
timeout_s = 3
max_attempts = 3
[ivr.menus.default]
queue = "support"
kind = "consultation"
[[ivr.menus.options]]
digit = "0"
queue = "support"
kind = "emergency"
emergency = true
[[ivr.menus.options]]
digit = "1"
queue = "support"
kind = "consultation"
skills = {{ consultation = 1 }}
[[ivr.menus.options]]
digit = "2"
queue = "service"
kind = "service-request"
skills = {{ service = 1 }}
[[ivr.menus.options]]
digit = "3"
queue = "repair"
kind = "fault-report"
skills = {{ gas = 2 }}
priority = 5
[[ivr.menus.options]]
digit = "4"
submenu = "feedback"

[[ivr.menus]]
name = "feedback"
prompts = ["feedback-menu"]
[ivr.menus.default]
queue = "complaints"
kind = "complaint"
[[ivr.menus.options]]
digit = "1"
queue = "complaints"
kind = "complaint"
skills = {{ complaint = 1 }}
[[ivr.menus.options]]
digit = "2"
queue = "complaints"
kind = "suggestion"
skills = {{ complaint = 1 }}

[[routes]]
exten = "300"
queue = "support"
kind = "consultation"

[emergency]
webhook_url = "{webhook}"
"""

SKILLS = {"1001": "consultation = 1", "1002": "service = 1", "1003": "gas = 3", "1004": "complaint = 1"}


def agents_toml(ids: list[str], login: bool = True) -> str:
    return "".join(
        f'\n[[agents]]\nid = "{a}"\nendpoint = "PJSIP/agent{a}"\nnumber = "{a}"\n'
        f'queues = ["support", "service", "repair", "complaints"]\nskills = {{ {SKILLS[a]} }}\n'
        f"login_at_start = {str(login).lower()}\n"
        for a in ids
    )


def config(webhook: str = "http://127.0.0.1:9/none", language: str = "zh", announce: bool = False) -> str:
    return IVR_CONFIG.format(webhook=webhook, language=language, announce=str(announce).lower())


def route_of(engine, call_id: str) -> str:
    (m,) = engine.lines(rf"IVR routes call {re.escape(call_id)} to (\S+) \(")[:1]
    return m.group(1)


def test_R7_each_kind_reaches_its_queue_and_an_agent_with_the_skill(
        sandbox: Sandbox, start_engine, observer: AriObserver) -> None:
    """R7: consultation, service request, fault report, complaint and suggestion each
    land in their queue and reach the agent with the matching skill; the greeting is
    played (in Mandarin)."""
    phones = {a: sandbox.agent(a) for a in SKILLS}
    engine = start_engine(agents=[], extra=config() + agents_toml(list(SKILLS)))
    expected = {"consultation": ("support", "1001"), "service-request": ("service", "1002"),
                "fault-report": ("repair", "1003"), "complaint": ("complaints", "1004"),
                "suggestion": ("complaints", "1004")}
    # Four callers at once, each pressing its keys (1, 2, 3, 4 then 1); then the
    # suggestion (4 then 2), which needs agent 1004 again.
    callers = [call_with_keys(sandbox, keys) for keys in ("1", "2", "3", "41")]
    for caller in callers:
        assert caller.wait(60) == 0, caller.output()
    last = call_with_keys(sandbox, "42")
    assert last.wait(60) == 0, last.output()
    routed = {m.group(3): (m.group(1), m.group(2))
              for m in engine.lines(r"IVR routes call (\S+) to (\S+) \(.*; kind ([a-z-]+)\)")}
    assert set(routed) == set(expected), engine.log()[-2000:]
    for kind, (queue, agent) in expected.items():
        call_id, routed_to = routed[kind]
        assert routed_to == queue, (kind, routed_to)
        assert engine.lines(rf"answered: call {re.escape(call_id)} by agent {agent}"), kind
    greetings = [ev for ev in observer.of("PlaybackStarted") if ev["playback"]["media_uri"] == "sound:cti/greeting"]
    assert len(greetings) == 5 and all(ev["playback"]["language"] == "zh" for ev in greetings)
    # The phones: each caller talked its 3 s with the agent of its kind and hung up
    # itself; agent 1004 (complaint, suggestion) answered two calls, the others one.
    for caller, agent in zip([*callers, last], ["1001", "1002", "1003", "1004", "1004"]):
        phones[agent].leg_with(caller.outcome(5).hung_up_itself(3000))
    assert {a: len(phone.answered()) for a, phone in phones.items()} == {"1001": 1, "1002": 1, "1003": 1, "1004": 2}
    sandbox.assert_no_channels()


def test_R8_emergency_overtakes_five_waiting_callers_and_notifies_at_once(
        sandbox: Sandbox, start_engine, observer: AriObserver) -> None:
    """R8: an emergency caller (key 0) overtakes five callers already waiting, hears
    the safety instructions while waiting, and the webhook gets the notification with
    the report time at once."""
    webhook = Webhook()
    try:
        agent = sandbox.agent("1001")
        engine = start_engine(agents=[], extra=config(webhook.url) + agents_toml(["1001"], login=False))
        engine.post("/agents/1001/login", {"ready": False})
        waiting = [sandbox.call("300", talk_ms=60000) for _ in range(5)]
        wait_for(lambda: len(engine.get("/calls")) == 5, 20, "five callers waiting")
        emergency = call_with_keys(sandbox, "0", talk_ms=4000)
        wait_for(lambda: webhook.received, 20, "the emergency notification")
        (note,) = webhook.received
        assert note["type"] == "emergency" and note["kind"] == "emergency" and note["reported_at"]
        wait_for(lambda: len(engine.get("/calls")) == 6, 10, "the emergency caller waiting")
        instructions = [ev for ev in observer.of("PlaybackStarted")
                        if ev["playback"]["media_uri"] == "sound:cti/safety-instructions"]
        assert instructions and instructions[0]["playback"]["target_uri"] == f"channel:{note['call_id']}"
        engine.post("/agents/1001/ready")
        assert emergency.wait(60) == 0, emergency.output()
        first = engine.lines(r"offer call (\S+) to agent 1001")[0].group(1)
        assert first == note["call_id"]
        for caller in waiting:
            assert caller.proc.poll() is None  # still waiting, not lost
        # The agent's phone: its first call talked with the emergency caller (who talked
        # its 4 s and hung up itself), though five callers had come before.
        served = agent.leg_with(emergency.outcome(5).hung_up_itself(4000))
        assert agent.invites()[0].number == served.number, [str(x) for x in agent.invites()]
        for caller in waiting:
            (leg,) = caller.calls()
            assert leg.answered is not None and leg.hung_up_by is None and leg.invited < served.invited, str(leg)
    finally:
        webhook.close()


def test_three_invalid_keys_land_in_the_default_route(sandbox: Sandbox, start_engine) -> None:
    agent = sandbox.agent("1001")
    engine = start_engine(agents=[], extra=config() + agents_toml(["1001"]))
    caller = call_with_keys(sandbox, "999")
    assert caller.wait(60) == 0, caller.output()
    agent.leg_with(caller.outcome(5).hung_up_itself(3000))  # it reached the agent and talked
    m = engine.lines(r"IVR routes call (\S+) to (\S+) \((main: default after 3 attempts[^)]*)\)")
    assert m and m[0].group(2) == "support", engine.log()[-3000:]
    assert engine.lines(rf"answered: call {re.escape(m[0].group(1))} by agent 1001")
    sandbox.assert_no_channels()


def test_R15_agent_id_announced_in_mandarin_before_the_bridge(
        sandbox: Sandbox, start_engine, observer: AriObserver) -> None:
    """R15: "工號 1001 為您服務" (agent-id, digits, at-your-service) in the caller's
    language before the bridge."""
    agent = sandbox.agent("1001")
    engine = start_engine(agents=[], extra=config(announce=True) + agents_toml(["1001"]))
    caller = call_with_keys(sandbox, "1", talk_ms=15000)
    assert caller.wait(60) == 0, caller.output()
    agent.leg_with(caller.outcome(5).hung_up_itself(15000))
    call_id = engine.lines(r"IVR routes call (\S+) to")[0].group(1)
    media = [ev["playback"]["media_uri"] for ev in observer.of("PlaybackStarted")
             if ev["playback"]["id"] == f"cti-announce-{call_id}"]
    assert media[:1] == ["sound:cti/agent-id"] and media[-1] == "sound:cti/at-your-service"
    assert media[1:-1] == [f"sound:cti/digit-{d}" for d in "1001"]
    finished = [ev for ev in observer.of("PlaybackFinished") if ev["playback"]["id"] == f"cti-announce-{call_id}"]
    entered = [ev for ev in observer.of("ChannelEnteredBridge")  # (its agent's, after the holding bridge)
               if ev["channel"]["id"] == call_id and ev["bridge"]["id"] == f"cti-{call_id}"]
    assert finished and entered and finished[0]["timestamp"] <= entered[0]["timestamp"]
    assert all(ev["playback"]["language"] == "zh" for ev in observer.of("PlaybackStarted")
               if ev["playback"]["id"] == f"cti-announce-{call_id}")


def test_caller_hanging_up_in_the_ivr_leaves_nothing(sandbox: Sandbox, start_engine) -> None:
    engine = start_engine(agents=[], extra=config() + agents_toml(["1001"], login=False))
    caller = sandbox.call("100", talk_ms=2000)  # no key: hangs up during the menu
    assert caller.wait(30) == 0, caller.output()
    caller.outcome(5).hung_up_itself(2000)  # its own hang-up, not the IVR's
    assert engine.lines(r"caller of \S+ hung up in the IVR")
    assert engine.get("/calls") == []
    sandbox.assert_no_channels()


