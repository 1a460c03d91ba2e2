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
    assert of(c.CallEnded, out) == [c.CallEnded("c1", "abandoned", None, 8.0, 0.0, 9.0, "support", "5551234", "", False, 1.0, 0.0, "caller")]
    out = eng.handle(e.AgentLoggedIn("1001", at=10.0))
    assert of(c.OfferCall, out) == []


def test_every_event_type_has_a_handler_and_others_are_refused() -> None:
    import typing

    import pytest

    from acd.errors import UnknownEvent

    eng = make_engine(1)
    assert eng.event_types() == set(typing.get_args(e.Event))
    with pytest.raises(UnknownEvent):
        eng.handle(object())  # type: ignore[arg-type]


def test_a_call_id_has_one_record_even_when_its_arrival_is_delivered_twice() -> None:
    """A call in the IVR that also arrives directly, then leaves the IVR, is one
    waiting call: no second record, no stale entry in a queue's index."""
    from acd.model import Intake
    queues = [QueueConfig("q1", wrap_up_s=0, announce_agent_id=False),
              QueueConfig("q2", wrap_up_s=0, announce_agent_id=False)]
    agents = [AgentConfig("a1", "PJSIP/a1", ("q1", "q2"))]
    eng = Engine(queues, agents, Intake(default_queue="q1", ivr_extensions=frozenset({"100"})))
    eng.handle(e.CallEntered("k1", "555", "100", 1.0))
    assert eng.handle(e.CallArrived("k1", "q2", "555", 2.0)) == []  # still in the IVR
    eng.handle(e.IvrRouted("k1", "q1", 3.0))
    assert eng.handle(e.IvrRouted("k1", "q2", 4.0)) == []
    assert eng.handle(e.CallArrived("k1", "q2", "555", 5.0)) == []
    assert [(k.call_id, k.queue) for k in eng.calls()] == [("k1", "q1")]
    out = eng.handle(e.AgentLoggedIn("a1", 6.0))
    assert of(c.OfferCall, out) == [c.OfferCall("k1", "a1", "PJSIP/a1", 10.0)]
    eng.handle(e.OfferAnswered("k1", "a1", 7.0))
    eng.handle(e.CallerHungUp("k1", 8.0))
    assert eng.calls() == [] and eng.agent("a1").state == "ready"


def test_ring_all_rings_in_configured_order_whatever_order_agents_became_ready() -> None:
    from acd.model import Strategy
    queue = QueueConfig("q", strategy=Strategy.RING_ALL, wrap_up_s=0, announce_agent_id=False)
    agents = [AgentConfig(f"a{i}", f"PJSIP/a{i}", ("q",)) for i in range(1, 4)]
    eng = Engine([queue], agents)
    for i, agent_id in enumerate(["a3", "a1", "a2"]):
        eng.handle(e.AgentLoggedIn(agent_id, float(i)))
    out = eng.handle(e.CallArrived("k1", "q", "555", 5.0))
    assert [x.agent_id for x in of(c.OfferCall, out)] == ["a1", "a2", "a3"]


def test_R10_a_held_call_that_overflows_to_a_queue_its_agent_does_not_serve_is_offered_there() -> None:
    """R10 holds a repeat caller for their last agent; if the call overflows (waited too
    long) to a queue that agent does not serve, the hold ends and the new queue's agents
    take it (before, it stayed held for an agent who could never get it there)."""
    queues = [QueueConfig("q1", wrap_up_s=0, announce_agent_id=False, sticky_window_s=600,
                          sticky_hold_s=300, overflow_queue="q2", overflow_after_s=30),
              QueueConfig("q2", wrap_up_s=0, announce_agent_id=False)]
    agents = [AgentConfig("a1", "PJSIP/a1", ("q1",)), AgentConfig("a2", "PJSIP/a2", ("q2",))]
    eng = Engine(queues, agents)
    eng.handle(e.AgentLoggedIn("a1", 0.0))
    eng.handle(e.CallArrived("k1", "q1", "555", 1.0))
    eng.handle(e.OfferAnswered("k1", "a1", 2.0))
    eng.handle(e.CallerHungUp("k1", 10.0))
    eng.handle(e.AgentPaused("a1", "lunch", 11.0))
    eng.handle(e.CallArrived("k2", "q1", "555", 20.0))  # the same caller again: held for a1
    assert [k.sticky_agent for k in eng.calls()] == ["a1"]
    eng.handle(e.AgentLoggedIn("a2", 21.0))
    out = eng.handle(e.Tick(50.0))  # overflow to q2
    assert of(c.OfferCall, out) == [c.OfferCall("k2", "a2", "PJSIP/a2", 10.0)]


def test_R1_an_offer_asterisk_could_not_take_in_time_leaves_the_agent_ready() -> None:
    """A phone that is busy or rejects goes not-ready (its failure); an offer the
    engine abandoned because Asterisk did not answer within the deadline is not the
    agent's failure: the agent stays ready and the call is offered again."""
    from acd import AgentConfig, Engine, QueueConfig
    from acd import commands as cmds
    from acd import events as evs

    eng = Engine([QueueConfig("q", wrap_up_s=0)], [AgentConfig("a1", "PJSIP/a1", ("q",))])
    eng.handle(evs.AgentLoggedIn("a1", 1.0))
    eng.handle(evs.CallArrived("k1", "q", "555", 2.0))
    out = eng.handle(evs.OfferFailed("k1", "a1", "deadline", 3.0))
    assert eng.agent("a1").state == "offered"
    assert [x for x in out if isinstance(x, cmds.OfferCall)] == [cmds.OfferCall("k1", "a1", "PJSIP/a1", 10.0)]
    eng.handle(evs.OfferFailed("k1", "a1", "busy", 4.0))
    assert eng.agent("a1").state == "not-ready" and eng.agent("a1").reason == "busy"


def test_R1_an_offer_made_while_a_late_tick_catches_up_rings_its_whole_timeout() -> None:
    """A tick that comes late (the engine restarted, or its loop was held up) replays
    what fell due: the wrap-up that ended at 15 lets the agent take the waiting call,
    but Asterisk is asked to ring only now, so the ring timeout counts from now; the
    agent is not blamed within the same tick for an offer that never rang."""
    eng = make_engine(1, wrap_up_s=5.0)
    eng.handle(e.AgentLoggedIn("1001", at=0.0))
    eng.handle(e.CallArrived("c1", "support", "5551234", at=1.0))
    eng.handle(e.OfferAnswered("c1", "1001", at=2.0))
    eng.handle(e.CallerHungUp("c1", at=10.0))  # wrap-up until 15
    eng.handle(e.CallArrived("c2", "support", "5550000", at=12.0))
    out = eng.handle(e.Tick(at=100.0))
    assert of(c.OfferCall, out) == [c.OfferCall("c2", "1001", "PJSIP/agent1001", 10.0)]
    assert not of(c.RingNoAnswer, out) and not of(c.CancelOffer, out)
    assert eng.agent("1001").state == "offered" and eng.next_deadline() == 110.0
    assert not eng.handle(e.Tick(at=109.9))
    out = eng.handle(e.Tick(at=110.0))  # now it has rung its whole timeout: R1
    assert of(c.RingNoAnswer, out) == [c.RingNoAnswer("c2", "1001", 1, 110.0)]


def test_R1_an_offer_that_rang_out_while_no_router_ran_is_taken_back_without_a_miss() -> None:
    """The router stopped while agent 1001's phone was being offered a call and came
    back long after the ring timeout: nobody watched that phone ring, so the first
    tick of the restarted router (``resumed``) takes the offer back without a RONA,
    1001 stays ready in its idle place and is offered the call again, ringing its
    whole timeout from now. A tick that is not a resumption keeps R1's RONA."""
    eng = make_engine(2)
    eng.handle(e.AgentLoggedIn("1001", at=0.0))
    eng.handle(e.AgentLoggedIn("1002", at=1.0))
    eng.handle(e.CallArrived("c1", "support", "5551234", at=10.0))  # offered to 1001 until 20
    saved = eng.snapshot()

    queue = QueueConfig("support", ring_cycle_s=5.0, answer_within_rings=2, wrap_up_s=5.0)
    agents = [AgentConfig(f"100{i}", f"PJSIP/agent100{i}", ("support",)) for i in (1, 2)]
    restarted, blamed = (Engine.restore([queue], agents, saved) for _ in range(2))
    out = restarted.handle(e.Tick(at=500.0, resumed=True))
    assert of(c.CancelOffer, out) == [c.CancelOffer("c1", "1001", "unwatched")]
    assert not of(c.RingNoAnswer, out)
    assert of(c.OfferCall, out) == [c.OfferCall("c1", "1001", "PJSIP/agent1001", 10.0)]
    assert restarted.agent("1001").ring_no_answer_total == 0 and restarted.next_deadline() == 510.0
    out = blamed.handle(e.Tick(at=500.0))
    assert of(c.RingNoAnswer, out) == [c.RingNoAnswer("c1", "1001", 1, 500.0)]
