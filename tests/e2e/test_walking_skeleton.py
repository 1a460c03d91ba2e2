"""A real call through real Asterisk, routed by the engine (SIPp callers and agents)."""

from __future__ import annotations

import time

from tests.e2e.harness import Sandbox, wait_for


def test_call_reaches_agent_chosen_by_engine_is_bridged_and_ends_clean(sandbox: Sandbox, start_engine) -> None:
    agent = sandbox.agent("1002")
    engine = start_engine(agents=["1002"], wrap_up_s=1)
    caller = sandbox.call(talk_ms=6000)

    # While the call is up: the engine's mixing bridge holds the caller and the agent.
    wait_for(lambda: engine.agent("1002")["state"] == "on-call", 15, "agent 1002 on the call")
    call_id = engine.agent("1002")["call_id"]

    def bridged() -> list:
        return [b for b in sandbox.bridges() if b["id"] == f"cti-{call_id}" and len(b["channels"]) == 2]

    (bridge,) = wait_for(bridged, 15, "the caller and the agent to be bridged")
    assert bridge["bridge_type"] == "mixing"
    assert call_id in bridge["channels"]

    assert caller.wait(30) == 0, caller.output()
    # From the phones: the caller talked its 6 s and hung up itself; agent 1002's phone
    # was rung once, answered, and hung up by Asterisk after the caller left.
    talked = caller.outcome(5).hung_up_itself(6000)
    leg = agent.leg_with(talked)
    assert [x.number for x in agent.invites()] == [leg.number], [str(x) for x in agent.invites()]
    sandbox.assert_no_channels()
    wait_for(lambda: not sandbox.bridges(), 10, "the bridge to be destroyed")
    assert engine.lines(rf"offer call {call_id} to agent 1002")
    assert engine.lines(rf"answered: call {call_id} by agent 1002")
    assert engine.lines(rf"hung up: call {call_id} handled by agent 1002")
    # Wrap-up, then ready again for the next call.
    wait_for(lambda: engine.agent("1002")["state"] == "ready", 10, "agent 1002 ready after wrap-up")
    assert agent.proc.poll() is None


def test_R1_ring_no_answer_cancels_and_reoffers_to_next_agent(sandbox: Sandbox, start_engine) -> None:
    """R1: the first agent never answers: its offer is cancelled after
    answer_within_rings x ring_cycle_s, the same call goes to the second agent, and
    the first is not ready with reason ring-no-answer."""
    ringing = sandbox.agent("1001", "agent_noanswer.xml")
    answering = sandbox.agent("1002", "agent_answer.xml")
    engine = start_engine(agents=["1001", "1002"], ring_cycle_s=1.5, answer_within_rings=2)
    started = time.monotonic()
    caller = sandbox.call(talk_ms=8000)  # from the engine's answer: covers the ringing
    assert caller.wait(40) == 0, caller.output()
    elapsed = time.monotonic() - started
    # On the wire: agent 1001's phone rang once and got a CANCEL about the ring timeout
    # (2 rings x 1.5 s) after its INVITE; then agent 1002's phone was rung, answered
    # and talked with the caller, who talked its 8 s and hung up itself.
    talked = caller.outcome(5).hung_up_itself(8000)
    (rang,) = ringing.invites()
    assert rang.cancelled is not None and rang.answered is None, str(rang)
    assert 2.5 <= rang.cancelled - rang.invited <= 5.0, f"R1: 1001 rang {rang.cancelled - rang.invited:.2f} s: {rang}"
    took = answering.leg_with(talked)
    assert took.invited >= rang.cancelled - 0.3, (str(rang), str(took))  # re-offered after the cancel
    assert [x.number for x in answering.invites()] == [took.number]

    (first,) = engine.lines(r"offer call (\S+) to agent 1001 \(ring timeout 3 s\)")
    call_id = first.group(1)
    assert engine.lines(rf"RONA: agent 1001 did not answer call {call_id}")
    assert engine.lines(rf"offer of call {call_id} to agent 1001 cancelled: ring-no-answer")
    assert engine.lines(rf"offer call {call_id} to agent 1002")
    assert engine.lines(rf"answered: call {call_id} by agent 1002")
    assert elapsed >= 3.0  # it rang the full R1 timeout on 1001 before moving on
    view = engine.agent("1001")
    assert (view["state"], view["reason"], view["ring_no_answer_total"]) == (
        "not-ready", "ring-no-answer", 1)
    sandbox.assert_no_channels()


def test_R6_engine_stopped_call_still_reaches_agent_through_fallback(sandbox: Sandbox) -> None:
    """R6: with no engine running, the dialplan's Stasis() fails and the native
    Queue() fallback rings the same agents: no caller is lost."""
    agent = sandbox.agent("1001")
    caller = sandbox.call(talk_ms=2000)
    assert caller.wait(40) == 0, caller.output()
    # The fallback's agent took it: the caller talked its 2 s and hung up itself, and
    # agent 1001's phone was answered and stayed on until the caller left.
    talked = caller.outcome(5).hung_up_itself(2000)
    agent.leg_with(talked)
    sandbox.assert_no_channels()
    assert agent.proc.poll() is None


def test_R6_waiting_caller_is_handed_to_fallback_when_engine_stops(sandbox: Sandbox, start_engine) -> None:
    """R6: a caller waiting in the engine when it stops goes to the fallback queue."""
    agent = sandbox.agent("1001")
    engine = start_engine(agents=["1001"], login_at_start=False)
    caller = sandbox.call(talk_ms=10000)
    wait_for(lambda: engine.get("/calls"), 15, "the caller to wait in the engine")
    assert engine.get("/calls")[0]["state"] == "waiting"
    assert not agent.invites()  # logged out: the engine never rang it
    stopping = time.time()
    assert engine.stop() == 0
    assert caller.wait(40) == 0, caller.output()
    # Not simply hung up: the fallback (app_queue) rang agent 1001 after the engine
    # stopped, it answered and talked with the caller, who hung up itself at the end
    # of its 10 s.
    talked = caller.outcome(5).hung_up_itself(10000)
    took = agent.leg_with(talked)
    assert took.invited >= stopping, str(took)
    assert len(agent.invites()) == 1
    sandbox.assert_no_channels()


def test_agent_api_pause_and_ready_steer_routing(sandbox: Sandbox, start_engine) -> None:
    paused = sandbox.agent("1001")
    ready = sandbox.agent("1002")
    engine = start_engine(agents=["1001", "1002"])
    assert engine.post("/agents/1001/pause", {"reason": "training"})["state"] == "not-ready"
    caller = sandbox.call(talk_ms=1000)
    assert caller.wait(30) == 0, caller.output()
    talked = caller.outcome(5).hung_up_itself(1000)
    ready.leg_with(talked)  # the ready agent's phone took it
    assert paused.invites() == []  # the paused agent's phone never rang, the whole call long
    (offer,) = engine.lines(r"offer call \S+ to agent (\d+)")
    assert offer.group(1) == "1002"
    assert engine.post("/agents/1001/ready")["state"] == "ready"
    sandbox.assert_no_channels()
