"""R11 queued callbacks and R2 on their dial-outs, in the core: the callback keeps its
place, the agent is offered it first, the customer is dialled for at most
outbound_max_rings x ring_cycle_s, then bridged (and recorded), or retried after the
delay, up to the maximum of attempts."""

from __future__ import annotations

from acd import AgentConfig, Engine, QueueConfig
from acd import callbacks
from acd import commands as c
from acd import events as e
from acd.model import Intake


def engine(**queue: float) -> Engine:
    cfg = QueueConfig("q", ring_cycle_s=5.0, outbound_max_rings=6, wrap_up_s=0, announce_agent_id=False,
                      callback_retry_s=60.0, callback_max_attempts=2, **queue)  # type: ignore[arg-type]
    eng = Engine([cfg], [AgentConfig("a1", "PJSIP/a1", ("q",))], Intake(default_queue="q", record=True))
    eng.handle(e.PlanLevelChanged("q", "III", 0.0, offer_callbacks=True))
    return eng


def of(kind: type, out: list[c.Command]) -> list[c.Command]:
    return [cmd for cmd in out if isinstance(cmd, kind)]


def test_R11_the_callback_keeps_its_place_between_two_callers() -> None:
    eng = engine()
    for i, number in enumerate(("13800000001", "13800000002", "13800000003")):
        eng.handle(e.CallArrived(f"k{i + 1}", "q", number, float(i + 1)))
    eng.handle(e.CallerChoseCallback("k2", 5.0))
    eng.handle(e.CallerHungUp("k2", 6.0))
    out = eng.handle(e.AgentLoggedIn("a1", 10.0))
    assert [(o.call_id, o.agent_id) for o in of(c.OfferCall, out)] == [("k1", "a1")]
    eng.handle(e.OfferAnswered("k1", "a1", 11.0))
    out = eng.handle(e.CallerHungUp("k1", 20.0))  # k1 served; the callback is next, before k3
    assert [o.call_id for o in of(c.OfferCall, out)] == ["k2"]
    out = eng.handle(e.OfferAnswered("k2", "a1", 21.0))  # agent first ...
    assert of(c.DialCustomer, out) == [c.DialCustomer("k2", "13800000002", "a1", 30.0, 1)]  # ... then the customer
    assert of(c.ConnectCall, out) == []
    out = eng.handle(e.CustomerAnswered("k2", 24.0))
    assert c.ConnectCall("k2", "a1") in out and c.StartRecording("k2", "13800000002", "k2-callback") in out  # R4
    assert of(c.CallbackAttempt, out) == [c.CallbackAttempt("k2", "q", 1, "answered", 3.0, 24.0)]
    out = eng.handle(e.CallerHungUp("k2", 90.0))
    (ended,) = of(c.CallEnded, out)
    assert (ended.outcome, ended.agent_id, ended.arrived_at) == ("handled", "a1", 2.0)
    assert [o.call_id for o in of(c.OfferCall, out)] == ["k3"]


def test_R2_R11_no_answer_at_six_rings_then_retried_after_the_delay() -> None:
    eng = engine()
    eng.handle(e.CallArrived("k1", "q", "13800000001", 1.0))
    eng.handle(e.CallerChoseCallback("k1", 2.0))
    eng.handle(e.CallerHungUp("k1", 3.0))
    eng.handle(e.AgentLoggedIn("a1", 4.0))
    eng.handle(e.OfferAnswered("k1", "a1", 5.0))
    assert eng.next_deadline() == 35.0  # R2: 6 rings x 5 s from the dial
    assert eng.handle(e.Tick(34.9)) == []
    out = eng.handle(e.Tick(35.0))
    assert c.HangUpCaller("k1", "R2 ring cap") in out and c.HangUpAgent("k1", "a1") in out
    assert of(c.CallbackAttempt, out) == [c.CallbackAttempt("k1", "q", 1, "no-answer", 30.0, 35.0, 95.0)]
    assert eng.agent("a1").state == "ready"  # not the agent's fault
    assert eng.calls()[0].state == "retry"
    late = eng.handle(e.CustomerAnswered("k1", 36.0))  # the customer's phone answered too late
    assert late == [c.HangUpCaller("k1", "callback-no-longer-dialled")]
    out = eng.handle(e.Tick(95.0))
    assert [(o.call_id, o.agent_id) for o in of(c.OfferCall, out)] == [("k1", "a1")]
    out = eng.handle(e.OfferAnswered("k1", "a1", 96.0))
    assert of(c.DialCustomer, out)[0].attempt == 2


def test_R11_after_the_last_attempt_the_callback_ends_with_its_outcome() -> None:
    eng = engine()
    eng.handle(e.CallArrived("k1", "q", "13800000001", 1.0))
    eng.handle(e.CallerChoseCallback("k1", 2.0))
    eng.handle(e.AgentLoggedIn("a1", 4.0))
    eng.handle(e.OfferAnswered("k1", "a1", 5.0))
    out = eng.handle(e.CustomerNotReached("k1", "busy", 6.0))
    assert of(c.CallbackAttempt, out)[0].outcome == "busy"
    eng.handle(e.Tick(66.0))
    eng.handle(e.OfferAnswered("k1", "a1", 67.0))
    out = eng.handle(e.CustomerNotReached("k1", "unreachable", 68.0))
    assert of(c.CallbackAttempt, out) == [c.CallbackAttempt("k1", "q", 2, "unreachable", 1.0, 68.0, None)]
    (ended,) = of(c.CallEnded, out)
    assert ended.outcome == "callback-unreached" and eng.calls() == []


def test_R11_a_restored_core_goes_on_with_the_dial_and_its_R2_timer() -> None:
    eng = engine()
    eng.handle(e.CallArrived("k1", "q", "13800000001", 1.0))
    eng.handle(e.CallerChoseCallback("k1", 2.0))
    eng.handle(e.AgentLoggedIn("a1", 4.0))
    eng.handle(e.OfferAnswered("k1", "a1", 5.0))
    cfg = QueueConfig("q", ring_cycle_s=5.0, outbound_max_rings=6, wrap_up_s=0, announce_agent_id=False,
                      callback_retry_s=60.0, callback_max_attempts=2)
    again = Engine.restore([cfg], [AgentConfig("a1", "PJSIP/a1", ("q",))], eng.snapshot(),
                           Intake(default_queue="q", record=True))
    assert again.calls() == eng.calls() and again.calls()[0].state == "dialing"
    assert again.next_deadline() == 35.0
    assert of(c.CallbackAttempt, again.handle(e.Tick(35.0)))[0].outcome == "no-answer"


def test_R11_queues_offer_callbacks_always_or_above_an_expected_wait() -> None:
    always = engine(offer_callbacks="always")  # type: ignore[arg-type]
    always.handle(e.PlanLevelChanged("q", None, 0.5))
    out = always.handle(e.CallArrived("k1", "q", "13800000001", 1.0))
    assert c.PlayWaitingMedia("k1", ("callback-offer",), offer_callback=True) in out
    above = engine(offer_callbacks="above-wait", callback_above_wait_s=100.0)  # type: ignore[arg-type]
    above.handle(e.PlanLevelChanged("q", None, 0.5))
    above.handle(e.AgentLoggedIn("a1", 1.0))
    above.handle(e.CallArrived("k0", "q", "13800000000", 1.0))  # no handle time known yet: no offer
    above.handle(e.OfferAnswered("k0", "a1", 2.0))
    above.handle(e.CallerHungUp("k0", 62.0))  # one call of 60 s handled
    above.handle(e.AgentPaused("a1", "break", 63.0))
    out = above.handle(e.CallArrived("k1", "q", "13800000001", 64.0))  # 1 x 60 s / 1 agent < 100 s
    assert c.PlayWaitingMedia("k1", (), offer_callback=False) in out
    out = above.handle(e.CallArrived("k2", "q", "13800000002", 65.0))  # 2 x 60 s >= 100 s
    assert c.PlayWaitingMedia("k2", ("callback-offer",), offer_callback=True) in out


def test_R11_a_return_visit_waits_behind_every_inbound_caller_and_is_tried_once_per_pass() -> None:
    eng = engine()
    eng.handle(e.OutboundQueued("rv-WO-1-1", "q", "13800000009", 1.0))
    assert eng.handle(e.OutboundQueued("rv-WO-1-1", "q", "13800000009", 1.5)) == []  # once
    eng.handle(e.CallArrived("k1", "q", "13800000001", 2.0))  # later, but a caller: first
    out = eng.handle(e.AgentLoggedIn("a1", 3.0))
    assert [o.call_id for o in of(c.OfferCall, out)] == ["k1"]
    eng.handle(e.OfferAnswered("k1", "a1", 4.0))
    out = eng.handle(e.CallerHungUp("k1", 10.0))
    assert [o.call_id for o in of(c.OfferCall, out)] == ["rv-WO-1-1"]
    out = eng.handle(e.OfferAnswered("rv-WO-1-1", "a1", 11.0))
    assert of(c.DialCustomer, out) == [c.DialCustomer("rv-WO-1-1", "13800000009", "a1", 30.0, 1)]
    out = eng.handle(e.CustomerAnswered("rv-WO-1-1", 12.0))
    assert c.StartRecording("rv-WO-1-1", "13800000009", "") in out  # recorded under its own id
    out = eng.handle(e.CallerHungUp("rv-WO-1-1", 40.0))
    (ended,) = of(c.CallEnded, out)
    assert (ended.outcome, ended.kind) == ("handled", "return-visit")
    assert of(c.LabelRecording, out) == [c.LabelRecording("rv-WO-1-1", "q", "return-visit", "a1")]
    eng.handle(e.OutboundQueued("rv-WO-2-1", "q", "13800000008", 50.0))
    eng.handle(e.OfferAnswered("rv-WO-2-1", "a1", 51.0))
    out = eng.handle(e.CustomerNotReached("rv-WO-2-1", "busy", 52.0))
    (ended,) = of(c.CallEnded, out)
    assert ended.outcome == "callback-unreached" and eng.calls() == []  # the schedule retries later


def test_R11_a_keyed_in_number_is_the_one_dialled() -> None:
    eng = engine()
    eng.handle(e.CallArrived("k1", "q", "13800000001", 1.0))
    out = eng.handle(e.CallerChoseCallback("k1", 2.0, "13912345678"))
    assert of(c.CallbackRequested, out)[0].caller == "13912345678"
    eng.handle(e.AgentLoggedIn("a1", 3.0))
    out = eng.handle(e.OfferAnswered("k1", "a1", 4.0))
    assert of(c.DialCustomer, out)[0].number == "13912345678"


def test_R11_the_callback_dialogue_confirms_the_number_or_takes_another() -> None:
    import itertools
    from typing import Any

    from cti.calls.media import WaitingMedia

    said: list[str] = []
    media = WaitingMedia(None, lambda call_id, what, step: said.append(what), itertools.count())  # type: ignore[arg-type]
    media._may_call_back.update({"k1", "k2", "k3"})
    assert media.callback_key("k1", "5", "13800000001") is None  # only 1 starts it
    assert media.callback_key("k1", "1", "13800000001") is None and said == ["callback number"]  # read back
    assert media.callback_key("k1", "1", "13800000001") == ("",)  # confirmed: the caller's own number
    assert media.callback_key("k1", "1", "13800000001") is None  # once
    media.callback_key("k2", "1", "13800000002")
    media.callback_key("k2", "2", "13800000002")  # another number
    keys: Any = [media.callback_key("k2", d, "13800000002") for d in "13912345678"]
    assert keys == [None] * 11 and media.callback_key("k2", "#", "13800000002") == ("13912345678",)
    media.callback_key("k3", "1", "caller")  # no number to read back: asked for one at once
    assert media.callback_key("k3", "1", "caller") is None  # a digit of the number, not a confirmation
    assert [media.callback_key("k3", "#", "caller") for _ in range(3)] == [None, None, None]  # too short, 3 times
    assert "k3" not in media._may_call_back  # no callback after all: the caller keeps waiting


def test_R2_R11_a_line_that_answers_stops_the_ring_cap_and_a_machine_is_told_apart() -> None:
    """Machine detection on the trunk: the line answering ends R2's ringing (the cap
    no longer hangs up a customer being screened); a machine is an attempt not reached
    ("machine", retried like no-answer); a person is bridged and recorded."""
    eng = engine()
    eng.handle(e.CallArrived("k1", "q", "13800000001", 1.0))
    eng.handle(e.CallerChoseCallback("k1", 2.0))
    eng.handle(e.AgentLoggedIn("a1", 4.0))
    eng.handle(e.OfferAnswered("k1", "a1", 5.0))
    assert eng.handle(e.CustomerScreening("k1", 33.0)) == []  # answered at 28 s of ringing
    assert eng.handle(e.Tick(35.0)) == []  # R2's cap (35 s) no longer applies
    out = eng.handle(e.CustomerNotReached("k1", "machine", 37.0))
    assert of(c.CallbackAttempt, out) == [c.CallbackAttempt("k1", "q", 1, "machine", 28.0, 37.0, 97.0)]
    assert c.HangUpAgent("k1", "a1") in out and eng.agent("a1").state == "ready"
    eng.handle(e.Tick(97.0))
    eng.handle(e.OfferAnswered("k1", "a1", 98.0))
    eng.handle(e.CustomerScreening("k1", 100.0))
    out = eng.handle(e.CustomerAnswered("k1", 102.0))  # a person
    assert of(c.CallbackAttempt, out) == [c.CallbackAttempt("k1", "q", 2, "answered", 2.0, 102.0)]
    assert c.ConnectCall("k1", "a1") in out


def test_R11_detection_that_never_decides_is_given_up() -> None:
    eng = engine()
    eng.handle(e.CallArrived("k1", "q", "13800000001", 1.0))
    eng.handle(e.CallerChoseCallback("k1", 2.0))
    eng.handle(e.AgentLoggedIn("a1", 4.0))
    eng.handle(e.OfferAnswered("k1", "a1", 5.0))
    eng.handle(e.CustomerScreening("k1", 10.0))
    assert eng.next_deadline() == 25.0  # SCREENING_S after the line answered
    out = eng.handle(e.Tick(25.0))
    assert c.HangUpCaller("k1", "screening timeout") in out
    assert of(c.CallbackAttempt, out)[0].outcome == "screening-timeout"


def two_agents() -> Engine:
    cfg = QueueConfig("q", ring_cycle_s=5.0, outbound_max_rings=6, wrap_up_s=0, announce_agent_id=False,
                      answer_within_rings=2)  # R1: 10 s
    eng = Engine([cfg], [AgentConfig("a1", "PJSIP/a1", ("q",)), AgentConfig("a2", "PJSIP/a2", ("q",))],
                 Intake(default_queue="q", record=True))
    eng.handle(e.AgentLoggedIn("a2", 0.0))  # a2 the longest idle: the strategy's choice for anyone else
    return eng


def test_R16_a_feedback_call_is_offered_to_its_agent_only_then_dials_the_customer() -> None:
    eng = two_agents()
    out = eng.handle(e.OutboundQueued("fb1.X_", "q", "13800000007", 1.0, "complaint-feedback", agent_id="a1"))
    assert of(c.OfferCall, out) == []  # a1 is not ready yet: a2, idle, is not offered it
    out = eng.handle(e.AgentLoggedIn("a1", 2.0))
    assert [(o.call_id, o.agent_id) for o in of(c.OfferCall, out)] == [("fb1.X_", "a1")]
    out = eng.handle(e.Tick(12.0))  # R1: a1's phone rang out: not ready; the call waits for a1, never a2
    assert of(c.OfferCall, out) == [] and eng.agent("a1").state == "not-ready"
    assert eng.agent("a2").state == "ready" and eng.calls()[0].state == "waiting"
    out = eng.handle(e.AgentReady("a1", 20.0))
    assert [(o.call_id, o.agent_id) for o in of(c.OfferCall, out)] == [("fb1.X_", "a1")]
    out = eng.handle(e.OfferAnswered("fb1.X_", "a1", 21.0))  # agent first, then the customer
    assert of(c.DialCustomer, out)[0].number == "13800000007"
    assert eng.calls()[0].state == "dialing"


def test_R16_a_feedback_call_its_agent_never_takes_ends_unreached() -> None:
    eng = two_agents()
    eng.handle(e.OutboundQueued("fb1.X_", "q", "13800000007", 1.0, "complaint-feedback", agent_id="a1"))
    out = eng.handle(e.Tick(1.0 + callbacks.PINNED_WAIT_S - 0.1))
    assert of(c.CallEnded, out) == [] and of(c.OfferCall, out) == []
    out = eng.handle(e.Tick(1.0 + callbacks.PINNED_WAIT_S))
    (ended,) = of(c.CallEnded, out)
    assert (ended.call_id, ended.outcome) == ("fb1.X_", "callback-unreached")
    assert eng.calls() == [] and eng.agent("a2").state == "ready"


def test_R16_a_feedback_call_for_an_agent_outside_the_queue_is_not_queued() -> None:
    eng = two_agents()
    assert eng.handle(e.OutboundQueued("fb1.X_", "q", "13800000007", 1.0, agent_id="nobody")) == []
    assert eng.calls() == []
