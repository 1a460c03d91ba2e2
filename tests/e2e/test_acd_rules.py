"""The ACD core's rules on real calls: SIPp callers and agents through the sandbox."""

from __future__ import annotations

import time

from tests.e2e.harness import AriObserver, Sandbox, wait_for


def agents_toml(*specs: str) -> str:
    return "".join(f"\n[[agents]]\n{spec}\n" for spec in specs)


def first_offer_to(engine, agent_id: str) -> str:
    (m,) = engine.lines(rf"offer call (\S+) to agent {agent_id} ")[:1] or [None]
    assert m is not None, engine.log()
    return m.group(1)


def test_skills_route_to_the_agent_with_the_level(sandbox: Sandbox, start_engine) -> None:
    """A call needing billing 4 skips the idle-longer agent with billing 2."""
    low = sandbox.agent("1001")
    high = sandbox.agent("1002")
    engine = start_engine(agents=[], extra="""
[[queues]]
name = "support"
wrap_up_s = 0
announce_agent_id = false
[[routes]]
exten = "200"
queue = "support"
skills = { billing = 4 }
kind = "service-request"
""" + agents_toml(
        'id = "1001"\nendpoint = "PJSIP/agent1001"\nqueues = ["support"]\nskills = { billing = 2 }\nlogin_at_start = true',
        'id = "1002"\nendpoint = "PJSIP/agent1002"\nqueues = ["support"]\nskills = { billing = 5 }\nlogin_at_start = true',
    ))
    caller = sandbox.call("200", talk_ms=2000)
    assert caller.wait(30) == 0, caller.output()
    call_id = first_offer_to(engine, "1002")
    assert engine.lines(rf"answered: call {call_id} by agent 1002")
    assert not engine.lines(r"offer call \S+ to agent 1001", wait=0)
    # The phones say the same, over the whole call: 1002's talked with the caller,
    # 1001's (billing 2, idle longer) never rang.
    high.leg_with(caller.outcome(5).hung_up_itself(2000))
    assert low.invites() == [] and len(high.invites()) == 1
    sandbox.assert_no_channels()


def test_R8_priority_and_emergency_calls_jump_the_queue(sandbox: Sandbox, start_engine) -> None:
    """R8: with three callers waiting, an emergency caller is served first."""
    agent = sandbox.agent("1001")
    engine = start_engine(agents=[], extra="""
[[queues]]
name = "support"
wrap_up_s = 0
announce_agent_id = false
[[routes]]
exten = "119"
queue = "support"
emergency = true
kind = "emergency"
""" + agents_toml('id = "1001"\nendpoint = "PJSIP/agent1001"\nqueues = ["support"]\nlogin_at_start = false'))
    engine.post("/agents/1001/login", {"ready": False})
    waiting = [sandbox.call("100", talk_ms=30000) for _ in range(3)]
    wait_for(lambda: len(engine.get("/calls")) == 3, 15, "three callers waiting")
    emergency = sandbox.call("119", talk_ms=3000)
    wait_for(lambda: len(engine.get("/calls")) == 4, 15, "the emergency caller waiting")
    calls = {k["call_id"]: k for k in engine.get("/calls")}
    emergency_id = max(calls.values(), key=lambda k: k["arrived_at"])["call_id"]
    assert calls[emergency_id]["priority"] > max(k["priority"] for k in calls.values() if k["call_id"] != emergency_id)
    engine.post("/agents/1001/ready")
    assert emergency.wait(30) == 0, emergency.output()
    offers = engine.lines(r"offer call (\S+) to agent 1001")
    assert offers[0].group(1) == emergency_id
    for caller in waiting:
        assert caller.proc.poll() is None or caller.proc.returncode == 0
    # On the wire: the agent's first call is the one that talked with the emergency
    # caller (who talked its 3 s and hung up itself); the three who came first were
    # still on the line, none hung up by the PBX.
    served = agent.leg_with(emergency.outcome(5).hung_up_itself(3000))
    assert agent.invites()[0].number == served.number, [str(x) for x in agent.invites()]
    for caller in waiting:
        (leg,) = caller.calls()
        assert leg.answered is not None and leg.hung_up_by is None and leg.invited < served.invited, str(leg)


def test_wrap_up_holds_across_two_queues(sandbox: Sandbox, start_engine) -> None:
    """An agent in two queues gets no call from either during wrap-up."""
    agent = sandbox.agent("1001")
    engine = start_engine(agents=[], extra="""
[[queues]]
name = "sales"
wrap_up_s = 4
announce_agent_id = false
[[queues]]
name = "support"
wrap_up_s = 0
announce_agent_id = false
[routing]
default_queue = "support"
[[routes]]
exten = "400"
queue = "sales"
""" + agents_toml('id = "1001"\nendpoint = "PJSIP/agent1001"\nqueues = ["sales", "support"]\nlogin_at_start = true'))
    sales = sandbox.call("400", talk_ms=1500)
    assert sales.wait(30) == 0, sales.output()
    wait_for(lambda: engine.agent("1001")["state"] == "wrap-up", 10, "wrap-up after the sales call")
    ended = time.monotonic()
    support = sandbox.call("100", talk_ms=8000)  # from the engine's answer: outlasts wrap-up
    wait_for(lambda: engine.get("/calls"), 10, "the support call to wait")
    time.sleep(1.0)
    assert engine.get("/calls")[0]["state"] == "waiting"
    assert engine.agent("1001")["state"] == "wrap-up"
    wait_for(lambda: engine.agent("1001")["state"] in ("offered", "on-call"), 10, "the offer after wrap-up")
    assert time.monotonic() - ended >= 3.5
    assert support.wait(30) == 0, support.output()
    # At the agent's phone: the sales call ended (BYE), then nothing for the 4 s of
    # wrap-up, then the support call, which talked its 8 s.
    first = agent.leg_with(sales.outcome(5).hung_up_itself(1500))
    second = agent.leg_with(support.outcome(5).hung_up_itself(8000))
    assert [x.number for x in agent.invites()] == [first.number, second.number]
    assert second.invited - first.ended >= 3.7, f"rung {second.invited - first.ended:.2f} s after its last call"
    sandbox.assert_no_channels()


def test_ring_all_first_answer_wins_and_the_other_is_cancelled(sandbox: Sandbox, start_engine) -> None:
    ringing = sandbox.agent("1001", "agent_noanswer.xml")
    answering = sandbox.agent("1002")
    engine = start_engine(agents=[], extra="""
[[queues]]
name = "support"
strategy = "ring-all"
wrap_up_s = 0
announce_agent_id = false
""" + agents_toml(
        'id = "1001"\nendpoint = "PJSIP/agent1001"\nqueues = ["support"]\nlogin_at_start = true',
        'id = "1002"\nendpoint = "PJSIP/agent1002"\nqueues = ["support"]\nlogin_at_start = true',
    ))
    caller = sandbox.call("100", talk_ms=2000)
    assert caller.wait(30) == 0, caller.output()
    call_id = first_offer_to(engine, "1001")
    assert first_offer_to(engine, "1002") == call_id
    assert engine.lines(rf"answered: call {call_id} by agent 1002")
    assert engine.lines(rf"offer of call {call_id} to agent 1001 cancelled: answered-elsewhere")
    # The phones: both rang at once; 1002's answered and talked with the caller; 1001's
    # got a CANCEL once 1002 had answered, long before any ring timeout.
    took = answering.leg_with(caller.outcome(5).hung_up_itself(2000))
    (rang,) = ringing.invites()
    assert rang.invited < took.answered and rang.cancelled is not None and rang.answered is None, str(rang)
    assert took.answered - 0.3 <= rang.cancelled <= took.answered + 2.0, (str(rang), str(took))
    view = engine.agent("1001")
    assert (view["state"], view["ring_no_answer_total"]) == ("ready", 0)
    sandbox.assert_no_channels()


def test_R3_hold_overrun_reminds_agent_and_apologizes_to_caller(
        sandbox: Sandbox, start_engine, observer: AriObserver) -> None:
    """R3: the agent's phone holds the caller (SIP re-INVITE) past hold_max_s: the
    engine sees Asterisk's ChannelHold, counts the overrun and plays the apology."""
    holder = sandbox.agent("1002", "agent_hold.xml")
    engine = start_engine(agents=[], extra="""
[[queues]]
name = "support"
wrap_up_s = 0
hold_max_s = 2
hold_actions = ["remind-agent", "apologize"]
announce_agent_id = false
""" + agents_toml('id = "1002"\nendpoint = "PJSIP/agent1002"\nqueues = ["support"]\nlogin_at_start = true'))
    caller = sandbox.call("100", talk_ms=12000)
    assert caller.wait(40) == 0, caller.output()
    holder.leg_with(caller.outcome(5).hung_up_itself(12000))  # the held caller stayed to the end
    overruns = engine.lines(r"hold overrun: agent 1002 has held call (\S+) for ([\d.]+) s")
    assert len(overruns) == 2  # held 5 s: at 2 s and again at 4 s
    call_id = overruns[0].group(1)
    assert [float(m.group(2)) for m in overruns] == [2.0, 4.0]
    assert engine.agent("1002")["hold_overruns"] == 2
    holds = [ev for ev in observer.of("ChannelHold") if ev["channel"]["name"].startswith("PJSIP/agent1002")]
    assert holds, "Asterisk saw no hold from the agent's phone"
    apologies = [ev for ev in observer.of("PlaybackStarted")
                 if ev["playback"]["media_uri"] == "sound:cti/apology"
                 and ev["playback"]["target_uri"] == f"channel:{call_id}"]
    assert len(apologies) == 2
    beeps = [ev for ev in observer.of("PlaybackStarted") if ev["playback"]["media_uri"] == "sound:beep"]
    assert len(beeps) == 2
    sandbox.assert_no_channels()


def test_R15_agent_id_is_announced_to_the_caller_before_the_bridge(
        sandbox: Sandbox, start_engine, observer: AriObserver) -> None:
    """R15: the caller hears "your agent number is 1002, at your service" before
    being bridged with the agent."""
    agent = sandbox.agent("1002")
    engine = start_engine(agents=["1002"], announce=True)
    caller = sandbox.call("100", talk_ms=12000)
    assert caller.wait(40) == 0, caller.output()
    call_id = first_offer_to(engine, "1002")
    finished = [ev for ev in observer.of("PlaybackFinished") if ev["playback"]["id"] == f"cti-announce-{call_id}"]
    assert len(finished) == 1
    media = finished[0]["playback"]["media_uri"]
    assert media in ("sound:cti/at-your-service", "sound:cti/agent-id", "digits:1002")
    # Exactly what agent 1002's announcement is, in order: "your agent number is",
    # 1, 0, 0, 2, "at your service"; played to its end (the last prompt finished).
    played = [ev["playback"]["media_uri"] for ev in observer.of("PlaybackStarted")
              if ev["playback"]["id"] == f"cti-announce-{call_id}"]
    assert played == ["sound:cti/agent-id", *(f"sound:cti/digit-{d}" for d in "1002"),
                      "sound:cti/at-your-service"], played
    assert media == "sound:cti/at-your-service"
    agent.leg_with(caller.outcome(5).hung_up_itself(12000))
    started = [ev for ev in observer.of("PlaybackStarted") if ev["playback"]["id"] == f"cti-announce-{call_id}"]
    assert started and started[0]["playback"]["target_uri"] == f"channel:{call_id}"
    entered = [ev for ev in observer.of("ChannelEnteredBridge") if ev["channel"]["id"] == call_id]
    # It waited in the node's holding bridge (one music stream for all, issue 32), then was
    # moved once into its own bridge with the agent, after the announcement.
    assert [ev["bridge"]["id"] for ev in entered] == ["cti-hold", f"cti-{call_id}"], entered
    assert finished[0]["timestamp"] <= entered[1]["timestamp"]
    sandbox.assert_no_channels()
