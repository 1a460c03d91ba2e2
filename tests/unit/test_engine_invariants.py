"""Invariants of the routing core under random event sequences (hypothesis).

Checked after every event: no agent holds two offers or calls; work conservation (no
ready agent and a waiting call it could serve coexist); each offer takes the best
waiting call by priority then FIFO; agents in wrap-up or paused get no offer; every
ring-no-answer is counted. Transfers (blind and attended), holds asked by the agent
and phones coming and going are among the random events."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from acd import AcdError, AgentConfig, Engine, QueueConfig
from acd import commands as c
from acd import events as e
from acd.model import RelaxStep, Strategy
from acd.routing import satisfies

AGENTS = {
    "a1": AgentConfig("a1", "PJSIP/a1", ("q1",), (("billing", 3),)),
    "a2": AgentConfig("a2", "PJSIP/a2", ("q1", "q2"), (("billing", 5), ("gas", 2))),
    "a3": AgentConfig("a3", "PJSIP/a3", ("q2", "q3"), (("gas", 4),)),
    "a4": AgentConfig("a4", "PJSIP/a4", ("q3",), ()),
}
QUEUES = [
    QueueConfig("q1", wrap_up_s=3, weight=2, relaxation=(RelaxStep(8, lower_levels_by=2),
                RelaxStep(20, drop=("*",))), overflow_queue="q3", overflow_after_s=40,
                rona_not_ready_after=2, sticky_window_s=60),
    QueueConfig("q2", wrap_up_s=0, strategy=Strategy.RING_ALL, hold_max_s=10),
    QueueConfig("q3", wrap_up_s=2, strategy=Strategy.ROUND_ROBIN, max_waiting=3,
                rona_logout_after=3),
]
CALLS = [f"c{i}" for i in range(8)]
REQUIREMENTS = [(), (("billing", 4),), (("gas", 3),), (("billing", 1), ("gas", 1))]


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = Engine(QUEUES, AGENTS.values())
        self.now = 0.0
        self.offers: dict[str, set[str]] = {}  # call -> agents ringing, from commands
        self.misses = 0

    def feed(self, event: e.Event) -> None:
        before = {a.agent_id: a.state for a in self.engine.agents()}  # replayed by notices
        if isinstance(event, (e.OfferFailed, e.AgentHungUp)):
            # An offer that fails on the agent's side ends without a CancelOffer.
            self.offers.get(event.call_id, set()).discard(event.agent_id)
        try:
            out = self.engine.handle(event)
        except AcdError:
            return
        calls = {k.call_id: k for k in self.engine.calls()}
        if isinstance(event, e.Tick):  # everything due has been done: what is left is later
            due = self.engine.next_deadline()
            assert due is None or due > event.at, (due, event)
        for cmd in out:
            if isinstance(cmd, c.AgentStateChanged):
                if cmd.state == "offered":  # wrap-up and pause respected
                    assert before[cmd.agent_id] == "ready", f"offer to a {before[cmd.agent_id]} agent"
                before[cmd.agent_id] = cmd.state
            elif isinstance(cmd, c.OfferCall):
                assert all(cmd.agent_id not in v for v in self.offers.values()), "agent offered twice"
                self.offers.setdefault(cmd.call_id, set()).add(cmd.agent_id)
                if not isinstance(event, e.TransferRequested):  # (a transfer names its agent)
                    self.check_best_call(calls[cmd.call_id], cmd.agent_id, calls)
            elif isinstance(cmd, c.CancelOffer):
                if isinstance(event, (e.OfferFailed, e.AgentHungUp)) and (event.call_id, event.agent_id) == (
                        cmd.call_id, cmd.agent_id):
                    continue  # (releasing a leg the agent's side already ended: harmless)
                self.offers[cmd.call_id].remove(cmd.agent_id)
            elif isinstance(cmd, c.RingNoAnswer):
                self.misses += 1
            elif isinstance(cmd, c.AnnounceAgent | c.ConnectCall):
                self.offers.pop(cmd.call_id, None)
            elif isinstance(cmd, c.ConnectConsult):
                self.offers[cmd.call_id].remove(cmd.agent_id)
        for call_id in [k for k, v in self.offers.items() if not v]:
            del self.offers[call_id]

    def check_best_call(self, offered, agent_id: str, calls) -> None:
        """Priority, then FIFO: no call still waiting in that queue that this agent
        could serve comes before the one it was offered."""
        if offered.sticky_agent is not None:
            return
        profile = AGENTS[agent_id].skills
        for k in calls.values():
            if (k.state == "waiting" and k.queue == offered.queue and k.sticky_agent is None
                    and satisfies(profile, k.requirement)):
                assert (-k.priority, k.arrived_at) >= (-offered.priority, offered.arrived_at), (
                    f"{offered.call_id} offered before better call {k.call_id}")

    @rule(dt=st.floats(0, 15))
    def tick(self, dt: float) -> None:
        """Time passes as in the runtime: a Tick at each deadline on the way."""
        target = self.now + dt
        while (due := self.engine.next_deadline()) is not None and due <= target:
            self.now = max(self.now, due)
            self.feed(e.Tick(self.now))
        self.now = target
        self.feed(e.Tick(self.now))

    @rule(dt=st.floats(0, 15))
    def resume(self, dt: float) -> None:
        """A router starts or takes over: its first tick (``resumed``) at or before
        the next deadline. Offers that rang out then are taken back without a miss,
        their agents ready again before the calls due at that instant are matched.
        (A tick that jumps over several instants replays them in order, each matched
        as it was due: that is ``tick``'s business, not checked here.)"""
        due = self.engine.next_deadline()
        self.now = self.now + dt if due is None else max(self.now, min(self.now + dt, due))
        self.feed(e.Tick(self.now, resumed=True))

    @rule(agent=st.sampled_from(sorted(AGENTS)), ready=st.booleans())
    def login(self, agent: str, ready: bool) -> None:
        self.feed(e.AgentLoggedIn(agent, self.now, ready))

    @rule(agent=st.sampled_from(sorted(AGENTS)))
    def ready(self, agent: str) -> None:
        self.feed(e.AgentReady(agent, self.now))

    @rule(agent=st.sampled_from(sorted(AGENTS)))
    def pause(self, agent: str) -> None:
        self.feed(e.AgentPaused(agent, "break", self.now))

    @rule(agent=st.sampled_from(sorted(AGENTS)))
    def logout(self, agent: str) -> None:
        self.feed(e.AgentLoggedOut(agent, self.now))

    @rule(call=st.sampled_from(CALLS), queue=st.sampled_from(["q1", "q2", "q3"]),
          priority=st.integers(0, 3), need=st.sampled_from(REQUIREMENTS),
          emergency=st.booleans(), caller=st.sampled_from(["5550001", "5550002"]))
    def arrive(self, call: str, queue: str, priority: int, need, emergency: bool, caller: str) -> None:
        self.feed(e.CallArrived(call, queue, caller, self.now, priority, "", need,
                                emergency and priority == 3))

    @rule(call=st.sampled_from(CALLS), agent=st.sampled_from(sorted(AGENTS)))
    def answer(self, call: str, agent: str) -> None:
        self.feed(e.OfferAnswered(call, agent, self.now))

    @rule(call=st.sampled_from(CALLS))
    def announced(self, call: str) -> None:
        self.feed(e.AnnouncementFinished(call, self.now))

    @rule(call=st.sampled_from(CALLS), agent=st.sampled_from(sorted(AGENTS)))
    def fail(self, call: str, agent: str) -> None:
        self.feed(e.OfferFailed(call, agent, "busy", self.now))

    @rule(call=st.sampled_from(CALLS))
    def caller_hangup(self, call: str) -> None:
        self.feed(e.CallerHungUp(call, self.now))

    @rule(call=st.sampled_from(CALLS))
    def callback(self, call: str) -> None:
        self.feed(e.CallerChoseCallback(call, self.now))

    @rule(call=st.sampled_from(CALLS), agent=st.sampled_from(sorted(AGENTS)))
    def agent_hangup(self, call: str, agent: str) -> None:
        self.feed(e.AgentHungUp(call, agent, self.now))

    @rule(call=st.sampled_from(CALLS), on=st.booleans())
    def hold(self, call: str, on: bool) -> None:
        self.feed(e.HoldStarted(call, self.now) if on else e.HoldEnded(call, self.now))

    @precondition(lambda self: any(k.offered_to or (k.consult and not k.consult_answered)
                                   for k in self.engine.calls()))
    @rule(pick=st.integers(0, 7))
    def answer_and_bridge(self, pick: int) -> None:
        """An offer (or a consult) answered and bridged (so that transfers have calls to
        work on)."""
        offered = sorted([(k.call_id, k.offered_to[0]) for k in self.engine.calls() if k.offered_to]
                         + [(k.call_id, k.consult) for k in self.engine.calls() if k.consult and not k.consult_answered])
        if offered:
            call, agent = offered[pick % len(offered)]
            self.feed(e.OfferAnswered(call, agent, self.now))
            self.feed(e.AnnouncementFinished(call, self.now))

    @precondition(lambda self: any(k.agent_id for k in self.engine.calls()))
    @rule(pick=st.integers(0, 7), agent=st.sampled_from(sorted(AGENTS)),
          to=st.sampled_from(["agent", "queue", "external"]), attended=st.booleans(),
          queue=st.sampled_from(["q1", "q2", "q3"]))
    def transfer(self, pick: int, agent: str, to: str, attended: bool, queue: str) -> None:
        connected = sorted((k.call_id, k.agent_id) for k in self.engine.calls() if k.agent_id)
        call, current = connected[pick % len(connected)] if connected else ("c0", agent)
        ready = [a.agent_id for a in self.engine.agents() if a.state == "ready" and a.agent_id != current]
        if ready and pick % 4:  # mostly an agent who can take it (sometimes any: refused)
            agent = ready[pick % len(ready)]
        target = {"agent": agent, "queue": queue, "external": "13800000000"}[to]
        self.feed(e.TransferRequested(call, current, to, target, attended, self.now))

    @precondition(lambda self: any(k.consult for k in self.engine.calls()))
    @rule(call=st.sampled_from(CALLS), complete=st.booleans())
    def consult_ends(self, call: str, complete: bool) -> None:
        consulting = sorted((k.call_id, k.agent_id) for k in self.engine.calls() if k.consult)
        pick, current = next(((k, a) for k, a in consulting if k == call), consulting[0])
        assert current is not None
        self.feed(e.TransferCompleted(pick, current, self.now) if complete
                  else e.TransferCancelled(pick, current, self.now))

    @precondition(lambda self: any(k.agent_id for k in self.engine.calls()))
    @rule(pick=st.integers(0, 7), on=st.booleans())
    def hold_asked(self, pick: int, on: bool) -> None:
        connected = sorted((k.call_id, k.agent_id) for k in self.engine.calls() if k.agent_id)
        call, current = connected[pick % len(connected)]
        assert current is not None
        self.feed(e.HoldRequested(call, current, on, self.now))

    @rule(agent=st.sampled_from(sorted(AGENTS)), reachable=st.booleans())
    def phone(self, agent: str, reachable: bool) -> None:
        self.feed(e.AgentReachable(agent, reachable, self.now))

    @invariant()
    def one_call_per_agent(self) -> None:
        calls = self.engine.calls()
        for a in self.engine.agents():
            holding = [k for k in calls if a.agent_id in k.offered_to or k.agent_id == a.agent_id
                       or k.consult == a.agent_id]
            assert len(holding) <= 1, f"{a.agent_id} holds {holding}"
            assert (a.call_id is not None) == (a.state in ("offered", "on-call")), a
            if holding:
                assert a.call_id == holding[0].call_id

    @invariant()
    def work_conservation(self) -> None:
        waiting = [k for k in self.engine.calls() if k.state == "waiting"]
        for a in self.engine.agents():
            if a.state != "ready" or not a.reachable:
                continue
            for k in waiting:
                if k.sticky_agent is not None:
                    assert k.sticky_agent != a.agent_id, f"{a.agent_id} idle, its sticky call waits"
                elif k.queue in a.queues:
                    assert not satisfies(AGENTS[a.agent_id].skills, k.requirement), (
                        f"{a.agent_id} idle while {k.call_id} waits")

    @invariant()
    def offers_match_commands(self) -> None:
        for k in self.engine.calls():
            ringing = set(k.offered_to) | ({k.consult} if k.consult and not k.consult_answered else set())
            assert ringing == self.offers.get(k.call_id, set()), k
        assert sum(a.ring_no_answer_total for a in self.engine.agents()) == self.misses


TestEngineInvariants = EngineMachine.TestCase
TestEngineInvariants.settings = settings(max_examples=300, stateful_step_count=60, deadline=None)


class BusyEngineMachine(EngineMachine):
    """The same rules and invariants, every agent logged in at the start: answered
    calls are common, so transfers, consults and holds happen often."""

    def __init__(self) -> None:
        super().__init__()
        for agent in sorted(AGENTS):
            self.feed(e.AgentLoggedIn(agent, self.now))


TestBusyEngineInvariants = BusyEngineMachine.TestCase
TestBusyEngineInvariants.settings = settings(max_examples=300, stateful_step_count=60, deadline=None)
