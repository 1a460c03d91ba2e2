"""Transfers, holds asked by the agent, and unreachable phones in the routing core:
plain events, no sockets."""

from __future__ import annotations

import pytest

from acd import AgentConfig, Engine, QueueConfig
from acd import commands as c
from acd import events as e
from acd.errors import TransferRefused
from reports.records import RecordBuilder


def of(kind: type, cmds: list[c.Command]) -> list:
    return [x for x in cmds if isinstance(x, kind)]


def engine(n: int = 3) -> Engine:
    queues = [QueueConfig("support", ring_cycle_s=5.0, answer_within_rings=2, wrap_up_s=5.0,
                          announce_agent_id=False, hold_max_s=30.0),
              QueueConfig("gas", ring_cycle_s=5.0, answer_within_rings=2, wrap_up_s=5.0, announce_agent_id=False)]
    agents = [AgentConfig(f"100{i}", f"PJSIP/agent100{i}", ("support",)) for i in range(1, n + 1)]
    agents.append(AgentConfig("2001", "PJSIP/agent2001", ("gas",)))
    return Engine(queues, agents)


def connected(eng: Engine, at: float = 10.0, priority: int = 0) -> None:
    """Call c1 answered by agent 1001 at ``at`` (it arrived at ``at`` - 2)."""
    eng.handle(e.AgentLoggedIn("1001", at=0.0))
    eng.handle(e.CallArrived("c1", "support", "5551234", at=at - 2, priority=priority, kind="complaint"))
    eng.handle(e.OfferAnswered("c1", "1001", at=at))


def test_blind_transfer_to_an_agent_rings_them_and_credits_each_part() -> None:
    eng = engine()
    connected(eng)
    eng.handle(e.AgentLoggedIn("1002", at=1.0))
    out = eng.handle(e.TransferRequested("c1", "1001", "agent", "1002", False, at=40.0))
    (moved,) = of(c.CallTransferred, out)
    assert (moved.agent_id, moved.to, moved.target, moved.attended, moved.talked_s) == ("1001", "agent", "1002",
                                                                                         False, 30.0)
    assert of(c.HangUpAgent, out) == [c.HangUpAgent("c1", "1001")]
    assert of(c.PlayWaitingMedia, out) == [c.PlayWaitingMedia("c1")]  # the caller hears music meanwhile
    assert of(c.OfferCall, out) == [c.OfferCall("c1", "1002", "PJSIP/agent1002", 10.0)]
    assert eng.agent("1001").state == "wrap-up"
    assert eng.agent("1001").last_call_id == "c1"  # it may record its disposition
    out = eng.handle(e.OfferAnswered("c1", "1002", at=43.0))
    assert of(c.ConnectCall, out) == [c.ConnectCall("c1", "1002")]
    out = eng.handle(e.CallerHungUp("c1", at=73.0))
    (ended,) = of(c.CallEnded, out)
    # The whole call: waited to the first answer, talked both parts (not the ringing between).
    assert (ended.agent_id, ended.waited_s, ended.talked_s) == ("1002", 2.0, 60.0)
    assert eng.agent("1001").talk_time_s == 30.0 and eng.agent("1002").talk_time_s == 30.0
    assert eng.agent("1001").calls == 1 and eng.agent("1002").calls == 1


def test_blind_transfer_to_an_agent_who_does_not_answer_waits_in_its_queue() -> None:
    eng = engine()
    connected(eng)
    eng.handle(e.AgentLoggedIn("1002", at=1.0))
    eng.handle(e.TransferRequested("c1", "1001", "agent", "1002", False, at=40.0))
    eng.handle(e.AgentPaused("1001", "break", at=41.0))
    out = eng.handle(e.Tick(at=50.0))  # R1: the ring timeout of the call's queue
    assert of(c.RingNoAnswer, out) == [c.RingNoAnswer("c1", "1002", 1, 50.0)]
    assert eng.calls()[0].state == "waiting"
    out = eng.handle(e.AgentLoggedIn("1003", at=51.0))
    assert of(c.OfferCall, out) == [c.OfferCall("c1", "1003", "PJSIP/agent1003", 10.0)]


def test_blind_transfer_to_a_queue_keeps_priority_kind_and_place() -> None:
    eng = engine()
    eng.handle(e.CallArrived("g1", "gas", "5550001", at=5.0, priority=0))  # waits in gas: nobody there
    eng.handle(e.CallArrived("g2", "gas", "5550002", at=6.0, priority=9))
    connected(eng, priority=5)
    out = eng.handle(e.TransferRequested("c1", "1001", "queue", "gas", False, at=40.0))
    assert of(c.CallTransferred, out)[0].to == "queue"
    (view,) = [k for k in eng.calls() if k.call_id == "c1"]
    assert (view.queue, view.state, view.priority, view.kind, view.arrived_at) == ("gas", "waiting", 5,
                                                                                  "complaint", 8.0)
    assert eng.position("g2") == 1 and eng.position("c1") == 2 and eng.position("g1") == 3
    out = eng.handle(e.AgentLoggedIn("2001", at=41.0))
    assert of(c.OfferCall, out)[0].call_id == "g2"


def test_attended_transfer_consults_then_completes() -> None:
    eng = engine()
    connected(eng)
    eng.handle(e.AgentLoggedIn("1002", at=1.0))
    out = eng.handle(e.TransferRequested("c1", "1001", "agent", "1002", True, at=40.0))
    assert of(c.HoldCaller, out) == [c.HoldCaller("c1")]
    assert of(c.OfferCall, out) == [c.OfferCall("c1", "1002", "PJSIP/agent1002", 10.0)]
    assert eng.calls()[0].on_hold and eng.calls()[0].consult == "1002"
    with pytest.raises(TransferRefused):  # not before the target answers
        eng.handle(e.TransferCompleted("c1", "1001", at=41.0))
    out = eng.handle(e.OfferAnswered("c1", "1002", at=42.0))
    assert out[-1] == c.ConnectConsult("c1", "1002") and not of(c.HangUpAgent, out)
    assert (eng.agent("1001").state, eng.agent("1002").state) == ("on-call", "on-call")
    out = eng.handle(e.TransferCompleted("c1", "1001", at=50.0))
    (moved,) = of(c.CallTransferred, out)
    assert (moved.talked_s, moved.held_s, moved.attended) == (40.0, 10.0, True)
    assert of(c.DropAgentLeg, out) == [c.DropAgentLeg("c1", "1001")]
    assert of(c.TakeOffHold, out) == [c.TakeOffHold("c1")]
    view = eng.calls()[0]
    assert (view.agent_id, view.on_hold, view.consult) == ("1002", False, "")
    assert eng.agent("1001").state == "wrap-up"
    out = eng.handle(e.AgentHungUp("c1", "1002", at=80.0))
    (ended,) = of(c.CallEnded, out)
    assert (ended.agent_id, ended.talked_s, ended.held_s) == ("1002", 70.0, 10.0)


def test_attended_transfer_cancelled_returns_the_caller() -> None:
    eng = engine()
    connected(eng)
    eng.handle(e.AgentLoggedIn("1002", at=1.0))
    eng.handle(e.TransferRequested("c1", "1001", "agent", "1002", True, at=40.0))
    eng.handle(e.OfferAnswered("c1", "1002", at=42.0))
    out = eng.handle(e.TransferCancelled("c1", "1001", at=45.0))
    assert of(c.DropAgentLeg, out) == [c.DropAgentLeg("c1", "1002")]
    assert of(c.TakeOffHold, out) == [c.TakeOffHold("c1")]
    assert eng.agent("1002").state == "ready" and eng.agent("1001").state == "on-call"
    view = eng.calls()[0]
    assert (view.agent_id, view.on_hold, view.consult) == ("1001", False, "")
    out = eng.handle(e.CallerHungUp("c1", at=60.0))
    (ended,) = of(c.CallEnded, out)
    assert (ended.agent_id, ended.talked_s, ended.held_s) == ("1001", 50.0, 5.0)


@pytest.mark.parametrize("how", ["busy", "no-answer", "hung-up"])
def test_failed_attended_transfer_returns_the_caller_to_the_first_agent(how: str) -> None:
    eng = engine()
    connected(eng)
    eng.handle(e.AgentLoggedIn("1002", at=1.0))
    eng.handle(e.TransferRequested("c1", "1001", "agent", "1002", True, at=40.0))
    if how == "busy":
        out = eng.handle(e.OfferFailed("c1", "1002", "busy", at=41.0))
    elif how == "no-answer":
        out = eng.handle(e.Tick(at=50.0))
        assert of(c.RingNoAnswer, out) == [c.RingNoAnswer("c1", "1002", 1, 50.0)]
    else:
        eng.handle(e.OfferAnswered("c1", "1002", at=42.0))
        out = eng.handle(e.AgentHungUp("c1", "1002", at=44.0))
    assert of(c.TakeOffHold, out) == [c.TakeOffHold("c1")]
    view = eng.calls()[0]
    assert (view.state, view.agent_id, view.on_hold, view.consult) == ("connected", "1001", False, "")
    assert eng.agent("1001").state == "on-call"


def test_transferring_agent_hanging_up_completes_or_goes_blind() -> None:
    eng = engine()
    connected(eng)
    eng.handle(e.AgentLoggedIn("1002", at=1.0))
    eng.handle(e.TransferRequested("c1", "1001", "agent", "1002", True, at=40.0))
    out = eng.handle(e.AgentHungUp("c1", "1001", at=41.0))  # the target still rings: blind now
    assert not of(c.HangUpCaller, out) and of(c.CallTransferred, out)[0].attended is False
    view = eng.calls()[0]
    assert (view.state, view.offered_to) == ("offered", ("1002",))
    out = eng.handle(e.OfferAnswered("c1", "1002", at=43.0))
    assert of(c.ConnectCall, out) == [c.ConnectCall("c1", "1002")]
    # Answered consult: the transferring agent hanging up completes it.
    eng2 = engine()
    connected(eng2)
    eng2.handle(e.AgentLoggedIn("1002", at=1.0))
    eng2.handle(e.TransferRequested("c1", "1001", "agent", "1002", True, at=40.0))
    eng2.handle(e.OfferAnswered("c1", "1002", at=42.0))
    out = eng2.handle(e.AgentHungUp("c1", "1001", at=45.0))
    assert of(c.TakeOffHold, out) == [c.TakeOffHold("c1")] and eng2.calls()[0].agent_id == "1002"


def test_caller_hanging_up_during_a_consult_frees_both_agents() -> None:
    eng = engine()
    connected(eng)
    eng.handle(e.AgentLoggedIn("1002", at=1.0))
    eng.handle(e.TransferRequested("c1", "1001", "agent", "1002", True, at=40.0))
    out = eng.handle(e.CallerHungUp("c1", at=41.0))
    assert of(c.CancelOffer, out) == [c.CancelOffer("c1", "1002", "caller-gone")]
    assert eng.agent("1002").state == "ready" and eng.agent("1001").state == "wrap-up"
    assert eng.calls() == []


def test_transfer_to_an_external_number_ends_the_call_in_the_core() -> None:
    eng = engine()
    connected(eng)
    out = eng.handle(e.TransferRequested("c1", "1001", "external", "013800000000", False, at=40.0))
    assert of(c.TransferOut, out) == [c.TransferOut("c1", "013800000000")]
    (ended,) = of(c.CallEnded, out)
    assert (ended.outcome, ended.agent_id, ended.talked_s, ended.ended_by) == ("handled", None, 30.0, "transfer")
    assert eng.calls() == [] and eng.agent("1001").state == "wrap-up"


@pytest.mark.parametrize("bad", [
    ("c2", "1001", "agent", "1002", False),  # no such call
    ("c1", "1002", "agent", "1003", False),  # not that agent's call
    ("c1", "1001", "agent", "1003", False),  # target not logged in
    ("c1", "1001", "agent", "1001", False),  # to itself
    ("c1", "1001", "queue", "nowhere", False),
    ("c1", "1001", "external", "", False),
    ("c1", "1001", "queue", "gas", True),  # attended goes to an agent
    ("c1", "1001", "moon", "x", False),
])
def test_transfers_refused_change_nothing(bad: tuple[str, str, str, str, bool]) -> None:
    eng = engine()
    connected(eng)
    eng.handle(e.AgentLoggedIn("1002", at=1.0))
    before = eng.snapshot()
    with pytest.raises(TransferRefused):
        eng.handle(e.TransferRequested(*bad, at=40.0))
    assert eng.snapshot() == before


def test_R3_hold_from_the_api_runs_the_same_timer() -> None:
    """R3: a hold asked from the desk or the API: the engine holds the caller and the
    queue's hold limit and actions apply, as for a phone's re-INVITE."""
    eng = engine()
    connected(eng)
    out = eng.handle(e.HoldRequested("c1", "1001", True, at=20.0))
    assert out == [c.HoldCaller("c1")]
    out = eng.handle(e.Tick(at=50.0))
    assert of(c.HoldOverrun, out) == [c.HoldOverrun("c1", "1001", 30.0, 50.0)]
    assert of(c.RemindAgent, out) and of(c.PlayApology, out)
    out = eng.handle(e.HoldRequested("c1", "1001", False, at=55.0))
    assert out == [c.TakeOffHold("c1")]
    assert eng.handle(e.HoldRequested("c1", "1001", False, at=56.0)) == []  # twice: nothing
    with pytest.raises(TransferRefused):
        eng.handle(e.HoldRequested("c1", "1002", True, at=57.0))
    (ended,) = of(c.CallEnded, eng.handle(e.CallerHungUp("c1", at=60.0)))
    assert ended.held_s == 35.0


def test_unreachable_agent_is_not_offered_calls_and_comes_back() -> None:
    eng = engine()
    eng.handle(e.AgentLoggedIn("1001", at=0.0))
    eng.handle(e.AgentLoggedIn("1002", at=1.0))
    eng.handle(e.AgentReachable("1001", False, at=2.0))
    out = eng.handle(e.CallArrived("k1", "support", "5550001", at=3.0))
    assert of(c.OfferCall, out)[0].agent_id == "1002"  # 1001 longest idle, but its phone is away
    out = eng.handle(e.CallArrived("k2", "support", "5550002", at=4.0))
    assert not of(c.OfferCall, out) and eng.agent("1001").state == "ready"
    out = eng.handle(e.AgentReachable("1001", True, at=5.0))
    assert of(c.OfferCall, out) == [c.OfferCall("k2", "1001", "PJSIP/agent1001", 10.0)]
    # Away while offered or on a call: nothing changes until it is ready again.
    eng.handle(e.AgentReachable("1001", False, at=6.0))
    eng.handle(e.OfferFailed("k2", "1001", "unreachable", at=6.1))
    restored = Engine.restore(eng.queue_configs(), [AgentConfig(f"100{i}", f"PJSIP/agent100{i}", ("support",))
                                                    for i in (1, 2, 3)] + [AgentConfig("2001", "PJSIP/agent2001", ("gas",))],
                              eng.snapshot())
    assert restored.snapshot() == eng.snapshot()


def test_R13_records_credit_each_agent_with_its_part() -> None:
    """R13: the record of a transferred call lists the transfer; each agent's report
    counts its own part."""
    from reports.agents import call_pieces
    clock = [0.0]
    builder = RecordBuilder(lambda: clock[0])
    eng = engine()
    for ev in [e.AgentLoggedIn("1001", at=0.0), e.AgentLoggedIn("1002", at=1.0),
               e.CallArrived("c1", "support", "5551234", at=8.0), e.OfferAnswered("c1", "1001", at=10.0),
               e.TransferRequested("c1", "1001", "agent", "1002", True, at=40.0),
               e.OfferAnswered("c1", "1002", at=42.0), e.TransferCompleted("c1", "1001", at=50.0),
               e.CallerHungUp("c1", at=80.0)]:
        clock[0] = ev.at
        for cmd in eng.handle(ev):
            builder.observe(cmd)
    calls, _ = builder.take()
    (record,) = calls
    assert [(t.agent_id, t.to, t.target, t.talked_s, t.held_s) for t in record.transfers] == [
        ("1001", "agent", "1002", 40.0, 10.0)]
    assert (record.talked_s, record.held_s, record.agent_id) == (70.0, 10.0, "1002")
    credited = {agent: (s.answered, s.talk_s, s.hold_s) for agent, _, s in call_pieces(record)}
    assert credited == {"1001": (1, 40.0, 10.0), "1002": (1, 30.0, 0.0)}


def test_an_agent_is_reachable_while_some_node_sees_its_phone() -> None:
    """Several Asterisk nodes: the phone registers on one; the others report it
    offline. The agent is offered calls while any node sees it."""
    eng = engine()
    eng.handle(e.AgentLoggedIn("1001", at=0.0))
    eng.handle(e.AgentReachable("1001", False, at=1.0, node="b"))
    assert eng.snapshot()["agents"]["1001"]["reachable"] is False
    eng.handle(e.AgentReachable("1001", True, at=2.0, node="a"))
    out = eng.handle(e.CallArrived("k1", "support", "5550001", at=3.0))
    assert of(c.OfferCall, out)[0].agent_id == "1001"
    eng.handle(e.AgentReachable("1001", False, at=4.0, node="b"))  # b again: a still sees it
    assert eng.snapshot()["agents"]["1001"]["reachable"] is True


def test_one_agent_pool_across_nodes_a_call_rings_the_agent_through_the_node_that_sees_its_phone() -> None:
    """A call on node b, agent 1001's phone registered on node a only: the offer goes
    via a (b's adapter rings it through its trunk to a); agent 1002's phone on b: rung
    directly; one node (no node named): no via. A phone that moves is followed."""
    eng = engine()
    for agent, node in (("1001", "a"), ("1002", "b")):
        eng.handle(e.AgentLoggedIn(agent, at=0.0))
        for seen in ("a", "b"):
            eng.handle(e.AgentReachable(agent, seen == node, at=0.5, node=seen))
    out = eng.handle(e.CallEntered("k1", "5550001", "100", at=1.0, node="b"))
    out += eng.handle(e.CallEntered("k2", "5550002", "100", at=1.1, node="b"))
    offers = {o.agent_id: o.via for o in of(c.OfferCall, out)}
    assert offers == {"1001": "a", "1002": ""}
    single = engine()
    single.handle(e.AgentLoggedIn("1003", at=0.0))
    single.handle(e.AgentReachable("1003", True, at=0.5))
    (offer,) = of(c.OfferCall, single.handle(e.CallArrived("k3", "support", "5550003", at=1.0)))
    assert offer.via == ""
    eng.handle(e.OfferFailed("k1", "1001", "busy", at=2.0))  # 1001 not-ready now; its phone moves to b
    eng.handle(e.AgentReachable("1001", True, at=2.5, node="b"))
    eng.handle(e.AgentReachable("1001", False, at=2.6, node="a"))
    out = eng.handle(e.AgentReady("1001", at=3.0))
    assert [(o.agent_id, o.via) for o in of(c.OfferCall, out)] == [("1001", "")]
