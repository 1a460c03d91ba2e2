"""The routing core: callers wait in queues, agents take them.

Theory of operation
-------------------
``Engine.handle(event)`` applies one event and returns the commands it implies
(``acd.commands``: call actions, notifications, notices). It does no I/O and reads no
clock: time arrives inside each event, and ``next_deadline()`` tells the adapter when
to send the next ``Tick``. Replaying the same events rebuilds the same state, and
``snapshot``/``restore`` (derived from the records in ``acd.state``) save it.

This module keeps what shares the re-match ordering: arrival, offers, answers, hang-
ups, timers and agent requests. Around it: ``intake`` (how a call is treated before it
waits: IVR, recording, R8, R9), ``agents`` (the agent state machine table), ``holds``
(R3), ``outbound`` (R2), ``routing`` (the indexes), ``timers``.

Routing: a call is matched when it starts waiting (arrival, re-queue, relaxation,
overflow, end of a sticky hold), an agent when it becomes ready. Because each of those
matches at once, the rules below hold after every event:
- an agent holds at most one offer or call;
- work conservation: no ready agent and waiting call that it could take coexist
  (calls held for a sticky agent wait only for that agent);
- a queue serves by priority (emergencies first), then enqueue time; a re-queued or
  overflowed call keeps its enqueue time;
- an agent in several queues takes, among the calls it can serve, the one with the
  highest priority, then of the heaviest queue, then waiting longest;
- among agents who can take a call, the queue's strategy chooses.

Where each rule lives:
  R1 ring timeout, RONA ....... Engine._offer, Engine._ring_no_answer
  R2 outbound ring cap ........ outbound.outbound_started / outbound_expired
  R3 hold limit ............... holds.hold_started / hold_overrun
  R4 record every call ........ intake.call_entered (StartRecording), intake.ended
  R8 emergencies first ........ intake.arrive, Engine._admit (never refused/moved)
  R9 plan actions ............. intake.plan_level_changed, intake.arrive
  R10 sticky agent ............ Engine._sticky_agent_for, TimerKind.STICKY
  R15 agent id announced ...... Engine._offer_answered (AnnounceAgent)
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable
from typing import Any

from acd import agents as ag
from acd import commands as c
from acd import events as e
from acd import holds, intake, outbound
from acd.errors import InvalidTransition, UnknownAgent, UnknownEvent
from acd.model import (
    EMERGENCY_PRIORITY, MAX_PRIORITY, RING_NO_ANSWER, AgentConfig, AgentState, CallState,
    Intake, PlanActions, QueueConfig, Route, Strategy, skills,
)
from acd.routing import WaitingCalls, satisfies
from acd.snapshot import dump, load, restore_into
from acd.state import Agent, AgentView, Call, CallView, Entering, Queue
from acd.timers import TimerKind, Timers

T = TimerKind
_STATE_FIELDS: dict[str, Any] = {  # the engine's own saved fields, beside the records
    "entering": dict[str, Entering],
    "plans": dict[str, PlanActions],
    "called_in": dict[str, tuple[str, ...]],
}


class Engine:
    def __init__(
        self, queues: Iterable[QueueConfig], agents: Iterable[AgentConfig],
        intake: Intake | None = None,
    ) -> None:
        agents = list(agents)
        self._queues: dict[str, Queue] = {}
        for q in queues:
            members = [a.agent_id for a in agents if q.name in a.queues]
            self._queues[q.name] = Queue(q, {aid: i for i, aid in enumerate(members)})
        for queue in self._queues.values():
            target = queue.config.overflow_queue
            if target is not None and target not in self._queues:
                raise ValueError(f"queue {queue.config.name!r} overflows to unknown queue {target!r}")
        for a in agents:
            for name in a.queues:
                if name not in self._queues:
                    raise ValueError(f"agent {a.agent_id!r} names unknown queue {name!r}")
        self.intake = intake or Intake(default_queue=next(iter(self._queues), ""))
        self._agents = {a.agent_id: Agent(a, skills(a.skills)) for a in agents}
        self._calls: dict[str, Call] = {}
        self._entering: dict[str, Entering] = {}  # calls in the IVR
        self._plans: dict[str, PlanActions] = {}  # R9: queue -> active level's actions
        self._called_in: dict[str, tuple[str, ...]] = {}  # R9: queue -> standby agents
        self._sticky: dict[str, WaitingCalls] = {}  # agent id -> calls held for them
        self._last_agent: collections.OrderedDict[str, tuple[str, float]] = collections.OrderedDict()
        self._sticky_window = max((q.config.sticky_window_s for q in self._queues.values()), default=0.0)
        self._outbound: dict[str, tuple[str, float]] = {}  # attempt -> (queue, started)
        self._timers = Timers()
        self._seq = 0
        self._gen = 0  # one counter for all timer generations: ids may be reused
        self._handlers = self._dispatch_table()

    def _new_gen(self) -> int:
        self._gen += 1
        return self._gen

    # ----------------------------------------------------------------- reading

    def agent(self, agent_id: str) -> AgentView:
        return AgentView.of(self._get_agent(agent_id))

    def agents(self) -> list[AgentView]:
        return [AgentView.of(a) for a in self._agents.values()]

    def calls(self) -> list[CallView]:
        return [CallView.of(k) for k in self._calls.values()]

    def plan(self, queue: str) -> PlanActions | None:
        """R9: the actions of the plan level the core applies to ``queue`` now."""
        return self._plans.get(queue)

    def position(self, call_id: str) -> int | None:
        """1-based place of a waiting call in its queue (for announcements)."""
        call = self._calls.get(call_id)
        if call is None or call.state is not CallState.WAITING:
            return None
        return self._queues[call.queue].waiting.ahead_of(call_id) + 1

    def expected_wait_s(self, call_id: str) -> float | None:
        """Expected wait from the queue's recent handle times and its staffed agents."""
        place = self.position(call_id)
        if place is None:
            return None
        queue = self._queues[self._calls[call_id].queue]
        if not queue.handle_times:
            return None
        aht = sum(queue.handle_times) / len(queue.handle_times)
        staffed = sum(1 for aid in queue.positions
                      if self._agents[aid].state not in (AgentState.LOGGED_OUT, AgentState.NOT_READY))
        return place * aht / max(1, staffed)

    def next_deadline(self) -> float | None:
        """When the next ``Tick`` is due."""
        while (head := self._timers.peek()) is not None:
            at, kind, key, gen = head
            if self._timer_valid(kind, key, gen):
                return at
            self._timers.pop()
        return None

    # ----------------------------------------------------------------- snapshot

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-ready data; ``restore`` rebuilds an equal engine.
        Indexes are not saved: they follow from agents and calls."""
        return {
            "version": 1, "seq": self._seq, "gen": self._gen,
            "agents": {aid: dump(a) for aid, a in self._agents.items()},
            "calls": {k.call_id: dump(k) for k in self._calls.values()},
            "queues": {name: dump(q) for name, q in self._queues.items()},
            "last_agent": [[caller, aid, t] for caller, (aid, t) in self._last_agent.items()],
            "outbound": {k: [q, t] for k, (q, t) in sorted(self._outbound.items())},
            "timer_seq": self._timers.seq,
            "timers": sorted([at, seq, kind.value, key, gen] for at, seq, kind, key, gen
                             in self._timers.entries() if self._timer_valid(kind, key, gen)),
            **{name: dump(getattr(self, f"_{name}")) for name in _STATE_FIELDS},
        }

    @classmethod
    def restore(cls, queues: Iterable[QueueConfig], agents: Iterable[AgentConfig],
                data: dict[str, Any], intake: Intake | None = None) -> Engine:
        """An engine in exactly the state ``snapshot`` saved (same configuration)."""
        if data.get("version") != 1:
            raise ValueError(f"unknown snapshot version {data.get('version')!r}")
        eng = cls(queues, agents, intake)
        eng._seq, eng._gen = data["seq"], data["gen"]
        for aid, d in data["agents"].items():
            if aid in eng._agents:  # else: an agent removed from the configuration
                restore_into(eng._agents[aid], d)
        for call_id, d in data["calls"].items():
            eng._calls[call_id] = load(Call, {"call_id": call_id, **d})
        for name, d in data["queues"].items():
            if name in eng._queues:
                restore_into(eng._queues[name], d)
        for caller, aid, t in data["last_agent"]:
            eng._last_agent[caller] = (aid, t)
        eng._outbound = {k: (q, t) for k, (q, t) in data["outbound"].items()}
        for at, seq, kind, key, gen in data["timers"]:
            eng._timers.restore(at, seq, TimerKind(kind), key, gen)
        eng._timers.seq = data["timer_seq"]
        for name, tp in _STATE_FIELDS.items():
            setattr(eng, f"_{name}", load(tp, data.get(name, {})))
        for a in eng._agents.values():  # indexes: ready agents, then waiting calls
            if a.state is AgentState.READY:
                for name in a.config.queues:
                    queue = eng._queues[name]
                    queue.ready.add(a.agent_id, a.profile, ag.strategy_key(a, queue))
        for k in sorted(eng._calls.values(), key=lambda k: k.order):
            if k.state is CallState.WAITING:
                eng._park(k)
        return eng

    # ----------------------------------------------------------------- events

    def handle(self, event: e.Event) -> list[c.Command]:
        out: list[c.Command] = []
        self.handle_into(event, out)
        return out

    def handle_into(self, event: e.Event, out: list[c.Command]) -> None:
        handler = self._handlers.get(type(event))
        if handler is None:
            raise UnknownEvent(type(event).__name__)
        handler(event, out)

    def _dispatch_table(self) -> dict[type, Callable[[Any, list[c.Command]], None]]:
        """Event type -> what handles it (one dict lookup per event)."""
        return {
            e.Tick: lambda ev, out: self._expire(ev.at, out),
            e.CallEntered: lambda ev, out: intake.call_entered(self, ev, out),
            e.IvrRouted: lambda ev, out: intake.ivr_routed(self, ev, out),
            e.IvrCallbackRequested: lambda ev, out: intake.ivr_callback_requested(self, ev, out),
            e.PlanLevelChanged: lambda ev, out: intake.plan_level_changed(self, ev, out),
            e.CallArrived: self._call_arrived,
            e.OfferAnswered: self._offer_answered,
            e.OfferFailed: lambda ev, out: self._offer_failed(ev.call_id, ev.agent_id, ev.reason, ev.at, out),
            e.CallerHungUp: self._caller_hung_up,
            e.AgentHungUp: self._agent_hung_up,
            e.CallerChoseCallback: lambda ev, out: intake.caller_chose_callback(self, ev, out),
            e.AnnouncementFinished: self._announcement_finished,
            e.HoldStarted: lambda ev, out: holds.hold_started(self, ev),
            e.HoldEnded: lambda ev, out: holds.hold_ended(self, ev),
            e.OutboundStarted: lambda ev, out: outbound.outbound_started(self, ev),
            e.OutboundAnswered: lambda ev, out: outbound.outbound_ended(self, ev.attempt_id),
            e.OutboundEnded: lambda ev, out: outbound.outbound_ended(self, ev.attempt_id),
            e.AgentLoggedIn: self._login,
            e.AgentLoggedOut: lambda ev, out: self._request(
                ev.agent_id, AgentState.LOGGED_OUT, None, ev.at, "log out", out),
            e.AgentReady: lambda ev, out: self._request(ev.agent_id, AgentState.READY, None, ev.at, "get ready", out),
            e.AgentPaused: lambda ev, out: self._request(
                ev.agent_id, AgentState.NOT_READY, ev.reason, ev.at, "pause", out),
        }

    # ----------------------------------------------------------------- calls

    def _call_arrived(self, ev: e.CallArrived, out: list[c.Command]) -> None:
        if ev.call_id not in self._calls and ev.call_id not in self._entering:
            intake.arrive(self, ev.call_id, ev.caller, ev, ev.at, ev.node, False, out)

    def _caller_hung_up(self, ev: e.CallerHungUp, out: list[c.Command]) -> None:
        if not intake.left_in_ivr(self, ev.call_id, out):
            self._caller_left(ev, out)

    def _announcement_finished(self, ev: e.AnnouncementFinished, out: list[c.Command]) -> None:
        call = self._calls.get(ev.call_id)
        if call and call.state is CallState.CONNECTED and not call.bridged:
            call.bridged = True
            assert call.agent_id is not None
            out.append(c.ConnectCall(call.call_id, call.agent_id))

    def _admit_new(self, call_id: str, queue_name: str, caller: str, route: intake.RouteLike, at: float,
                   node: str, recorded: bool, out: list[c.Command]) -> Call | None:
        """The call's record in the queue that takes it, or None (fallback, refused)."""
        queue = self._queues.get(queue_name)
        if queue is None:
            out.append(c.RouteToFallback(call_id, f"unknown queue {queue_name!r}"))
            if recorded:
                out.append(c.LabelRecording(call_id, queue_name, route.kind, None))
            return None
        self._seq += 1
        priority = EMERGENCY_PRIORITY if route.emergency else max(0, min(route.priority, MAX_PRIORITY))
        requirement = skills(route.skills)
        call = Call(call_id, queue_name, caller, route.kind, priority, requirement, requirement,
                    at, self._seq, at, node=node, recorded=recorded, emergency=route.emergency)
        target = self._admit(call, queue, at, out)
        if target is None:
            out.append(c.Farewell(call.call_id, self.intake.queue_full_prompt, "queue-full"))
            intake.ended(call, "rejected", None, 0.0, 0.0, at, out)
            return None
        call.queue = target.config.name
        self._calls[call.call_id] = call
        return call

    def _queue_new(self, call: Call, at: float, out: list[c.Command]) -> None:
        target = self._queues[call.queue]
        call.sticky_agent = self._sticky_agent_for(call, target.config, at)
        if call.sticky_agent is not None:
            self._timers.push(at + target.config.sticky_hold_s, T.STICKY, call.call_id, call.gen)
        self._enter_queue(call, target, at, out)

    def _admit(self, call: Call, queue: Queue, at: float, out: list[c.Command]) -> Queue | None:
        """The queue that takes a new call: its own, or an overflow when it is long or
        full; None when every candidate is full. Emergencies (R8) are never refused."""
        seen: set[str] = set()
        while queue.config.name not in seen:
            seen.add(queue.config.name)
            cfg = queue.config
            waiting = len(queue.waiting)
            full = cfg.max_waiting is not None and waiting >= cfg.max_waiting
            long = cfg.overflow_at_waiting is not None and waiting >= cfg.overflow_at_waiting
            if not (full or long) or call.priority >= EMERGENCY_PRIORITY:
                return queue
            if cfg.overflow_queue is None:
                return None if full else queue
            out.append(c.CallOverflowed(call.call_id, cfg.name, cfg.overflow_queue,
                                        "queue-full" if full else "queue-long", at))
            call.visited += (cfg.name,)
            queue = self._queues[cfg.overflow_queue]
            call.queue = queue.config.name
        return None

    def _sticky_agent_for(self, call: Call, queue: QueueConfig, at: float) -> str | None:
        """R10: a repeat caller within the window is held for their last agent."""
        if queue.sticky_window_s <= 0 or not call.caller:
            return None
        last = self._last_agent.get(call.caller)
        if last is None or at - last[1] > queue.sticky_window_s:
            return None
        agent = self._agents.get(last[0])
        if agent is None or queue.name not in agent.config.queues or agent.state is AgentState.LOGGED_OUT:
            return None
        return agent.agent_id

    def _enter_queue(self, call: Call, queue: Queue, at: float, out: list[c.Command], match: bool = True) -> None:
        """The call starts waiting in ``queue``: arm its timers and try to match it."""
        call.queue = queue.config.name
        if call.sticky_agent is not None and queue.config.name not in self._agents[call.sticky_agent].config.queues:
            call.sticky_agent = None  # R10 holds a call only for an agent of its queue
        call.entered_queue_at = at
        call.gen = self._new_gen()
        call.queue_gen = self._new_gen()
        call.relax_step = 0
        call.requirement = call.base_requirement
        cfg = queue.config
        if cfg.relaxation:
            self._timers.push(at + cfg.relaxation[0].after_s, T.RELAX, call.call_id, call.queue_gen)
        if cfg.overflow_queue is not None and cfg.overflow_after_s is not None:
            self._timers.push(at + cfg.overflow_after_s, T.OVERFLOW, call.call_id, call.queue_gen)
        if match:
            self._match_call(call, at, out)
        else:
            self._park(call)

    def _match_call(self, call: Call, at: float, out: list[c.Command]) -> None:
        """Offer a call that starts waiting to the agent(s) the strategy picks, or index
        it as waiting."""
        call.state = CallState.WAITING
        queue = self._queues[call.queue]
        if call.sticky_agent is not None:
            agent = self._agents[call.sticky_agent]
            if agent.state is AgentState.READY:
                self._offer(call, [agent], queue, at, out)
            else:
                self._park(call)
            return
        strategy = queue.config.strategy
        if strategy is Strategy.RING_ALL:
            # In configured order, whatever order the agents became ready in.
            ids = sorted(queue.ready.all_matching(call.requirement), key=queue.positions.__getitem__)
            if ids:
                self._offer(call, [self._agents[aid] for aid in ids], queue, at, out)
                return
        else:
            aid = queue.ready.best(call.requirement, strategy, queue.rr_last)
            if aid is not None:
                self._offer(call, [self._agents[aid]], queue, at, out)
                return
        self._park(call)

    def _park(self, call: Call) -> None:
        """Index a call as waiting: for its sticky agent only, or for its queue."""
        call.state = CallState.WAITING
        if call.sticky_agent is not None:
            self._sticky.setdefault(call.sticky_agent, WaitingCalls()).add(call.call_id, (), call.order)
        else:
            self._queues[call.queue].waiting.add(call.call_id, call.requirement, call.order)

    def _match_agent(self, agent: Agent, at: float, out: list[c.Command]) -> None:
        """A ready agent takes the best call it can serve, if any."""
        best: tuple[tuple[object, ...], str, WaitingCalls] | None = None
        sticky = self._sticky.get(agent.agent_id)
        if sticky is not None:
            head = sticky.best_for(())
            if head is not None:
                best = ((head[0][0], -(1 << 30), head[0][1], head[0][2]), head[1], sticky)
        for name in agent.config.queues:
            queue = self._queues[name]
            head = queue.waiting.best_for(agent.profile)
            if head is None:
                continue
            (neg_priority, arrived, seq), call_id = head
            rank = (neg_priority, -queue.config.weight, arrived, seq)
            if best is None or rank < best[0]:
                best = (rank, call_id, queue.waiting)
        if best is None:
            return
        _, call_id, index = best
        index.remove(call_id)
        call = self._calls[call_id]
        self._offer(call, [agent], self._queues[call.queue], at, out)

    def _unindex(self, call: Call) -> None:
        """Take a waiting call out of whichever index holds it."""
        self._queues[call.queue].waiting.remove(call.call_id)
        if call.sticky_agent is not None and call.sticky_agent in self._sticky:
            self._sticky[call.sticky_agent].remove(call.call_id)

    def _offer(self, call: Call, agents: list[Agent], queue: Queue, at: float, out: list[c.Command]) -> None:
        cfg = queue.config
        call.state = CallState.OFFERED
        call.offered_to = {a.agent_id for a in agents}
        call.gen = self._new_gen()
        self._timers.push(at + cfg.ring_timeout_s, T.OFFER, call.call_id, call.gen)
        for agent in agents:
            agent.call_id = call.call_id
            self._set_state(agent, AgentState.OFFERED, None, at, out)
            queue.rr_last = float(queue.positions[agent.agent_id])
            out.append(c.OfferCall(call.call_id, agent.agent_id, agent.config.endpoint, cfg.ring_timeout_s))

    def _offer_answered(self, ev: e.OfferAnswered, out: list[c.Command]) -> None:
        call = self._calls.get(ev.call_id)
        if call is None or call.state is not CallState.OFFERED or ev.agent_id not in call.offered_to:
            # Answered after the offer was taken back: that leg must not stay up.
            out.append(c.HangUpAgent(ev.call_id, ev.agent_id))
            return
        agent = self._agents[ev.agent_id]
        losers = sorted(call.offered_to - {ev.agent_id})
        call.state = CallState.CONNECTED
        call.offered_to = set()
        call.gen = self._new_gen()
        call.agent_id = ev.agent_id
        call.answered_at = ev.at
        call.callback_offered = False
        agent.consecutive_misses = 0
        self._set_state(agent, AgentState.ON_CALL, None, ev.at, out)
        for loser_id in losers:  # ring-all: the others stop ringing, no fault of theirs
            loser = self._agents[loser_id]
            loser.call_id = None
            out.append(c.CancelOffer(call.call_id, loser_id, "answered-elsewhere"))
            self._end_offer(loser, AgentState.READY, None, ev.at, out, loser.idle_since)
        if self._queues[call.queue].config.announce_agent_id:
            out.append(c.AnnounceAgent(call.call_id, ev.agent_id, agent.config.announced_number))
        else:
            call.bridged = True
            out.append(c.ConnectCall(call.call_id, ev.agent_id))

    def _offer_failed(self, call_id: str, agent_id: str, reason: str, at: float, out: list[c.Command]) -> None:
        call = self._calls.get(call_id)
        if call is None or call.state is not CallState.OFFERED or agent_id not in call.offered_to:
            return  # an offer already taken back
        agent = self._agents[agent_id]
        call.offered_to.discard(agent_id)
        if call.sticky_agent == agent_id:
            call.sticky_agent = None
        agent.call_id = None
        self._end_offer(agent, AgentState.NOT_READY, reason, at, out)
        if not call.offered_to:  # the call waits again at its original place
            call.gen = self._new_gen()
            self._match_call(call, at, out)

    def _caller_left(self, ev: e.CallerHungUp, out: list[c.Command]) -> None:
        call = self._calls.pop(ev.call_id, None)
        if call is None:
            return
        if call.state is CallState.CONNECTED:
            assert call.agent_id is not None
            out.append(c.HangUpAgent(call.call_id, call.agent_id))
            self._finish_call(call, self._agents[call.agent_id], ev.at, out)
            return
        if call.state is CallState.WAITING:
            self._unindex(call)
        for agent_id in sorted(call.offered_to):
            agent = self._agents[agent_id]
            agent.call_id = None
            out.append(c.CancelOffer(call.call_id, agent_id, "caller-gone"))
            # The agent did nothing wrong: ready again in the same idle position.
            self._end_offer(agent, AgentState.READY, None, ev.at, out, agent.idle_since)
        intake.ended(call, "abandoned", None, ev.at - call.arrived_at, 0.0, ev.at, out)

    def _agent_hung_up(self, ev: e.AgentHungUp, out: list[c.Command]) -> None:
        call = self._calls.get(ev.call_id)
        if call is None:
            return
        if call.state is CallState.OFFERED:
            self._offer_failed(ev.call_id, ev.agent_id, "offer-rejected", ev.at, out)
            return
        if call.state is not CallState.CONNECTED or call.agent_id != ev.agent_id:
            return
        del self._calls[call.call_id]
        out.append(c.HangUpCaller(call.call_id, "agent-hung-up"))
        self._finish_call(call, self._agents[ev.agent_id], ev.at, out)

    def _finish_call(self, call: Call, agent: Agent, at: float, out: list[c.Command]) -> None:
        assert call.answered_at is not None
        talked = at - call.answered_at
        agent.call_id = None
        agent.talk_time_s += talked
        agent.calls_by_queue[call.queue] = agent.calls_by_queue.get(call.queue, 0) + 1
        queue = self._queues[call.queue]
        queue.handle_times.append(talked)
        intake.ended(call, "handled", agent.agent_id, call.answered_at - call.arrived_at, talked, at, out)
        if call.caller and self._sticky_window > 0:
            self._last_agent.pop(call.caller, None)
            self._last_agent[call.caller] = (agent.agent_id, at)
            while self._last_agent:
                _, (_, ended) = next(iter(self._last_agent.items()))
                if at - ended <= self._sticky_window:
                    break
                self._last_agent.popitem(last=False)
        wrap_up_s = agent.config.wrap_up_s
        if wrap_up_s is None:
            wrap_up_s = queue.config.wrap_up_s
        if wrap_up_s > 0:
            agent.wrap_up_until = at + wrap_up_s
            agent.wrap_gen = self._new_gen()
            self._timers.push(agent.wrap_up_until, T.WRAP, agent.agent_id, agent.wrap_gen)
            self._set_state(agent, AgentState.WRAP_UP, None, at, out)
        else:
            self._leave_call(agent, at, out)

    # ----------------------------------------------------------------- timers

    def _timer_valid(self, kind: TimerKind, key: str, gen: int) -> bool:
        if kind is T.WRAP:
            agent = self._agents[key]
            return agent.state is AgentState.WRAP_UP and agent.wrap_gen == gen
        if kind is T.OUTBOUND:
            return key in self._outbound
        call = self._calls.get(key)
        if call is None:
            return False
        match kind:
            case T.OFFER:
                return call.state is CallState.OFFERED and call.gen == gen
            case T.HOLD:
                return holds.hold_timer_valid(call, gen)
            case T.STICKY:
                return call.sticky_agent is not None
            case T.RELAX:
                steps = self._queues[call.queue].config.relaxation
                return call.queue_gen == gen and call.relax_step < len(steps)
            case T.OVERFLOW:  # while not answered in the queue that armed it
                return call.queue_gen == gen and call.state is not CallState.CONNECTED
        raise AssertionError(kind)

    def _expire(self, at: float, out: list[c.Command]) -> None:
        # Timers that make calls matchable (ring timeout, relaxation, sticky end,
        # overflow) park those calls; at each new instant, and before a timer that
        # matches by itself (wrap-up end), the parked calls are matched in
        # priority/FIFO order, then agents kept ready by the RONA policy rejoin. So
        # simultaneous timers can never reorder the queue.
        rematch: list[Call] = []
        rejoin: list[Agent] = []
        current: float | None = None
        while (head := self._timers.peek()) is not None and head[0] <= at:
            due, kind, key, gen = head
            self._timers.pop()
            if not self._timer_valid(kind, key, gen):
                continue
            if kind in (T.WRAP, T.HOLD, T.OUTBOUND) or due != current:
                self._rematch(rematch, rejoin, at, out)
            current = due
            if kind is T.WRAP:
                agent = self._agents[key]
                agent.wrap_up_until = None
                self._leave_call(agent, due, out)
            elif kind is T.OUTBOUND:
                outbound.outbound_expired(self, key, due, at, out)
            elif kind is T.HOLD:
                holds.hold_overrun(self, self._calls[key], at, out)
            elif kind is T.OFFER:
                call = self._calls[key]
                rejoin += self._ring_no_answer(call, at, out)
                rematch.append(call)
            elif kind is T.STICKY:
                # R10's hold for the last agent is over: any agent of the queue now.
                call = self._calls[key]
                if call.state is CallState.WAITING:
                    self._unindex(call)
                    call.sticky_agent = None
                    self._park(call)
                    rematch.append(call)
                else:
                    call.sticky_agent = None
            elif kind is T.RELAX:
                call = self._calls[key]
                if self._relax(call):
                    rematch.append(call)
            elif kind is T.OVERFLOW:
                call = self._calls[key]
                cfg = self._queues[call.queue].config
                target = cfg.overflow_queue
                assert target is not None
                if target in call.visited:
                    continue
                if call.state is CallState.OFFERED:  # ringing now: look again afterwards
                    self._timers.push(at + cfg.ring_timeout_s, T.OVERFLOW, key, gen)
                    continue
                self._unindex(call)
                call.visited += (call.queue,)
                out.append(c.CallOverflowed(call.call_id, call.queue, target, "waited-too-long", at))
                self._enter_queue(call, self._queues[target], at, out, match=False)
                rematch.append(call)
        self._rematch(rematch, rejoin, at, out)

    def _rematch(self, calls: list[Call], rejoin: list[Agent], at: float, out: list[c.Command]) -> None:
        for call in sorted(calls, key=lambda k: k.order):
            if self._calls.get(call.call_id) is call and call.state is CallState.WAITING:
                self._unindex(call)
                self._match_call(call, at, out)
        calls.clear()
        for agent in rejoin:
            self._end_offer(agent, AgentState.READY, None, at, out)
        rejoin.clear()

    def _relax(self, call: Call) -> bool:
        """Skill relaxation: widen the requirement. Returns whether the call now waits
        with a wider requirement (to be matched again)."""
        steps = self._queues[call.queue].config.relaxation
        step = steps[call.relax_step]
        call.relax_step += 1
        if call.relax_step < len(steps):
            due = call.entered_queue_at + steps[call.relax_step].after_s
            self._timers.push(due, T.RELAX, call.call_id, call.queue_gen)
        if call.state is not CallState.WAITING or call.sticky_agent is not None:
            call.requirement = step.apply(call.requirement)
            return False
        self._unindex(call)
        call.requirement = step.apply(call.requirement)
        self._park(call)
        return True

    def _ring_no_answer(self, call: Call, at: float, out: list[c.Command]) -> list[Agent]:
        """R1: the offer rang for the whole ring timeout: take it back; the call waits
        again at its original place (``_expire`` matches it to the next agent at once).

        The RONA policy: ``rona_not_ready_after`` consecutive misses make the agent not
        ready, ``rona_logout_after`` log it out and alert a supervisor; below both the
        agent stays ready, rejoining at the back of the idle order after the call has
        found its next agent. Returns those agents."""
        cfg = self._queues[call.queue].config
        kept_ready: list[Agent] = []
        for agent_id in sorted(call.offered_to):
            agent = self._agents[agent_id]
            agent.consecutive_misses += 1
            agent.ring_no_answer_total += 1
            agent.call_id = None
            misses = agent.consecutive_misses
            out.append(c.CancelOffer(call.call_id, agent_id, RING_NO_ANSWER))
            out.append(c.RingNoAnswer(call.call_id, agent_id, misses, at))
            if cfg.rona_logout_after and misses >= cfg.rona_logout_after:
                out.append(c.SupervisorAlert(agent_id, f"logged out after {misses} missed offers", at))
                agent.pending = None
                self._set_state(agent, AgentState.LOGGED_OUT, RING_NO_ANSWER, at, out)
            elif misses >= cfg.rona_not_ready_after:
                self._end_offer(agent, AgentState.NOT_READY, RING_NO_ANSWER, at, out)
            else:
                kept_ready.append(agent)
        if call.sticky_agent in call.offered_to:
            call.sticky_agent = None  # R10 prefers that agent, but it did not answer
        call.offered_to = set()
        call.gen = self._new_gen()
        self._park(call)
        return kept_ready

    # ----------------------------------------------------------------- agents

    def _login(self, ev: e.AgentLoggedIn, out: list[c.Command]) -> None:
        agent = self._get_agent(ev.agent_id)
        if agent.state is not AgentState.LOGGED_OUT:
            return  # already logged in: logging in again changes nothing
        agent.consecutive_misses = 0
        if ev.ready:
            self._become_ready(agent, ev.at, out)
        else:
            self._set_state(agent, AgentState.NOT_READY, "login", ev.at, out)

    def _request(self, agent_id: str, target: AgentState, reason: str | None, at: float, what: str,
                 out: list[c.Command]) -> None:
        """An agent asks to be ready, paused or logged out."""
        agent = self._get_agent(agent_id)
        if agent.state is AgentState.LOGGED_OUT:
            if target is AgentState.LOGGED_OUT:
                return
            raise InvalidTransition(agent_id, agent.state.value, what)
        if agent.state in ag.IN_CALL:
            # Never cut a call: a pause or logout waits for the call's end; asking to be
            # ready cancels a pending one.
            agent.pending = None if target is AgentState.READY else (target, reason)
            return
        if agent.state is target and agent.reason == reason:
            return
        agent.wrap_up_until = None
        if target is AgentState.READY:  # misses keep counting: RONA escalates
            self._become_ready(agent, at, out)
        else:
            self._set_state(agent, target, reason, at, out)

    def _end_offer(self, agent: Agent, target: AgentState, reason: str | None, at: float,
                   out: list[c.Command], idle_since: float | None = None) -> None:
        """An offer ended without a call for this agent: a pending logout or pause
        wins over going back to ready."""
        if agent.pending is not None and (
            agent.pending[0] is AgentState.LOGGED_OUT or target is AgentState.READY
        ):
            target, reason = agent.pending
        agent.pending = None
        if target is AgentState.READY:
            self._become_ready(agent, at, out, idle_since)
        else:
            self._set_state(agent, target, reason, at, out)

    def _leave_call(self, agent: Agent, at: float, out: list[c.Command]) -> None:
        """A call and its wrap-up are over: ready, unless a pause or logout is pending."""
        pending, agent.pending = agent.pending, None
        if pending is None:
            self._become_ready(agent, at, out)
        else:
            self._set_state(agent, pending[0], pending[1], at, out)

    def _become_ready(self, agent: Agent, at: float, out: list[c.Command], idle_since: float | None = None) -> None:
        agent.idle_since = at if idle_since is None else idle_since
        self._set_state(agent, AgentState.READY, None, at, out)
        self._match_agent(agent, at, out)

    def _set_state(self, agent: Agent, state: AgentState, reason: str | None, at: float,
                   out: list[c.Command]) -> None:
        ag.set_state(agent, state, reason, at, self._queues, out)

    def _get_agent(self, agent_id: str) -> Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise UnknownAgent(agent_id)
        return agent


__all__ = ["AgentView", "CallView", "Engine", "satisfies"]
