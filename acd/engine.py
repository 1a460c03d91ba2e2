"""The routing core: callers wait in queues, agents take them.

Theory of operation
-------------------
``Engine.handle(event)`` applies one event and returns the commands it implies. It does
no I/O and reads no clock: time arrives inside each event, and ``next_deadline()`` tells
the adapter when to send the next ``Tick``. Replaying the same events rebuilds the same
state.

Agent states and the transitions this module makes (all in ``_set_agent_state``):

    logged-out --login--> ready | not-ready
    ready --offer--> offered --answer--> on-call --hang-up--> wrap-up --timer--> ready
    offered --ring timeout (R1)--> not-ready (ring-no-answer); the call is re-offered
    offered --caller gone--> ready, keeping its place in the idle order
    offered --offer failed (busy, unreachable)--> not-ready (the failure)
    ready | wrap-up | not-ready --pause--> not-ready; --ready--> ready; --logout--> out
    offered | on-call: pause and logout are kept pending and apply when the call ends

Rules that hold after every event:
- an agent holds at most one offer or call, and a call at most one agent;
- work conservation: no queue has both a waiting call and a ready agent;
- a queue serves its calls first come, first served (a call re-queued after a missed
  offer keeps its place); across queues the call waiting longest goes first;
- the ready agent idle longest gets the next call (longest-idle).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from acd import commands as c
from acd import events as e
from acd.errors import InvalidTransition, UnknownAgent
from acd.model import RING_NO_ANSWER, AgentConfig, AgentState, CallState, QueueConfig

_IN_CALL = (AgentState.OFFERED, AgentState.ON_CALL)


@dataclass(slots=True)
class _Agent:
    config: AgentConfig
    state: AgentState = AgentState.LOGGED_OUT
    reason: str | None = None
    idle_since: float = 0.0
    call_id: str | None = None
    wrap_up_until: float | None = None
    # A pause or logout asked for during an offer or call; applied when it ends.
    pending: tuple[AgentState, str | None] | None = None
    consecutive_misses: int = 0
    ring_no_answer_total: int = 0


@dataclass(slots=True)
class _Call:
    call_id: str
    queue: str
    caller: str
    arrived_at: float
    seq: int
    state: CallState = CallState.WAITING
    agent_id: str | None = None
    offer_deadline: float | None = None
    answered_at: float | None = None

    @property
    def order(self) -> tuple[float, int, str]:
        return (self.arrived_at, self.seq, self.call_id)


@dataclass(frozen=True, slots=True)
class AgentView:
    agent_id: str
    state: str
    reason: str | None
    call_id: str | None
    queues: tuple[str, ...]
    ring_no_answer_total: int


@dataclass(frozen=True, slots=True)
class CallView:
    call_id: str
    queue: str
    state: str
    agent_id: str | None
    arrived_at: float


@dataclass(slots=True)
class _Queue:
    config: QueueConfig
    # Sorted (arrived_at, seq, call_id) of calls waiting for an agent.
    waiting: list[tuple[float, int, str]] = field(default_factory=list)
    # Sorted (idle_since, agent_id) of ready agents serving this queue.
    ready: list[tuple[float, str]] = field(default_factory=list)


class Engine:
    def __init__(self, queues: list[QueueConfig], agents: list[AgentConfig]) -> None:
        self._queues = {q.name: _Queue(q) for q in queues}
        for a in agents:
            for name in a.queues:
                if name not in self._queues:
                    raise ValueError(f"agent {a.agent_id!r} names unknown queue {name!r}")
        self._agents = {a.agent_id: _Agent(a) for a in agents}
        self._calls: dict[str, _Call] = {}
        self._seq = 0

    # ----------------------------------------------------------------- reading

    def agent(self, agent_id: str) -> AgentView:
        a = self._agents.get(agent_id)
        if a is None:
            raise UnknownAgent(agent_id)
        return AgentView(
            a.config.agent_id,
            a.state.value,
            a.reason,
            a.call_id,
            a.config.queues,
            a.ring_no_answer_total,
        )

    def agents(self) -> list[AgentView]:
        return [self.agent(agent_id) for agent_id in self._agents]

    def calls(self) -> list[CallView]:
        return [
            CallView(k.call_id, k.queue, k.state.value, k.agent_id, k.arrived_at)
            for k in self._calls.values()
        ]

    def has_queue(self, name: str) -> bool:
        return name in self._queues

    def next_deadline(self) -> float | None:
        """When the next ``Tick`` is due (an offer's ring timeout or a wrap-up's end)."""
        times = [k.offer_deadline for k in self._calls.values() if k.offer_deadline is not None]
        times += [a.wrap_up_until for a in self._agents.values() if a.wrap_up_until is not None]
        return min(times, default=None)

    # ----------------------------------------------------------------- events

    def handle(self, event: e.Event) -> list[c.Command]:
        out: list[c.Command] = []
        match event:
            case e.Tick(at=at):
                self._expire(at, out)
            case e.CallArrived():
                self._call_arrived(event, out)
            case e.OfferAnswered():
                self._offer_answered(event, out)
            case e.OfferFailed():
                self._offer_failed(event.call_id, event.agent_id, event.reason, event.at, out)
            case e.CallerHungUp():
                self._caller_hung_up(event, out)
            case e.AgentHungUp():
                self._agent_hung_up(event, out)
            case e.AgentLoggedIn():
                self._login(event, out)
            case e.AgentLoggedOut():
                self._request(event.agent_id, AgentState.LOGGED_OUT, None, event.at, "log out", out)
            case e.AgentReady():
                self._request(event.agent_id, AgentState.READY, None, event.at, "get ready", out)
            case e.AgentPaused():
                self._request(
                    event.agent_id, AgentState.NOT_READY, event.reason, event.at, "pause", out
                )
        self._dispatch(event.at, out)
        return out

    # ----------------------------------------------------------------- calls

    def _call_arrived(self, ev: e.CallArrived, out: list[c.Command]) -> None:
        if ev.call_id in self._calls:
            return  # a duplicate delivery changes nothing
        queue = self._queues.get(ev.queue)
        if queue is None:
            out.append(c.RouteToFallback(ev.call_id, f"unknown queue {ev.queue!r}"))
            return
        self._seq += 1
        call = _Call(ev.call_id, ev.queue, ev.caller, ev.at, self._seq)
        self._calls[call.call_id] = call
        bisect.insort(queue.waiting, call.order)
        out.append(c.PlayHoldMusic(call.call_id))

    def _offer_answered(self, ev: e.OfferAnswered, out: list[c.Command]) -> None:
        call = self._calls.get(ev.call_id)
        if call is None or call.state is not CallState.OFFERED or call.agent_id != ev.agent_id:
            # Answered after the offer was taken back: that leg must not stay up.
            out.append(c.HangUpAgent(ev.call_id, ev.agent_id))
            return
        agent = self._agents[ev.agent_id]
        call.state = CallState.CONNECTED
        call.offer_deadline = None
        call.answered_at = ev.at
        agent.consecutive_misses = 0
        self._set_agent_state(agent, AgentState.ON_CALL, None, ev.at, out)
        out.append(c.ConnectCall(call.call_id, agent.config.agent_id))

    def _offer_failed(
        self, call_id: str, agent_id: str, reason: str, at: float, out: list[c.Command]
    ) -> None:
        call = self._calls.get(call_id)
        if call is None or call.state is not CallState.OFFERED or call.agent_id != agent_id:
            return  # an offer already taken back
        agent = self._agents[agent_id]
        self._requeue(call)
        agent.call_id = None
        self._end_offer_for_agent(agent, AgentState.NOT_READY, reason, at, out)

    def _caller_hung_up(self, ev: e.CallerHungUp, out: list[c.Command]) -> None:
        call = self._calls.pop(ev.call_id, None)
        if call is None:
            return
        waited = (call.answered_at or ev.at) - call.arrived_at
        if call.state is CallState.WAITING:
            self._remove_waiting(call)
            out.append(c.CallEnded(call.call_id, "abandoned", None, waited, 0.0, ev.at))
            return
        assert call.agent_id is not None
        agent = self._agents[call.agent_id]
        agent.call_id = None
        if call.state is CallState.OFFERED:
            out.append(c.CancelOffer(call.call_id, call.agent_id, "caller-gone"))
            # The agent did nothing wrong: back to ready in the same idle position.
            self._end_offer_for_agent(
                agent, AgentState.READY, None, ev.at, out, idle_since=agent.idle_since
            )
            out.append(c.CallEnded(call.call_id, "abandoned", None, waited, 0.0, ev.at))
            return
        out.append(c.HangUpAgent(call.call_id, call.agent_id))
        self._finish_call(call, agent, ev.at, out)

    def _agent_hung_up(self, ev: e.AgentHungUp, out: list[c.Command]) -> None:
        call = self._calls.get(ev.call_id)
        if call is None or call.agent_id != ev.agent_id:
            return
        if call.state is CallState.OFFERED:
            self._offer_failed(ev.call_id, ev.agent_id, "offer-rejected", ev.at, out)
            return
        del self._calls[call.call_id]
        agent = self._agents[ev.agent_id]
        agent.call_id = None
        out.append(c.HangUpCaller(call.call_id, "agent-hung-up"))
        self._finish_call(call, agent, ev.at, out)

    def _finish_call(self, call: _Call, agent: _Agent, at: float, out: list[c.Command]) -> None:
        assert call.answered_at is not None
        out.append(
            c.CallEnded(
                call.call_id,
                "handled",
                agent.config.agent_id,
                call.answered_at - call.arrived_at,
                at - call.answered_at,
                at,
            )
        )
        wrap_up_s = self._queues[call.queue].config.wrap_up_s
        if wrap_up_s > 0:
            agent.wrap_up_until = at + wrap_up_s
            self._set_agent_state(agent, AgentState.WRAP_UP, None, at, out)
        else:
            self._leave_call(agent, at, out)

    def _requeue(self, call: _Call) -> None:
        call.state = CallState.WAITING
        call.agent_id = None
        call.offer_deadline = None
        bisect.insort(self._queues[call.queue].waiting, call.order)

    def _remove_waiting(self, call: _Call) -> None:
        waiting = self._queues[call.queue].waiting
        i = bisect.bisect_left(waiting, call.order)
        if i < len(waiting) and waiting[i] == call.order:
            del waiting[i]

    # ----------------------------------------------------------------- timers

    def _expire(self, at: float, out: list[c.Command]) -> None:
        due = [
            k
            for k in self._calls.values()
            if k.offer_deadline is not None and k.offer_deadline <= at
        ]
        for call in sorted(due, key=lambda k: k.order):
            self._ring_no_answer(call, at, out)
        for agent in self._agents.values():
            if agent.wrap_up_until is not None and agent.wrap_up_until <= at:
                end = agent.wrap_up_until
                agent.wrap_up_until = None
                self._leave_call(agent, end, out)

    def _ring_no_answer(self, call: _Call, at: float, out: list[c.Command]) -> None:
        """R1: the offer rang for the whole ring timeout: take it back and re-offer."""
        assert call.agent_id is not None
        agent = self._agents[call.agent_id]
        agent.consecutive_misses += 1
        agent.ring_no_answer_total += 1
        out.append(c.CancelOffer(call.call_id, call.agent_id, RING_NO_ANSWER))
        out.append(c.RingNoAnswer(call.call_id, call.agent_id, agent.consecutive_misses, at))
        self._requeue(call)
        agent.call_id = None
        self._end_offer_for_agent(agent, AgentState.NOT_READY, RING_NO_ANSWER, at, out)

    # ----------------------------------------------------------------- agents

    def _login(self, ev: e.AgentLoggedIn, out: list[c.Command]) -> None:
        agent = self._get_agent(ev.agent_id)
        if agent.state is not AgentState.LOGGED_OUT:
            return  # already logged in: logging in again changes nothing
        if ev.ready:
            self._set_agent_state(agent, AgentState.READY, None, ev.at, out)
        else:
            self._set_agent_state(agent, AgentState.NOT_READY, "login", ev.at, out)

    def _request(
        self,
        agent_id: str,
        target: AgentState,
        reason: str | None,
        at: float,
        what: str,
        out: list[c.Command],
    ) -> None:
        """An agent asks to be ready, paused or logged out."""
        agent = self._get_agent(agent_id)
        if agent.state is AgentState.LOGGED_OUT:
            if target is AgentState.LOGGED_OUT:
                return
            raise InvalidTransition(agent_id, agent.state.value, what)
        if agent.state in _IN_CALL:
            # Never cut a call: a pause or logout waits for the call's end; asking to be
            # ready cancels a pending one.
            agent.pending = None if target is AgentState.READY else (target, reason)
            return
        if agent.state is target and agent.reason == reason:
            return
        agent.wrap_up_until = None
        self._set_agent_state(agent, target, reason, at, out)

    def _end_offer_for_agent(
        self,
        agent: _Agent,
        target: AgentState,
        reason: str | None,
        at: float,
        out: list[c.Command],
        idle_since: float | None = None,
    ) -> None:
        """An offer ended without a call: a pending logout wins over ``target``."""
        if agent.pending is not None and agent.pending[0] is AgentState.LOGGED_OUT:
            target, reason = agent.pending
        elif agent.pending is not None and target is AgentState.READY:
            target, reason = agent.pending
        agent.pending = None
        self._set_agent_state(agent, target, reason, at, out, idle_since)

    def _leave_call(self, agent: _Agent, at: float, out: list[c.Command]) -> None:
        """A call and its wrap-up are over: ready, unless a pause or logout is pending."""
        target, reason = agent.pending or (AgentState.READY, None)
        agent.pending = None
        self._set_agent_state(agent, target, reason, at, out)

    def _set_agent_state(
        self,
        agent: _Agent,
        state: AgentState,
        reason: str | None,
        at: float,
        out: list[c.Command],
        idle_since: float | None = None,
    ) -> None:
        if agent.state is AgentState.READY:
            for name in agent.config.queues:
                ready = self._queues[name].ready
                i = bisect.bisect_left(ready, (agent.idle_since, agent.config.agent_id))
                del ready[i]
        if state is AgentState.READY:
            agent.idle_since = at if idle_since is None else idle_since
            for name in agent.config.queues:
                bisect.insort(self._queues[name].ready, (agent.idle_since, agent.config.agent_id))
        agent.state = state
        agent.reason = reason
        out.append(c.AgentStateChanged(agent.config.agent_id, state.value, reason, at))

    def _get_agent(self, agent_id: str) -> _Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise UnknownAgent(agent_id)
        return agent

    # ----------------------------------------------------------------- routing

    def _dispatch(self, at: float, out: list[c.Command]) -> None:
        """Offer calls while some queue has both a waiting call and a ready agent."""
        while True:
            best: _Queue | None = None
            for queue in self._queues.values():
                if queue.waiting and queue.ready:
                    if best is None or queue.waiting[0] < best.waiting[0]:
                        best = queue
            if best is None:
                return
            call = self._calls[best.waiting.pop(0)[2]]
            agent = self._agents[best.ready[0][1]]
            self._offer(call, agent, best.config, at, out)

    def _offer(
        self, call: _Call, agent: _Agent, queue: QueueConfig, at: float, out: list[c.Command]
    ) -> None:
        call.state = CallState.OFFERED
        call.agent_id = agent.config.agent_id
        call.offer_deadline = at + queue.ring_timeout_s
        agent.call_id = call.call_id
        self._set_agent_state(agent, AgentState.OFFERED, None, at, out)
        out.append(
            c.OfferCall(call.call_id, agent.config.agent_id, agent.config.endpoint, queue.ring_timeout_s)
        )
