"""Invariants of the routing core under random event sequences (hypothesis)."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from acd import AcdError, AgentConfig, Engine, QueueConfig
from acd import commands as c
from acd import events as e

AGENTS = ["a1", "a2", "a3"]
QUEUES = ["q1", "q2"]
CALLS = [f"c{i}" for i in range(8)]


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = Engine(
            [QueueConfig(q, ring_cycle_s=5, answer_within_rings=2, wrap_up_s=3) for q in QUEUES],
            [
                AgentConfig("a1", "PJSIP/a1", ("q1",)),
                AgentConfig("a2", "PJSIP/a2", ("q1", "q2")),
                AgentConfig("a3", "PJSIP/a3", ("q2",)),
            ],
        )
        self.now = 0.0
        self.offers: dict[str, str] = {}  # call -> agent, from OfferCall/Cancel commands
        self.misses = 0

    def feed(self, event: e.Event) -> None:
        if isinstance(event, (e.OfferFailed, e.AgentHungUp)):
            # An offer that fails on the agent's side ends without a CancelOffer.
            if self.offers.get(event.call_id) == event.agent_id:
                del self.offers[event.call_id]
        try:
            out = self.engine.handle(event)
        except AcdError:
            return
        for cmd in out:
            if isinstance(cmd, c.OfferCall):
                assert cmd.call_id not in self.offers, "a call offered twice at once"
                assert cmd.agent_id not in self.offers.values(), "an agent offered two calls"
                self.offers[cmd.call_id] = cmd.agent_id
            elif isinstance(cmd, c.CancelOffer):
                assert self.offers.pop(cmd.call_id) == cmd.agent_id
            elif isinstance(cmd, c.RingNoAnswer):
                self.misses += 1
            elif isinstance(cmd, c.ConnectCall):
                assert self.offers.pop(cmd.call_id) == cmd.agent_id

    @rule(dt=st.floats(0, 12))
    def tick(self, dt: float) -> None:
        self.now += dt
        self.feed(e.Tick(self.now))

    @rule(agent=st.sampled_from(AGENTS), ready=st.booleans())
    def login(self, agent: str, ready: bool) -> None:
        self.feed(e.AgentLoggedIn(agent, self.now, ready))

    @rule(agent=st.sampled_from(AGENTS))
    def ready(self, agent: str) -> None:
        self.feed(e.AgentReady(agent, self.now))

    @rule(agent=st.sampled_from(AGENTS))
    def pause(self, agent: str) -> None:
        self.feed(e.AgentPaused(agent, "break", self.now))

    @rule(agent=st.sampled_from(AGENTS))
    def logout(self, agent: str) -> None:
        self.feed(e.AgentLoggedOut(agent, self.now))

    @rule(call=st.sampled_from(CALLS), queue=st.sampled_from(QUEUES))
    def arrive(self, call: str, queue: str) -> None:
        self.feed(e.CallArrived(call, queue, "5550000", self.now))

    @rule(call=st.sampled_from(CALLS), agent=st.sampled_from(AGENTS))
    def answer(self, call: str, agent: str) -> None:
        self.feed(e.OfferAnswered(call, agent, self.now))

    @rule(call=st.sampled_from(CALLS), agent=st.sampled_from(AGENTS))
    def fail(self, call: str, agent: str) -> None:
        self.feed(e.OfferFailed(call, agent, "busy", self.now))

    @rule(call=st.sampled_from(CALLS))
    def caller_hangup(self, call: str) -> None:
        self.feed(e.CallerHungUp(call, self.now))

    @rule(call=st.sampled_from(CALLS), agent=st.sampled_from(AGENTS))
    def agent_hangup(self, call: str, agent: str) -> None:
        self.feed(e.AgentHungUp(call, agent, self.now))

    @invariant()
    def one_call_per_agent(self) -> None:
        busy = [a.call_id for a in self.engine.agents() if a.call_id is not None]
        assert len(busy) == len(set(busy))
        for a in self.engine.agents():
            assert (a.call_id is not None) == (a.state in ("offered", "on-call"))

    @invariant()
    def work_conservation(self) -> None:
        waiting = {k.queue for k in self.engine.calls() if k.state == "waiting"}
        for a in self.engine.agents():
            if a.state == "ready":
                assert not waiting.intersection(a.queues), f"{a.agent_id} idle while a call waits"

    @invariant()
    def offers_match_agents(self) -> None:
        for k in self.engine.calls():
            if k.state == "offered":
                assert self.offers.get(k.call_id) == k.agent_id
        assert sum(a.ring_no_answer_total for a in self.engine.agents()) == self.misses


TestEngineInvariants = EngineMachine.TestCase
TestEngineInvariants.settings = settings(max_examples=200, stateful_step_count=60, deadline=None)
