"""The routing core, driven with plain events: no sockets, no mocks."""

from __future__ import annotations

import pytest

from acd import AgentConfig, Engine, InvalidTransition, QueueConfig, UnknownAgent
from acd import commands as c
from acd import events as e


def make_engine(n_agents: int = 2, wrap_up_s: float = 5.0, announce: bool = False) -> Engine:
    queue = QueueConfig(
        "support", ring_cycle_s=5.0, answer_within_rings=2, wrap_up_s=wrap_up_s,
        announce_agent_id=announce,
    )
    agents = [AgentConfig(f"100{i}", f"PJSIP/agent100{i}", ("support",)) for i in range(1, n_agents + 1)]
    return Engine([queue], agents)


def of(kind: type, cmds: list[c.Command]) -> list:
    return [x for x in cmds if isinstance(x, kind)]


def test_call_goes_to_longest_idle_agent() -> None:
    eng = make_engine(3)
    eng.handle(e.AgentLoggedIn("1002", at=0.0))
    eng.handle(e.AgentLoggedIn("1001", at=1.0))
    eng.handle(e.AgentLoggedIn("1003", at=2.0))
    out = eng.handle(e.CallArrived("c1", "support", "5551234", at=10.0))
    assert of(c.PlayWaitingMedia, out) == [c.PlayWaitingMedia("c1")]  # music only
    assert of(c.OfferCall, out) == [c.OfferCall("c1", "1002", "PJSIP/agent1002", 10.0)]
    assert eng.agent("1002").state == "offered"


def test_answer_connects_and_hangup_goes_to_wrap_up_then_ready() -> None:
    eng = make_engine(1, wrap_up_s=5.0)
    eng.handle(e.AgentLoggedIn("1001", at=0.0))
    eng.handle(e.CallArrived("c1", "support", "5551234", at=1.0))
    out = eng.handle(e.OfferAnswered("c1", "1001", at=3.0))
    assert of(c.ConnectCall, out) == [c.ConnectCall("c1", "1001")]
    assert eng.agent("1001").state == "on-call"
    out = eng.handle(e.CallerHungUp("c1", at=63.0))
    assert of(c.HangUpAgent, out) == [c.HangUpAgent("c1", "1001")]
    (ended,) = of(c.CallEnded, out)
    assert (ended.outcome, ended.waited_s, ended.talked_s) == ("handled", 2.0, 60.0)
    assert eng.agent("1001").state == "wrap-up"
    assert eng.next_deadline() == 68.0
    # A call arriving during wrap-up waits.
    out = eng.handle(e.CallArrived("c2", "support", "5550000", at=65.0))
    assert of(c.OfferCall, out) == []
    out = eng.handle(e.Tick(at=68.0))
    assert of(c.OfferCall, out) == [c.OfferCall("c2", "1001", "PJSIP/agent1001", 10.0)]


def test_R1_ring_timeout_cancels_reoffers_and_marks_agent_not_ready() -> None:
    """R1: an offer rings at most answer_within_rings x ring_cycle_s; then RONA."""
    eng = make_engine(2)
    eng.handle(e.AgentLoggedIn("1001", at=0.0))
    eng.handle(e.AgentLoggedIn("1002", at=1.0))
    eng.handle(e.CallArrived("c1", "support", "5551234", at=5.0))
    assert eng.next_deadline() == 15.0
    assert eng.handle(e.Tick(at=14.9)) == []
    out = eng.handle(e.Tick(at=15.0))
    assert of(c.CancelOffer, out) == [c.CancelOffer("c1", "1001", "ring-no-answer")]
    assert of(c.RingNoAnswer, out) == [c.RingNoAnswer("c1", "1001", 1, 15.0)]
    assert of(c.OfferCall, out) == [c.OfferCall("c1", "1002", "PJSIP/agent1002", 10.0)]
    view = eng.agent("1001")
    assert (view.state, view.reason, view.ring_no_answer_total) == ("not-ready", "ring-no-answer", 1)
    # The missed agent answering late is hung up, and changes nothing.
    out = eng.handle(e.OfferAnswered("c1", "1001", at=15.5))
    assert out == [c.HangUpAgent("c1", "1001")]
    assert eng.agent("1002").state == "offered"


def test_R1_reoffered_call_keeps_its_place_ahead_of_later_callers() -> None:
    """R1: RONA re-queues the call at its original position."""
    eng = make_engine(2)
    eng.handle(e.AgentLoggedIn("1001", at=0.0))
    eng.handle(e.CallArrived("c1", "support", "5551111", at=1.0))
    eng.handle(e.CallArrived("c2", "support", "5552222", at=2.0))
    eng.handle(e.Tick(at=11.0))  # 1001 misses c1
    out = eng.handle(e.AgentLoggedIn("1002", at=12.0))
    assert of(c.OfferCall, out)[0].call_id == "c1"


def test_caller_gone_during_offer_cancels_and_agent_keeps_idle_position() -> None:
    eng = make_engine(2)
    eng.handle(e.AgentLoggedIn("1001", at=0.0))
    eng.handle(e.AgentLoggedIn("1002", at=1.0))
    eng.handle(e.CallArrived("c1", "support", "5551234", at=2.0))
    out = eng.handle(e.CallerHungUp("c1", at=3.0))
    assert of(c.CancelOffer, out) == [c.CancelOffer("c1", "1001", "caller-gone")]
    assert of(c.CallEnded, out)[0].outcome == "abandoned"
    assert eng.agent("1001").state == "ready"
    out = eng.handle(e.CallArrived("c2", "support", "5551234", at=4.0))
    assert of(c.OfferCall, out)[0].agent_id == "1001"


def test_offer_failed_makes_agent_not_ready_and_reoffers() -> None:
    eng = make_engine(2)
    eng.handle(e.AgentLoggedIn("1001", at=0.0))
    eng.handle(e.AgentLoggedIn("1002", at=1.0))
    eng.handle(e.CallArrived("c1", "support", "5551234", at=2.0))
    out = eng.handle(e.OfferFailed("c1", "1001", "unreachable", at=2.5))
    assert of(c.OfferCall, out)[0].agent_id == "1002"
    assert (eng.agent("1001").state, eng.agent("1001").reason) == ("not-ready", "unreachable")
    # A second failure report for the same offer is ignored.
    assert eng.handle(e.OfferFailed("c1", "1001", "unreachable", at=2.6)) == []


def test_agent_hangs_up_the_call() -> None:
    eng = make_engine(1, wrap_up_s=0)
    eng.handle(e.AgentLoggedIn("1001", at=0.0))
    eng.handle(e.CallArrived("c1", "support", "5551234", at=1.0))
    eng.handle(e.OfferAnswered("c1", "1001", at=2.0))
    out = eng.handle(e.AgentHungUp("c1", "1001", at=30.0))
    assert of(c.HangUpCaller, out) == [c.HangUpCaller("c1", "agent-hung-up")]
    assert eng.agent("1001").state == "ready"
    assert eng.calls() == []


def test_pause_during_call_waits_for_the_end_of_wrap_up() -> None:
    eng = make_engine(1, wrap_up_s=5)
    eng.handle(e.AgentLoggedIn("1001", at=0.0))
    eng.handle(e.CallArrived("c1", "support", "5551234", at=1.0))
    eng.handle(e.OfferAnswered("c1", "1001", at=2.0))
    assert eng.handle(e.AgentPaused("1001", "lunch", at=3.0)) == []
    assert eng.agent("1001").state == "on-call"
    eng.handle(e.CallerHungUp("c1", at=10.0))
    assert eng.agent("1001").state == "wrap-up"
    eng.handle(e.Tick(at=15.0))
    assert (eng.agent("1001").state, eng.agent("1001").reason) == ("not-ready", "lunch")


def test_ready_ends_wrap_up_early_and_pause_logout_rules() -> None:
    eng = make_engine(1, wrap_up_s=60)
    eng.handle(e.AgentLoggedIn("1001", at=0.0))
    eng.handle(e.CallArrived("c1", "support", "5551234", at=1.0))
    eng.handle(e.OfferAnswered("c1", "1001", at=2.0))
    eng.handle(e.CallerHungUp("c1", at=10.0))
    eng.handle(e.AgentReady("1001", at=12.0))
    assert eng.agent("1001").state == "ready"
    assert eng.next_deadline() is None
    eng.handle(e.AgentLoggedOut("1001", at=13.0))
    assert eng.agent("1001").state == "logged-out"
    with pytest.raises(InvalidTransition):
        eng.handle(e.AgentReady("1001", at=14.0))
    with pytest.raises(UnknownAgent):
        eng.handle(e.AgentReady("9999", at=14.0))


def test_unknown_queue_goes_to_fallback_and_duplicates_are_ignored() -> None:
    eng = make_engine(1)
    assert eng.handle(e.CallArrived("c1", "nope", "5551234", at=1.0)) == [
        c.RouteToFallback("c1", "unknown queue 'nope'")
    ]
    eng.handle(e.CallArrived("c2", "support", "5551234", at=1.0))
    assert eng.handle(e.CallArrived("c2", "support", "5551234", at=2.0)) == []


def test_abandoned_while_waiting() -> None:
    eng = make_engine(1)
    eng.handle(e.CallArrived("c1", "support", "5551234", at=1.0))
    out = eng.handle(e.CallerHungUp("c1", at=9.0))
    assert of(c.CallEnded, out) == [c.CallEnded("c1", "abandoned", None, 8.0, 0.0, 9.0, "support")]
    out = eng.handle(e.AgentLoggedIn("1001", at=10.0))
    assert of(c.OfferCall, out) == []
