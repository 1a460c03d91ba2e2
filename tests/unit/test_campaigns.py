"""R11 campaigns and return visits in the core (``acd.campaigns``): progressive pacing
from the core's own state, do-not-call before the budget, retries while attempts last."""

from __future__ import annotations

from acd import AgentConfig, Engine, QueueConfig
from acd import campaigns
from acd import events as e
from acd.campaigns import AfterCall, HandOver


def engine() -> Engine:
    queues = [QueueConfig("out", wrap_up_s=0, announce_agent_id=False), QueueConfig("in")]
    agents = [AgentConfig(f"a{i}", f"PJSIP/a{i}", ("out",)) for i in range(3)] + [
        AgentConfig("b1", "PJSIP/b1", ("in",))]
    return Engine(queues, agents)


def test_R11_pacing_is_the_queues_ready_agents_less_the_calls_waiting_or_ringing_there() -> None:
    eng = engine()
    assert eng.outbound_capacity("out") == 0  # nobody logged in: nobody is dialled
    for i in range(3):
        eng.handle(e.AgentLoggedIn(f"a{i}", 1.0))
    eng.handle(e.AgentLoggedIn("b1", 1.0))
    assert eng.outbound_capacity("out") == 3 and eng.outbound_capacity("in") == 1
    eng.handle(e.CallArrived("k1", "out", "13800000001", 2.0))  # an inbound caller takes an agent first
    assert eng.outbound_capacity("out") == 1  # two ready, one ringing (the offer counts against them)
    eng.handle(e.OfferAnswered("k1", "a0", 3.0))
    assert eng.outbound_capacity("out") == 2
    eng.handle(e.AgentPaused("a1", "lunch", 4.0))
    eng.handle(e.AgentPaused("a2", "lunch", 4.0))
    eng.handle(e.CallArrived("k2", "out", "13800000002", 5.0))  # waits: nobody ready
    assert eng.outbound_capacity("out") == 0  # never below zero
    eng.handle(e.OutboundQueued("rv1.x_", "out", "13800000003", 6.0))
    assert eng.outbound_capacity("out") == 0 and eng.outbound_capacity("in") == 1


def test_R11_a_do_not_call_number_is_closed_whatever_the_budget_and_takes_no_agent() -> None:
    assert campaigns.hand_over("13800000001", True, 0, 5) == (HandOver.CLOSE, "do-not-call")
    assert campaigns.hand_over("13800000001", True, 5, 5) == (HandOver.CLOSE, "do-not-call")
    assert campaigns.hand_over("", False, 9, 0) == (HandOver.CLOSE, "no-number")


def test_R11_due_entries_are_queued_while_the_budget_lasts_then_left_for_later() -> None:
    assert campaigns.hand_over("13800000001", False, 0, 2) == (HandOver.QUEUE, "")
    assert campaigns.hand_over("13800000001", False, 1, 2) == (HandOver.QUEUE, "")
    assert campaigns.hand_over("13800000001", False, 2, 2) == (HandOver.LATER, "")
    assert campaigns.hand_over("13800000001", False, 0, 0) == (HandOver.LATER, "")


def test_R11_not_reached_is_retried_later_while_attempts_last_then_closed_unreached() -> None:
    assert campaigns.after_call("handled", "handled", 1, 3, 600.0, 100.0) == AfterCall("done", "handled")
    assert campaigns.after_call("handled", "handled", 3, 3, 600.0, 100.0) == AfterCall("done", "handled")
    assert campaigns.after_call("callback-unreached", "busy", 1, 3, 600.0, 100.0) == AfterCall(
        "scheduled", "busy", 700.0)
    assert campaigns.after_call("callback-unreached", "machine", 2, 3, 600.0, 100.0) == AfterCall(
        "scheduled", "machine", 700.0)
    assert campaigns.after_call("callback-unreached", "no-answer", 3, 3, 600.0, 100.0) == AfterCall(
        "closed", "unreached")
    # Its campaign is gone (stopped): no attempt left.
    assert campaigns.after_call("callback-unreached", "busy", 1, None, 600.0, 100.0) == AfterCall(
        "closed", "unreached")


def test_R11_the_kind_of_call_names_return_visits_apart_from_campaigns() -> None:
    assert campaigns.kind("return-visits") == "return-visit"
    assert campaigns.kind("CABCDEFG") == "campaign"


def test_R20_a_visit_dials_the_recorded_contact_number_then_the_callers_never_a_blocked_one() -> None:
    blocked = {"13900000001", "13700000001"}.__contains__
    assert campaigns.number_to_dial(("139 0000-0002", "13800000001"), blocked) == ("13900000002", "")
    assert campaigns.number_to_dial(("13900000001", "13800000001"), blocked) == ("13800000001", "")
    assert campaigns.number_to_dial(("13900000001", "13700000001"), blocked) == ("", "do-not-call")
    assert campaigns.number_to_dial(("", "13800000001"), blocked) == ("13800000001", "")
    assert campaigns.number_to_dial(("李先生家", "anonymous"), blocked) == ("", "no-number")  # a hidden caller
    assert campaigns.number_to_dial(("", ""), blocked) == ("", "no-number")
