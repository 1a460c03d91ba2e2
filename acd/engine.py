"""The routing core: callers wait in queues, agents take them.

Theory of operation
-------------------
``Engine.handle(event)`` applies one event and returns the commands it implies
(``acd.commands``: call actions, notifications, notices). It does no I/O and reads no
clock: time arrives inside each event, and ``next_deadline()`` tells the adapter when
to send the next ``Tick``. Replaying the same events rebuilds the same state, and
``snapshot``/``restore`` (derived from the records in ``acd.state``) save it.

This module keeps arrival, matching, offers, answers and hang-ups. Around it:
``intake`` (how a call is treated before it waits: IVR, recording, R8, R9),
``agents`` (the agent state machine and agents' requests), ``timeouts`` (what
happens when time passes), ``holds`` (R3), ``outbound`` (R2), ``routing`` (the
indexes), ``timers``, ``snapshot``.

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
  R1 ring timeout, RONA ....... Engine._offer, timeouts.ring_no_answer
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
from acd import callbacks, holds, intake, outbound, snapshot, transfers
from acd import timeouts as to
from acd.errors import UnknownAgent, UnknownEvent
from acd.model import (
    EMERGENCY_PRIORITY, MAX_PRIORITY, AgentConfig, AgentState, CallState,
    Intake, PlanActions, QueueConfig, Strategy, skills,
)
from acd.routing import WaitingCalls, satisfies
from acd.state import Agent, AgentView, Call, CallView, Entering, Queue
from acd.timers import TimerKind, Timers

T = TimerKind


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

    def queue_configs(self) -> list[QueueConfig]:
        return [q.config for q in self._queues.values()]

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
        queue = self._queues[self._calls[call_id].queue] if place is not None else None
        if place is None or queue is None or not queue.handle_times:
            return None
        aht = sum(queue.handle_times) / len(queue.handle_times)
        staffed = sum(1 for aid in queue.positions
                      if self._agents[aid].state not in (AgentState.LOGGED_OUT, AgentState.NOT_READY))
        return place * aht / max(1, staffed)

    def next_deadline(self) -> float | None:
        """When the next ``Tick`` is due."""
        while (head := self._timers.peek()) is not None:
            at, kind, key, gen = head
            if to.timer_valid(self, kind, key, gen):
                return at
            self._timers.pop()
        return None

    # ----------------------------------------------------------------- snapshot

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-ready data; ``restore`` rebuilds an equal engine."""
        return snapshot.save(self)

    @classmethod
    def restore(cls, queues: Iterable[QueueConfig], agents: Iterable[AgentConfig],
                data: dict[str, Any], intake: Intake | None = None) -> Engine:
        """An engine in exactly the state ``snapshot`` saved (same configuration)."""
        eng = cls(queues, agents, intake)
        snapshot.restore(eng, data)
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
            e.Tick: lambda ev, out: to.expire(self, ev.at, out, ev.resumed),
            e.DispositionRecorded: lambda ev, out: ag.disposition_recorded(self, ev, out),
            e.CustomerAnswered: lambda ev, out: callbacks.customer_answered(self, ev, out),
            e.OutboundQueued: lambda ev, out: callbacks.outbound_queued(self, ev, out),
            e.CustomerNotReached: lambda ev, out: callbacks.customer_not_reached(self, ev, out),
            e.CustomerScreening: lambda ev, out: callbacks.screening(self, ev),
            e.CallEntered: lambda ev, out: intake.call_entered(self, ev, out),
            e.IvrRouted: lambda ev, out: intake.ivr_routed(self, ev, out),
            e.IvrCallbackRequested: lambda ev, out: intake.ivr_callback_requested(self, ev, out),
            e.PlanLevelChanged: lambda ev, out: intake.plan_level_changed(self, ev, out),
            e.CallArrived: self._call_arrived,
            e.OfferAnswered: self._offer_answered,
            e.OfferFailed: lambda ev, out: self._offer_failed(ev.call_id, ev.agent_id, ev.reason, ev.at, out),
            e.CallerHungUp: self._caller_hung_up,
            e.AgentHungUp: self._agent_hung_up,
            e.CallerChoseCallback: lambda ev, out: callbacks.chose(self, ev, out),
            e.AnnouncementFinished: self._announcement_finished,
            e.HoldStarted: lambda ev, out: holds.hold_started(self, ev),
            e.HoldEnded: lambda ev, out: holds.hold_ended(self, ev),
            e.OutboundStarted: lambda ev, out: outbound.outbound_started(self, ev),
            e.OutboundAnswered: lambda ev, out: outbound.outbound_ended(self, ev.attempt_id),
            e.OutboundEnded: lambda ev, out: outbound.outbound_ended(self, ev.attempt_id),
            e.AgentLoggedIn: lambda ev, out: ag.login(self, ev, out),
            e.AgentLoggedOut: lambda ev, out: ag.request(self, 
                ev.agent_id, AgentState.LOGGED_OUT, None, ev.at, "log out", out),
            e.AgentReady: lambda ev, out: ag.request(self, ev.agent_id, AgentState.READY, None, ev.at, "get ready", out),
            e.AgentPaused: lambda ev, out: ag.request(self, 
                ev.agent_id, AgentState.NOT_READY, ev.reason, ev.at, "pause", out),
            **transfers.handlers(self),
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
            if transfers.available(agent):
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
        if not agent.reachable:
            return
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
            out.append(ag.offer(call, agent, cfg.ring_timeout_s))

    def _offer_answered(self, ev: e.OfferAnswered, out: list[c.Command]) -> None:
        call = self._calls.get(ev.call_id)
        if call is None or call.state is not CallState.OFFERED or ev.agent_id not in call.offered_to:
            if call is None or not transfers.consult_answered(self, call, ev.agent_id, ev.at, out):
                out.append(c.HangUpAgent(ev.call_id, ev.agent_id))  # answered after the offer was taken back
            return
        agent = self._agents[ev.agent_id]
        losers = sorted(call.offered_to - {ev.agent_id})
        call.state = CallState.CONNECTED
        call.offered_to = set()
        call.gen = self._new_gen()
        call.agent_id = ev.agent_id
        transfers.answered(call, ev.at)
        call.callback_offered = False
        agent.consecutive_misses = 0
        self._set_state(agent, AgentState.ON_CALL, None, ev.at, out)
        for loser_id in losers:  # ring-all: the others stop ringing, no fault of theirs
            loser = self._agents[loser_id]
            loser.call_id = None
            out.append(c.CancelOffer(call.call_id, loser_id, "answered-elsewhere"))
            ag.end_offer(self, loser, AgentState.READY, None, ev.at, out, loser.idle_since)
        if call.callback:  # R11: agent first, then the customer is dialled
            callbacks.dial(self, call, ev.agent_id, ev.at, out)
        elif self._queues[call.queue].config.announce_agent_id:
            out.append(c.AnnounceAgent(call.call_id, ev.agent_id, agent.config.announced_number))
        else:
            call.bridged = True
            out.append(c.ConnectCall(call.call_id, ev.agent_id))

    def _offer_failed(self, call_id: str, agent_id: str, reason: str, at: float, out: list[c.Command]) -> None:
        call = self._calls.get(call_id)
        if call is None or call.state is not CallState.OFFERED or agent_id not in call.offered_to:
            if call is not None and call.state is CallState.CONNECTED:
                transfers.consult_failed(self, call, agent_id, reason, at, out)
            return  # an offer already taken back
        agent = self._agents[agent_id]
        call.offered_to.discard(agent_id)
        if call.sticky_agent == agent_id:
            call.sticky_agent = None
        agent.call_id = None
        if reason == "deadline":  # Asterisk did not take the offer in time: not the agent's fault
            ag.end_offer(self, agent, AgentState.READY, None, at, out)
        else:
            ag.end_offer(self, agent, AgentState.NOT_READY, reason, at, out)
        if not call.offered_to:  # the call waits again at its original place
            call.gen = self._new_gen()
            self._match_call(call, at, out)

    def _caller_left(self, ev: e.CallerHungUp, out: list[c.Command]) -> None:
        if callbacks.caller_gone(self, ev, out):
            return
        call = self._calls.pop(ev.call_id, None)
        if call is None:
            return
        if call.state is CallState.CONNECTED:
            assert call.agent_id is not None
            transfers.caller_left(self, call, ev.at, out)
            out.append(c.HangUpAgent(call.call_id, call.agent_id))
            self._finish_call(call, self._agents[call.agent_id], ev.at, out, "caller")
            return
        if call.state is CallState.WAITING:
            self._unindex(call)
        for agent_id in sorted(call.offered_to):
            agent = self._agents[agent_id]
            agent.call_id = None
            out.append(c.CancelOffer(call.call_id, agent_id, "caller-gone"))
            # The agent did nothing wrong: ready again in the same idle position.
            ag.end_offer(self, agent, AgentState.READY, None, ev.at, out, agent.idle_since)
        intake.ended(call, "abandoned", None, ev.at - call.arrived_at, 0.0, ev.at, out, "caller")

    def _agent_hung_up(self, ev: e.AgentHungUp, out: list[c.Command]) -> None:
        call = self._calls.get(ev.call_id)
        if call is not None and call.state is CallState.OFFERED:
            self._offer_failed(ev.call_id, ev.agent_id, "offer-rejected", ev.at, out)
            return
        if (call is None or call.state is not CallState.CONNECTED
                or transfers.agent_left(self, call, ev.agent_id, ev.at, out) or call.agent_id != ev.agent_id):
            return
        del self._calls[call.call_id]
        out.append(c.HangUpCaller(call.call_id, "agent-hung-up"))
        self._finish_call(call, self._agents[ev.agent_id], ev.at, out, "agent")

    def _finish_call(self, call: Call, agent: Agent, at: float, out: list[c.Command], by: str) -> None:
        waited, talked = transfers.totals(call, at)
        part = talked - call.parts_talk_s  # this agent's part (R13: the earlier ones were counted)
        agent.call_id = None
        agent.talk_time_s += part
        agent.calls_by_queue[call.queue] = agent.calls_by_queue.get(call.queue, 0) + 1
        queue = self._queues[call.queue]
        queue.handle_times.append(talked)
        intake.ended(call, "handled", agent.agent_id, waited, talked, at, out, by)
        if call.caller and self._sticky_window > 0:
            self._last_agent.pop(call.caller, None)
            self._last_agent[call.caller] = (agent.agent_id, at)
            while self._last_agent:
                _, (_, ended) = next(iter(self._last_agent.items()))
                if at - ended <= self._sticky_window:
                    break
                self._last_agent.popitem(last=False)
        ag.start_wrap_up(self, agent, queue.config, call.call_id, at, out)

    # ----------------------------------------------------------------- agents

    def _set_state(self, agent: Agent, state: AgentState, reason: str | None, at: float,
                   out: list[c.Command]) -> None:
        ag.set_state(agent, state, reason, at, self._queues, out)

    def _get_agent(self, agent_id: str) -> Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise UnknownAgent(agent_id)
        return agent


__all__ = ["AgentView", "CallView", "Engine", "satisfies"]
