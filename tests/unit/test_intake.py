"""How a call is treated before it waits (acd.intake): one decision for every path.

Each test names the rule it proves; they run on the pure core, no Asterisk."""

from __future__ import annotations

import json

from acd import AgentConfig, Engine, QueueConfig
from acd import commands as c
from acd import events as e
from acd.model import EMERGENCY_PRIORITY, Intake, Route

QUEUES = [QueueConfig("support", wrap_up_s=0, announce_agent_id=False),
          QueueConfig("overflow", wrap_up_s=0, announce_agent_id=False),
          QueueConfig("tiny", max_waiting=1, wrap_up_s=0, announce_agent_id=False)]
AGENTS = [AgentConfig("a1", "PJSIP/a1", ("support",)), AgentConfig("a2", "PJSIP/a2", ("overflow",)),
          AgentConfig("s1", "PJSIP/s1", ("support",))]
INTAKE = Intake(
    routes={"119": Route("support", kind="gas-leak", emergency=True),
            "300": Route("support", kind="consultation"),
            "400": Route("tiny")},
    default_queue="support", ivr_extensions=frozenset({"100"}), record=True,
    emergency_prompt="safety-instructions",
)


def engine() -> Engine:
    return Engine(QUEUES, AGENTS, INTAKE)


def of(kind: type, out: list[c.Command]) -> list[c.Command]:
    return [x for x in out if isinstance(x, kind)]


def test_R4_R8_direct_emergency_route_is_answered_recorded_notified_and_hears_instructions() -> None:
    eng = engine()
    out = eng.handle(e.CallEntered("k1", "13800000001", "119", 10.0))
    assert out[:2] == [c.AnswerCall("k1"), c.StartRecording("k1", "13800000001")]
    assert of(c.NotifyEmergency, out) == [c.NotifyEmergency("k1", "13800000001", "support", "gas-leak", 10.0)]
    assert of(c.PlayWaitingMedia, out) == [c.PlayWaitingMedia("k1", ("safety-instructions",), loop=True)]
    (view,) = eng.calls()
    assert view.priority == EMERGENCY_PRIORITY and view.state == "waiting"


def test_R8_emergency_through_the_ivr_gets_exactly_the_direct_treatment() -> None:
    direct, via_ivr = engine(), engine()
    direct_out = direct.handle(e.CallEntered("k1", "555", "119", 10.0))
    entered = via_ivr.handle(e.CallEntered("k1", "555", "100", 8.0))
    assert entered == [c.AnswerCall("k1"), c.StartRecording("k1", "555"), c.StartIvr("k1", "555")]
    assert via_ivr.calls() == []  # in the IVR: not waiting yet
    routed = via_ivr.handle(e.IvrRouted("k1", "support", 10.0, kind="gas-leak", emergency=True))
    assert not of(c.StartRecording, routed)  # R4: recorded once, from the IVR's answer
    assert routed == [x for x in direct_out if not isinstance(x, (c.AnswerCall, c.StartRecording))]


def test_R8_emergency_by_a_plain_call_arrival_is_treated_the_same() -> None:
    eng = engine()
    out = eng.handle(e.CallArrived("k1", "support", "555", 3.0, kind="fire", emergency=True))
    assert of(c.NotifyEmergency, out) == [c.NotifyEmergency("k1", "555", "support", "fire", 3.0)]
    assert of(c.PlayWaitingMedia, out)[0] == c.PlayWaitingMedia("k1", ("safety-instructions",), loop=True)


def test_R9_plan_overflow_moves_new_calls_but_never_an_emergency() -> None:
    eng = engine()
    eng.handle(e.PlanLevelChanged("support", "II", 1.0, overflow_to="overflow"))
    out = eng.handle(e.CallEntered("k1", "555", "300", 2.0))
    assert of(c.CallOverflowed, out) == [c.CallOverflowed("k1", "support", "overflow", "plan", 2.0)]
    assert eng.calls()[0].queue == "overflow"
    out = eng.handle(e.CallEntered("k2", "556", "119", 3.0))
    assert not of(c.CallOverflowed, out)
    assert {k.call_id: k.queue for k in eng.calls()}["k2"] == "support"
    eng.handle(e.PlanLevelChanged("support", None, 4.0))
    out = eng.handle(e.CallEntered("k3", "557", "300", 5.0))
    assert not of(c.CallOverflowed, out)


def test_R9_incident_announcement_then_music_and_the_callback_offer() -> None:
    eng = engine()
    eng.handle(e.PlanLevelChanged("support", "III", 1.0, announcement="incident-announcement"))
    out = eng.handle(e.CallEntered("k1", "555", "300", 2.0))
    assert of(c.PlayWaitingMedia, out) == [c.PlayWaitingMedia("k1", ("incident-announcement",))]
    eng.handle(e.PlanLevelChanged("support", "III", 3.0, announcement="incident-announcement",
                                  offer_callbacks=True))
    out = eng.handle(e.CallEntered("k2", "556", "300", 4.0))
    assert of(c.PlayWaitingMedia, out) == [
        c.PlayWaitingMedia("k2", ("incident-announcement", "callback-offer"), offer_callback=True)]
    out = eng.handle(e.CallEntered("k3", "557", "119", 5.0))  # an emergency hears its instructions
    assert of(c.PlayWaitingMedia, out) == [c.PlayWaitingMedia("k3", ("safety-instructions",), loop=True)]


def test_R9_standby_agents_are_called_in_and_go_home_when_the_plan_ends() -> None:
    eng = engine()
    out = eng.handle(e.PlanLevelChanged("support", "III", 1.0, standby_agents=("s1",)))
    assert c.AgentStateChanged("s1", "ready", None, 1.0) in out
    assert of(c.NotifyStandbyCallIn, out) == [c.NotifyStandbyCallIn("III", ("s1",), 1.0)]
    assert eng.plan("support") is not None
    # Restarted router: the level and who was called in survive a snapshot.
    eng = Engine.restore(QUEUES, AGENTS, json.loads(json.dumps(eng.snapshot())), INTAKE)
    out = eng.handle(e.PlanLevelChanged("support", None, 9.0))
    assert c.AgentStateChanged("s1", "logged-out", None, 9.0) in out
    assert eng.plan("support") is None and eng.agent("a1").state == "logged-out"


def test_R4_every_recorded_call_is_labelled_when_it_leaves_whatever_the_outcome() -> None:
    eng = engine()
    eng.handle(e.AgentLoggedIn("a1", 0.0))
    eng.handle(e.CallEntered("k1", "555", "300", 1.0))
    eng.handle(e.OfferAnswered("k1", "a1", 2.0))
    out = eng.handle(e.CallerHungUp("k1", 9.0))
    assert of(c.LabelRecording, out) == [c.LabelRecording("k1", "support", "consultation", "a1")]
    eng.handle(e.CallEntered("k2", "556", "100", 10.0))  # hangs up in the IVR
    assert eng.handle(e.CallerHungUp("k2", 11.0)) == [c.LabelRecording("k2", "", "", None)]
    eng.handle(e.AgentPaused("a1", "lunch", 11.5))
    eng.handle(e.CallEntered("k3", "557", "400", 12.0))  # waits in tiny
    out = eng.handle(e.CallEntered("k4", "558", "400", 13.0))  # tiny is full: refused
    assert out[:2] == [c.AnswerCall("k4"), c.StartRecording("k4", "558")]
    assert of(c.Farewell, out) == [c.Farewell("k4", "queue-full", "queue-full")]
    assert of(c.LabelRecording, out) == [c.LabelRecording("k4", "tiny", "", None)]
    out = eng.handle(e.CallerHungUp("k3", 14.0))  # abandoned
    assert of(c.LabelRecording, out) == [c.LabelRecording("k3", "tiny", "", None)]


def test_ivr_after_hours_callback_request_names_the_caller() -> None:
    eng = engine()
    eng.handle(e.CallEntered("k1", "13800000001", "100", 1.0))
    out = eng.handle(e.IvrCallbackRequested("k1", "support", "complaint", 2.0))
    assert out == [c.CallbackRequested("k1", "13800000001", "support", "complaint", 2.0)]
    assert eng.handle(e.IvrCallbackRequested("gone", "support", "complaint", 2.0)) == []


def test_without_recording_nothing_is_recorded_or_labelled() -> None:
    eng = Engine(QUEUES, AGENTS, Intake(default_queue="support"))
    out = eng.handle(e.CallEntered("k1", "555", "777", 1.0))
    assert out[0] == c.AnswerCall("k1") and not of(c.StartRecording, out)
    assert not of(c.LabelRecording, eng.handle(e.CallerHungUp("k1", 2.0)))


def test_a_duplicate_entry_changes_nothing() -> None:
    eng = engine()
    eng.handle(e.CallEntered("k1", "555", "100", 1.0))
    assert eng.handle(e.CallEntered("k1", "555", "100", 1.5)) == []
    eng.handle(e.IvrRouted("k1", "support", 2.0))
    assert eng.handle(e.IvrRouted("k1", "support", 2.5)) == []
    assert eng.handle(e.CallEntered("k1", "555", "300", 3.0)) == []


def test_R6_business_hours_close_a_direct_route_but_never_an_emergency() -> None:
    """Hours configured for a queue apply to direct routes too (not only in the IVR)."""
    from dataclasses import replace
    from datetime import datetime, timezone

    from acd.hours import BusinessHours

    closed_all_week = BusinessHours(weekly={})
    eng = Engine(QUEUES, AGENTS, replace(INTAKE, hours={"support": closed_all_week}, utc_offset_s=0))
    at = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc).timestamp()
    out = eng.handle(e.CallEntered("k1", "555", "300", at))
    assert of(c.Farewell, out) == [c.Farewell("k1", "after-hours", "after-hours")]
    assert of(c.LabelRecording, out) == [c.LabelRecording("k1", "support", "consultation", None)]
    assert eng.calls() == []
    out = eng.handle(e.CallEntered("k2", "556", "119", at))  # R8: always taken
    assert of(c.NotifyEmergency, out) and not of(c.Farewell, out)
