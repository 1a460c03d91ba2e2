"""The ACD core's routing model and service rules, driven with plain events."""

from __future__ import annotations

from acd import AgentConfig, Engine, QueueConfig
from acd import commands as c
from acd import events as e
from acd.model import HoldAction, RelaxStep, Strategy


def offers(out: list[c.Command]) -> list[tuple[str, str]]:
    return [(x.call_id, x.agent_id) for x in out if isinstance(x, c.OfferCall)]


def agent(aid: str, queues: tuple[str, ...] = ("q",), skills: dict[str, int] | None = None,
          **kw: object) -> AgentConfig:
    return AgentConfig(aid, f"PJSIP/{aid}", queues, tuple(sorted((skills or {}).items())), **kw)  # type: ignore[arg-type]


def queue(name: str = "q", **kw: object) -> QueueConfig:
    kw.setdefault("announce_agent_id", False)
    kw.setdefault("wrap_up_s", 0)
    return QueueConfig(name, **kw)  # type: ignore[arg-type]


def login_all(eng: Engine, *ids: str, at: float = 0.0) -> None:
    for i, aid in enumerate(ids):
        eng.handle(e.AgentLoggedIn(aid, at + i * 0.001))


def talk(eng: Engine, call: str, aid: str, start: float, end: float) -> None:
    eng.handle(e.OfferAnswered(call, aid, start))
    eng.handle(e.AgentHungUp(call, aid, end))


# ------------------------------------------------------------------ skills, priority


def test_skills_route_to_an_agent_with_the_required_level() -> None:
    eng = Engine([queue()], [agent("a1", skills={"billing": 3}), agent("a2", skills={"billing": 5})])
    login_all(eng, "a1", "a2")  # a1 idle longest, but lacks the level
    out = eng.handle(e.CallArrived("k1", "q", "", 1.0, skills=(("billing", 4),)))
    assert offers(out) == [("k1", "a2")]
    out = eng.handle(e.CallArrived("k2", "q", "", 2.0, skills=(("gas", 1),)))
    assert offers(out) == []  # nobody has gas: it waits


def test_priority_then_fifo_and_R8_emergency_outranks_everything() -> None:
    """R8: an emergency call jumps every queue."""
    eng = Engine([queue()], [agent("a1")])
    eng.handle(e.CallArrived("old", "q", "", 1.0))
    eng.handle(e.CallArrived("vip", "q", "", 2.0, priority=5))
    eng.handle(e.CallArrived("old2", "q", "", 3.0))
    eng.handle(e.CallArrived("gas-leak", "q", "", 4.0, priority=0, kind="emergency", emergency=True))
    served = []
    eng.handle(e.AgentLoggedIn("a1", 10.0))
    for t in range(4):
        view = next(k for k in eng.calls() if k.state == "offered")
        served.append(view.call_id)
        talk(eng, view.call_id, "a1", 11.0 + 10 * t, 15.0 + 10 * t)
    assert served == ["gas-leak", "vip", "old", "old2"]


# ------------------------------------------------------------------ strategies


def serve_sequence(strategy: Strategy, n_calls: int, handle_s: list[float] | None = None) -> list[str]:
    eng = Engine([queue(strategy=strategy)], [agent("a1"), agent("a2"), agent("a3")])
    login_all(eng, "a1", "a2", "a3")
    order: list[str] = []
    now = 1.0
    for i in range(n_calls):
        out = eng.handle(e.CallArrived(f"k{i}", "q", "", now))
        ((call, aid),) = offers(out)
        order.append(aid)
        length = handle_s[i] if handle_s else 1.0
        talk(eng, call, aid, now + 0.1, now + length)
        now += length + 1.0
    return order


def test_round_robin_remembers_where_it_was() -> None:
    assert serve_sequence(Strategy.ROUND_ROBIN, 7) == ["a1", "a2", "a3", "a1", "a2", "a3", "a1"]


def test_linear_always_starts_from_the_first_agent() -> None:
    assert serve_sequence(Strategy.LINEAR, 3) == ["a1", "a1", "a1"]


def test_longest_idle_rotates_by_idle_time() -> None:
    assert serve_sequence(Strategy.LONGEST_IDLE, 4) == ["a1", "a2", "a3", "a1"]


def test_fewest_calls_and_least_talk_time() -> None:
    # a1 takes a long call then a2 a short one; a3 has none: fewest calls -> a3 first.
    eng = Engine([queue(strategy=Strategy.FEWEST_CALLS)], [agent("a1"), agent("a2"), agent("a3")])
    login_all(eng, "a1", "a2", "a3")
    eng.handle(e.CallArrived("k1", "q", "", 1.0))
    talk(eng, "k1", "a1", 1.0, 100.0)
    assert offers(eng.handle(e.CallArrived("k2", "q", "", 101.0))) == [("k2", "a2")]
    talk(eng, "k2", "a2", 101.0, 102.0)
    assert offers(eng.handle(e.CallArrived("k3", "q", "", 103.0))) == [("k3", "a3")]
    talk(eng, "k3", "a3", 103.0, 150.0)
    # All have one call: the longest idle of them (a1, free since 100).
    assert offers(eng.handle(e.CallArrived("k4", "q", "", 151.0))) == [("k4", "a1")]

    eng = Engine([queue(strategy=Strategy.LEAST_TALK_TIME)], [agent("a1"), agent("a2")])
    login_all(eng, "a1", "a2")
    eng.handle(e.CallArrived("k1", "q", "", 1.0))
    talk(eng, "k1", "a1", 1.0, 100.0)  # 99 s
    eng.handle(e.CallArrived("k2", "q", "", 101.0))
    talk(eng, "k2", "a2", 101.0, 111.0)  # 10 s: a2 is free later but talked less
    assert offers(eng.handle(e.CallArrived("k3", "q", "", 120.0))) == [("k3", "a2")]


def test_best_skill_match_prefers_the_highest_level() -> None:
    eng = Engine([queue(strategy=Strategy.BEST_SKILL)],
                 [agent("a1", skills={"gas": 2}), agent("a2", skills={"gas": 5}), agent("a3", skills={"gas": 3})])
    login_all(eng, "a1", "a2", "a3")
    assert offers(eng.handle(e.CallArrived("k1", "q", "", 1.0, skills=(("gas", 1),)))) == [("k1", "a2")]


def test_ring_all_offers_everyone_first_answer_wins_others_cancelled() -> None:
    eng = Engine([queue(strategy=Strategy.RING_ALL)], [agent("a1"), agent("a2"), agent("a3")])
    login_all(eng, "a1", "a2")
    out = eng.handle(e.CallArrived("k1", "q", "", 1.0))
    assert sorted(offers(out)) == [("k1", "a1"), ("k1", "a2")]
    out = eng.handle(e.OfferAnswered("k1", "a2", 3.0))
    assert [x for x in out if isinstance(x, c.CancelOffer)] == [c.CancelOffer("k1", "a1", "answered-elsewhere")]
    assert c.ConnectCall("k1", "a2") in out
    assert eng.agent("a1").state == "ready" and eng.agent("a1").ring_no_answer_total == 0
    # a1 did nothing wrong: still first in idle order.
    eng.handle(e.AgentLoggedIn("a3", 4.0))
    eng.handle(e.CallArrived("k2", "q", "", 5.0))
    assert eng.agent("a1").state == "offered"


# ------------------------------------------------------------------ several queues


def test_agent_in_several_queues_takes_heaviest_queue_then_longest_waiting() -> None:
    eng = Engine([queue("low", weight=1), queue("high", weight=5), queue("other", weight=1)],
                 [agent("a1", ("low", "high", "other"))])
    eng.handle(e.CallArrived("low-1", "low", "", 1.0))
    eng.handle(e.CallArrived("other-1", "other", "", 2.0))
    eng.handle(e.CallArrived("high-1", "high", "", 3.0))
    out = eng.handle(e.AgentLoggedIn("a1", 10.0))
    assert offers(out) == [("high-1", "a1")]
    talk(eng, "high-1", "a1", 11.0, 12.0)
    # Equal weights: the call waiting longest, whatever its queue.
    assert eng.agent("a1").call_id == "low-1"


def test_wrap_up_holds_across_every_queue_of_the_agent() -> None:
    eng = Engine([queue("q1", wrap_up_s=10), queue("q2", wrap_up_s=0)], [agent("a1", ("q1", "q2"))])
    eng.handle(e.AgentLoggedIn("a1", 0.0))
    eng.handle(e.CallArrived("k1", "q1", "", 1.0))
    talk(eng, "k1", "a1", 2.0, 20.0)
    assert eng.agent("a1").state == "wrap-up"
    assert offers(eng.handle(e.CallArrived("k2", "q2", "", 21.0))) == []
    assert offers(eng.handle(e.Tick(29.9))) == []
    assert offers(eng.handle(e.Tick(30.0))) == [("k2", "a1")]


def test_agent_wrap_up_overrides_the_queue() -> None:
    eng = Engine([queue("q1", wrap_up_s=60)], [agent("a1", ("q1",), wrap_up_s=5.0)])
    eng.handle(e.AgentLoggedIn("a1", 0.0))
    eng.handle(e.CallArrived("k1", "q1", "", 1.0))
    talk(eng, "k1", "a1", 2.0, 10.0)
    assert eng.next_deadline() == 15.0


# ------------------------------------------------------------------ relaxation, overflow


def test_skill_relaxation_widens_while_the_caller_waits() -> None:
    steps = (RelaxStep(10.0, lower_levels_by=2), RelaxStep(30.0, drop=("*",)))
    eng = Engine([queue(relaxation=steps)], [agent("junior", skills={"gas": 2}), agent("other")])
    login_all(eng, "junior", "other")
    assert offers(eng.handle(e.CallArrived("k1", "q", "", 0.0, skills=(("gas", 4),)))) == []
    assert offers(eng.handle(e.Tick(9.9))) == []
    assert offers(eng.handle(e.Tick(10.0))) == [("k1", "junior")]
    eng.handle(e.OfferAnswered("k1", "junior", 11.0))
    eng.handle(e.CallArrived("k2", "q", "", 11.0, skills=(("water", 5),)))
    assert offers(eng.handle(e.Tick(40.9))) == []
    assert offers(eng.handle(e.Tick(41.0))) == [("k2", "other")]  # 30 s after 11: any agent


def test_overflow_after_wait_keeps_the_original_enqueue_time() -> None:
    eng = Engine([queue("q1", overflow_queue="q2", overflow_after_s=30), queue("q2")],
                 [agent("a1", ("q1",)), agent("b1", ("q2",))])
    eng.handle(e.CallArrived("early", "q1", "", 0.0))
    eng.handle(e.CallArrived("later", "q2", "", 10.0))
    out = eng.handle(e.Tick(30.0))
    assert [x for x in out if isinstance(x, c.CallOverflowed)] == [
        c.CallOverflowed("early", "q1", "q2", "waited-too-long", 30.0)]
    out = eng.handle(e.AgentLoggedIn("b1", 31.0))
    assert offers(out) == [("early", "b1")]  # enqueued at 0, ahead of "later" (10)


def test_max_queue_length_overflows_or_refuses() -> None:
    eng = Engine([queue("q1", max_waiting=2), queue("q2", max_waiting=1, overflow_queue="q1")], [])
    eng.handle(e.CallArrived("k1", "q1", "", 1.0))
    eng.handle(e.CallArrived("k2", "q1", "", 2.0))
    out = eng.handle(e.CallArrived("k3", "q1", "", 3.0))
    assert c.Farewell("k3", "queue-full", "queue-full") in out
    assert not any(isinstance(x, c.PlayWaitingMedia) for x in out)
    eng.handle(e.CallArrived("k4", "q2", "", 4.0))
    out = eng.handle(e.CallArrived("k5", "q2", "", 5.0))  # q2 full -> q1, also full -> refused
    assert c.Farewell("k5", "queue-full", "queue-full") in out
    # An emergency is never refused for length.
    out = eng.handle(e.CallArrived("k6", "q1", "", 6.0, emergency=True))
    assert c.PlayWaitingMedia("k6", ("safety-instructions",), loop=True) in out


# ------------------------------------------------------------------ sticky agent (R10)


def test_R10_repeat_caller_waits_first_for_the_last_agent_then_anyone() -> None:
    """R10: first-contact responsibility: a repeat caller goes to their last agent."""
    eng = Engine([queue(sticky_window_s=3600, sticky_hold_s=20)], [agent("a1"), agent("a2"), agent("a3")])
    login_all(eng, "a1", "a2", "a3")
    for i, caller in enumerate(("13800000001", "13800000002")):
        eng.handle(e.CallArrived(f"first-{i}", "q", caller, 1.0 + i))
        eng.handle(e.OfferAnswered(f"first-{i}", eng.calls()[-1].offered_to[0], 1.5 + i))
    # first-0 went to a1, first-1 to a2; both end
    eng.handle(e.AgentHungUp("first-0", "a1", 50.0))
    eng.handle(e.AgentHungUp("first-1", "a2", 51.0))
    # The first caller calls back: a3 is idle longest, but a1 gets it.
    assert offers(eng.handle(e.CallArrived("k2", "q", "13800000001", 100.0))) == [("k2", "a1")]
    eng.handle(e.OfferAnswered("k2", "a1", 101.0))
    # The second caller's last agent is a2 (ready): straight to a2.
    assert offers(eng.handle(e.CallArrived("k3", "q", "13800000002", 102.0))) == [("k3", "a2")]
    eng.handle(e.OfferAnswered("k3", "a2", 103.0))
    # The first caller calls again on another line while a1 is busy: held for a1,
    # although a3 is ready...
    assert offers(eng.handle(e.CallArrived("k4", "q", "13800000001", 110.0))) == []
    assert eng.agent("a3").state == "ready"
    assert offers(eng.handle(e.Tick(129.9))) == []
    # ...until the sticky hold (20 s) ends: then any agent.
    assert offers(eng.handle(e.Tick(130.0))) == [("k4", "a3")]


def test_R10_last_agent_freed_during_the_hold_takes_the_call() -> None:
    """R10: the last agent takes the repeat caller as soon as it is free."""
    eng = Engine([queue(sticky_window_s=3600, sticky_hold_s=20)], [agent("a1"), agent("a2")])
    login_all(eng, "a1", "a2")
    eng.handle(e.CallArrived("k1", "q", "13800000001", 1.0))
    talk(eng, "k1", "a1", 2.0, 10.0)
    eng.handle(e.CallArrived("other", "q", "13900000000", 11.0))  # a2 (idle longest)
    eng.handle(e.OfferAnswered("other", "a2", 11.5))
    eng.handle(e.CallArrived("busy", "q", "13900000001", 12.0))  # a1
    eng.handle(e.OfferAnswered("busy", "a1", 12.5))
    eng.handle(e.CallArrived("k2", "q", "13800000001", 20.0))
    eng.handle(e.AgentHungUp("other", "a2", 25.0))  # a2 free, but k2 is held for a1
    assert eng.agent("a2").state == "ready"
    out = eng.handle(e.AgentHungUp("busy", "a1", 30.0))
    assert offers(out) == [("k2", "a1")]


def test_R10_outside_the_window_no_preference() -> None:
    """R10: only within the configured window."""
    eng = Engine([queue(sticky_window_s=60)], [agent("a1"), agent("a2")])
    login_all(eng, "a1", "a2")
    eng.handle(e.CallArrived("k1", "q", "13800000001", 1.0))
    talk(eng, "k1", "a1", 2.0, 10.0)
    assert offers(eng.handle(e.CallArrived("k2", "q", "13800000001", 200.0))) == [("k2", "a2")]


# ------------------------------------------------------------------ RONA policy (R1)


def test_R1_rona_policy_n_misses_then_not_ready_then_logout_with_alert() -> None:
    """R1: RONA as a policy: 2 misses -> not ready; 3 -> logged out and a supervisor alert."""
    eng = Engine([queue(rona_not_ready_after=2, rona_logout_after=3, ring_cycle_s=5)], [agent("a1")])
    eng.handle(e.AgentLoggedIn("a1", 0.0))
    eng.handle(e.CallArrived("k1", "q", "", 1.0))
    out = eng.handle(e.Tick(11.0))  # miss 1: stays ready, offered again at once
    assert eng.agent("a1").state == "offered" and offers(out) == [("k1", "a1")]
    eng.handle(e.Tick(21.0))  # miss 2
    assert (eng.agent("a1").state, eng.agent("a1").reason) == ("not-ready", "ring-no-answer")
    eng.handle(e.AgentReady("a1", 22.0))
    out = eng.handle(e.Tick(32.0))  # miss 3
    assert eng.agent("a1").state == "logged-out"
    assert any(isinstance(x, c.SupervisorAlert) for x in out)
    assert eng.agent("a1").ring_no_answer_total == 3


def test_R1_an_answer_resets_consecutive_misses() -> None:
    """R1: misses are counted in a row."""
    eng = Engine([queue(rona_not_ready_after=2)], [agent("a1")])
    eng.handle(e.AgentLoggedIn("a1", 0.0))
    eng.handle(e.CallArrived("k1", "q", "", 1.0))
    eng.handle(e.Tick(11.0))
    talk(eng, "k1", "a1", 12.0, 20.0)
    eng.handle(e.CallArrived("k2", "q", "", 21.0))
    eng.handle(e.Tick(31.0))
    assert eng.agent("a1").state == "offered"  # 1 miss after the answer: still ready


# ------------------------------------------------------------------ hold (R3), outbound (R2)


def connected(eng: Engine) -> None:
    eng.handle(e.AgentLoggedIn("a1", 0.0))
    eng.handle(e.CallArrived("k1", "q", "", 1.0))
    eng.handle(e.OfferAnswered("k1", "a1", 2.0))


def test_R3_hold_past_hold_max_reminds_agent_and_apologizes_every_period() -> None:
    """R3: at hold_max_s the policy acts; every overrun is an event."""
    eng = Engine([queue(hold_max_s=30)], [agent("a1")])
    connected(eng)
    eng.handle(e.HoldStarted("k1", 10.0))
    assert eng.next_deadline() == 40.0
    out = eng.handle(e.Tick(40.0))
    assert c.HoldOverrun("k1", "a1", 30.0, 40.0) in out
    assert c.RemindAgent("k1", "a1", 30.0) in out and c.PlayApology("k1") in out
    out = eng.handle(e.Tick(70.0))
    assert c.HoldOverrun("k1", "a1", 60.0, 70.0) in out
    eng.handle(e.HoldEnded("k1", 75.0))
    assert eng.handle(e.Tick(100.0)) == []
    assert eng.agent("a1").hold_overruns == 2


def test_R3_short_hold_does_nothing_and_unhold_policy_takes_caller_off_hold() -> None:
    """R3: a hold under hold_max_s is fine; the 'unhold' policy ends the hold."""
    eng = Engine([queue(hold_max_s=30, hold_actions=(HoldAction.UNHOLD,))], [agent("a1")])
    connected(eng)
    eng.handle(e.HoldStarted("k1", 10.0))
    eng.handle(e.HoldEnded("k1", 35.0))
    assert eng.handle(e.Tick(50.0)) == []
    eng.handle(e.HoldStarted("k1", 60.0))
    out = eng.handle(e.Tick(90.0))
    assert c.TakeOffHold("k1") in out and not any(isinstance(x, c.RemindAgent) for x in out)
    assert eng.next_deadline() is None


def test_R2_outbound_attempt_gives_up_after_six_rings() -> None:
    """R2: an outbound attempt is cancelled after outbound_max_rings x ring_cycle_s."""
    eng = Engine([queue(ring_cycle_s=5, outbound_max_rings=6)], [])
    eng.handle(e.OutboundStarted("cb-1", "q", 100.0))
    assert eng.handle(e.Tick(129.9)) == []
    out = eng.handle(e.Tick(130.0))
    assert out == [c.CancelOutbound("cb-1"), c.OutboundNoAnswer("cb-1", 30.0, 130.0)]
    eng.handle(e.OutboundStarted("cb-2", "q", 200.0))
    eng.handle(e.OutboundAnswered("cb-2", 210.0))
    assert eng.handle(e.Tick(300.0)) == []


# ------------------------------------------------------------------ R15, position


def test_R15_agent_id_is_announced_before_the_bridge() -> None:
    """R15: the caller hears the agent's number before being connected."""
    eng = Engine([queue(announce_agent_id=True)], [agent("a1", number="1234")])
    connected(eng)
    calls = eng.calls()
    assert calls[0].state == "connected"
    out = eng.handle(e.OfferAnswered("k1", "a1", 2.0))  # duplicate answer: hung up, no change
    assert out == [c.HangUpAgent("k1", "a1")]
    eng2 = Engine([queue(announce_agent_id=True)], [agent("a1", number="1234")])
    eng2.handle(e.AgentLoggedIn("a1", 0.0))
    eng2.handle(e.CallArrived("k1", "q", "", 1.0))
    out = eng2.handle(e.OfferAnswered("k1", "a1", 2.0))
    assert c.AnnounceAgent("k1", "a1", "1234") in out
    assert not any(isinstance(x, c.ConnectCall) for x in out)
    assert eng2.handle(e.AnnouncementFinished("k1", 5.0)) == [c.ConnectCall("k1", "a1")]
    assert eng2.handle(e.AnnouncementFinished("k1", 5.1)) == []


def test_position_and_expected_wait_from_live_rates() -> None:
    eng = Engine([queue()], [agent("a1"), agent("a2")])
    login_all(eng, "a1", "a2")
    for i, length in enumerate((60.0, 120.0)):
        eng.handle(e.CallArrived(f"h{i}", "q", "", 1.0))
        talk(eng, f"h{i}", eng.calls()[-1].offered_to[0], 2.0, 2.0 + length)
    for i in range(4):
        eng.handle(e.CallArrived(f"k{i}", "q", "", 200.0 + i))
    # two agents now on k0, k1; k2 and k3 wait
    assert eng.position("k2") == 1 and eng.position("k3") == 2
    assert eng.expected_wait_s("k3") == 2 * 90.0 / 2
    assert eng.position("k0") is None


def test_waiting_caller_choosing_a_callback_keeps_the_place() -> None:
    """R9 plan action (and R11's entry): a waiting caller offered a callback presses 1
    to be called back and keeps the place; a caller never offered one cannot take it."""
    eng = Engine([queue()], [agent("a1")])
    eng.handle(e.CallArrived("k0", "q", "13800000009", 0.5, kind="complaint"))
    assert eng.handle(e.CallerChoseCallback("k0", 0.7)) == []  # no plan: no offer
    eng.handle(e.PlanLevelChanged("q", "III", 0.8, offer_callbacks=True))
    out = eng.handle(e.CallArrived("k1", "q", "13800000001", 1.0, kind="complaint"))
    assert c.PlayWaitingMedia("k1", ("callback-offer",), offer_callback=True) in out
    out = eng.handle(e.CallerChoseCallback("k1", 5.0))
    assert out == [c.CallbackRequested("k1", "13800000001", "q", "complaint", 5.0),
                   c.Farewell("k1", "callback-taken", "callback-taken")]
    assert eng.handle(e.CallerHungUp("k1", 5.5)) == []  # the caller hangs up: nothing ends
    assert [(k.call_id, k.callback) for k in eng.calls()] == [("k0", False), ("k1", True)]
    assert offers(eng.handle(e.AgentLoggedIn("a1", 6.0))) == [("k0", "a1")]
    eng.handle(e.PlanLevelChanged("q", None, 6.5))
    eng.handle(e.CallArrived("k2", "q", "", 7.0))  # waits, but the plan has ended
    assert eng.handle(e.CallerChoseCallback("k2", 8.0)) == []
