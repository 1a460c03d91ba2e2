"""R12 in the core: what ends wrap-up is the call's queue's choice (``wrap_up_ends``):
the timer, the agent's disposition, or whichever comes first; time in state is kept."""

from __future__ import annotations

from acd import AgentConfig, Engine, QueueConfig
from acd import commands as c
from acd import events as e


def answered_and_ended(mode: str, wrap_up_s: float = 30.0) -> Engine:
    eng = Engine([QueueConfig("q", wrap_up_s=wrap_up_s, wrap_up_ends=mode, announce_agent_id=False)],
                 [AgentConfig("a1", "PJSIP/a1", ("q",))])
    eng.handle(e.AgentLoggedIn("a1", 0.0))
    eng.handle(e.CallArrived("k1", "q", "13800000001", 1.0))
    eng.handle(e.OfferAnswered("k1", "a1", 2.0))
    eng.handle(e.CallerHungUp("k1", 10.0))
    return eng


def test_R12_timer_mode_a_disposition_does_not_end_wrap_up() -> None:
    eng = answered_and_ended("timer")
    view = eng.agent("a1")
    assert (view.state, view.wrap_up_until, view.last_call_id, view.since) == ("wrap-up", 40.0, "k1", 10.0)
    assert eng.handle(e.DispositionRecorded("a1", "k1", 12.0)) == []
    eng.handle(e.Tick(40.0))
    assert eng.agent("a1").state == "ready" and eng.agent("a1").since == 40.0


def test_R12_disposition_mode_waits_for_the_disposition_with_no_timer() -> None:
    eng = answered_and_ended("disposition")
    assert eng.agent("a1").state == "wrap-up" and eng.agent("a1").wrap_up_until is None
    eng.handle(e.Tick(10_000.0))
    assert eng.agent("a1").state == "wrap-up"  # no timer ends it
    out = eng.handle(e.DispositionRecorded("a1", "k1", 10_001.0))
    assert c.AgentStateChanged("a1", "ready", None, 10_001.0) in out


def test_R12_first_mode_whichever_comes_first() -> None:
    eng = answered_and_ended("first")
    out = eng.handle(e.DispositionRecorded("a1", "k1", 15.0))
    assert eng.agent("a1").state == "ready" and c.AgentStateChanged("a1", "ready", None, 15.0) in out
    eng.handle(e.Tick(40.0))  # the old wrap-up timer does nothing any more
    assert eng.agent("a1").state == "ready"
    late = answered_and_ended("first", wrap_up_s=5.0)
    late.handle(e.Tick(15.0))
    assert late.agent("a1").state == "ready"
    assert late.handle(e.DispositionRecorded("a1", "k1", 16.0)) == []  # after the timer: nothing


def test_R12_a_pause_asked_during_the_call_wins_over_ready_after_the_disposition() -> None:
    eng = Engine([QueueConfig("q", wrap_up_s=30, wrap_up_ends="first", announce_agent_id=False)],
                 [AgentConfig("a1", "PJSIP/a1", ("q",))])
    eng.handle(e.AgentLoggedIn("a1", 0.0))
    eng.handle(e.CallArrived("k1", "q", "13800000001", 1.0))
    eng.handle(e.OfferAnswered("k1", "a1", 2.0))
    eng.handle(e.AgentPaused("a1", "lunch", 3.0))
    eng.handle(e.CallerHungUp("k1", 10.0))
    eng.handle(e.DispositionRecorded("a1", "k1", 11.0))
    view = eng.agent("a1")
    assert (view.state, view.reason) == ("not-ready", "lunch")


def test_R12_the_snapshot_keeps_the_wrap_up_mode_and_the_last_call() -> None:
    eng = answered_and_ended("disposition")
    again = Engine.restore([QueueConfig("q", wrap_up_s=30, wrap_up_ends="disposition", announce_agent_id=False)],
                           [AgentConfig("a1", "PJSIP/a1", ("q",))], eng.snapshot())
    assert again.agent("a1") == eng.agent("a1")
    assert again.handle(e.DispositionRecorded("a1", "k1", 20.0))
    assert again.agent("a1").state == "ready"
