"""The routing core: callers wait in queues, agents take them.

Theory of operation
-------------------
``Engine.handle(event)`` applies one event and returns the commands it implies
(``acd.commands``: call actions, notifications, notices). It does no I/O and reads no
clock: time arrives inside each event, and ``next_deadline()`` tells the adapter when
to send the next ``Tick``. Replaying the same events rebuilds the same state, and
``snapshot``/``restore`` save it.

The state has one owner, ``acd.center.Center`` (calls, agents, queues, timers,
indexes, with their operations); calls and agents change state through their tables
(``acd.calls``, ``acd.agents``). This module only dispatches each event to the rule
module that handles it and gives the adapters read-only views. The rule modules, one
per rule family, never import this one:
  ``intake`` (before a call waits: IVR, recording, admission, R8, R9, R10),
  ``matching`` (who takes a call), ``answers`` (offers answered or failed, hang-ups),
  ``presence`` (agents' requests, wrap-up, phones), ``timeouts`` (what happens when
  time passes), ``holds`` (R3), ``outbound`` (R2), ``callbacks`` (R11),
  ``transfers`` (transfers and the engine's holds).

Where each rule lives:
  R1 ring timeout, RONA ....... matching.offer, timeouts.ring_no_answer
  R2 outbound ring cap ........ outbound.outbound_started / outbound_expired
  R3 hold limit ............... holds.hold_started / hold_overrun
  R4 record every call ........ intake.call_entered (StartRecording), calls.ended
  R8 emergencies first ........ intake.arrive, intake.admit (never refused/moved)
  R9 plan actions ............. intake.plan_level_changed, intake.arrive
  R10 sticky agent ............ intake.sticky_agent_for, TimerKind.STICKY
  R11 callbacks ............... callbacks (agent first, R2 on the dial-out, retries)
  R11 campaigns ............... campaigns (pacing, do-not-call, retries of the lists)
  R12 wrap-up by disposition .. presence.disposition_recorded
  R15 agent id announced ...... answers.offer_answered (AnnounceAgent)
  R17 survey after the call ... answers.agent_hung_up (StartSurvey), answers.survey_ended
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from acd import answers, callbacks, campaigns, holds, intake, outbound, presence, transfers
from acd import commands as c
from acd import events as e
from acd import timeouts as to
from acd.center import Center
from acd.errors import UnknownEvent
from acd.model import AgentConfig, AgentState, CallState, Intake, PlanActions, QueueConfig
from acd.routing import satisfies
from acd.state import AgentView, CallView


class Engine:
    def __init__(
        self, queues: Iterable[QueueConfig], agents: Iterable[AgentConfig],
        intake: Intake | None = None, *, saved: dict[str, Any] | None = None,
    ) -> None:
        """``saved``: a ``snapshot`` to start from (``restore``)."""
        self._center = Center(queues, agents, intake)
        if saved is not None:
            self._center.load(saved)
        self._handlers = self._dispatch_table()

    @property
    def intake(self) -> Intake:
        return self._center.intake

    # ----------------------------------------------------------------- reading

    def agent(self, agent_id: str) -> AgentView:
        return AgentView.of(self._center.agent(agent_id))

    def agents(self) -> list[AgentView]:
        return [AgentView.of(a) for a in self._center.agents()]

    def queue_configs(self) -> list[QueueConfig]:
        return [q.config for q in self._center.queues.values()]

    def calls(self) -> list[CallView]:
        return [CallView.of(k) for k in self._center.calls()]

    def in_ivr(self) -> int:
        """How many answered callers are in the IVR (known, not queued yet)."""
        return self._center.in_ivr_count()

    def plan(self, queue: str) -> PlanActions | None:
        """R9: the actions of the plan level the core applies to ``queue`` now."""
        return self._center.plan(queue)

    def position(self, call_id: str) -> int | None:
        """1-based place of a waiting call in its queue (for announcements)."""
        call = self._center.find_call(call_id)
        if call is None or call.state is not CallState.WAITING:
            return None
        return self._center.queue(call.queue).waiting.ahead_of(call_id) + 1

    def expected_wait_s(self, call_id: str) -> float | None:
        """Expected wait from the queue's recent handle times and its staffed agents."""
        place = self.position(call_id)
        if place is None:
            return None
        queue = self._center.queue(self._center.call(call_id).queue)
        if not queue.handle_times:
            return None
        aht = sum(queue.handle_times) / len(queue.handle_times)
        staffed = sum(1 for aid in queue.positions if self._center.agent(aid).state
                      not in (AgentState.LOGGED_OUT, AgentState.NOT_READY))
        return place * aht / max(1, staffed)

    def outbound_capacity(self, queue: str) -> int:
        """R11: how many customers of ``queue`` a campaign may hand over now (``campaigns``)."""
        return campaigns.capacity(self._center, queue)

    def next_deadline(self) -> float | None:
        """When the next ``Tick`` is due."""
        center = self._center
        while (head := center.next_timer()) is not None:
            at, kind, key, gen = head
            if to.timer_valid(center, kind, key, gen):
                return at
            center.drop_timer()
        return None

    # ----------------------------------------------------------------- snapshot

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-ready data; ``restore`` rebuilds an equal engine."""
        center = self._center
        return center.save(lambda kind, key, gen: to.timer_valid(center, kind, key, gen))

    @classmethod
    def restore(cls, queues: Iterable[QueueConfig], agents: Iterable[AgentConfig],
                data: dict[str, Any], intake: Intake | None = None) -> Engine:
        """An engine in exactly the state ``snapshot`` saved (same configuration)."""
        return cls(queues, agents, intake, saved=data)

    # ----------------------------------------------------------------- events

    def handle(self, event: e.Event) -> list[c.Command]:
        out: list[c.Command] = []
        self.handle_into(event, out)
        return out

    def event_types(self) -> frozenset[type]:
        """The kinds of events the core handles (any other is refused: ``UnknownEvent``)."""
        return frozenset(self._handlers)

    def handle_into(self, event: e.Event, out: list[c.Command]) -> None:
        handler = self._handlers.get(type(event))
        if handler is None:
            raise UnknownEvent(type(event).__name__)
        handler(event, out)

    def _dispatch_table(self) -> dict[type, Callable[[Any, list[c.Command]], None]]:
        """Event type -> what handles it (one dict lookup per event; ``partial`` where
        the handler takes the event whole: one call less than a lambda)."""
        k = self._center
        S = AgentState
        return {
            e.Tick: lambda ev, out: to.expire(k, ev.at, out, ev.resumed),
            e.DispositionRecorded: partial(presence.disposition_recorded, k),
            e.CustomerAnswered: partial(callbacks.customer_answered, k),
            e.OutboundQueued: partial(callbacks.outbound_queued, k),
            e.CustomerNotReached: partial(callbacks.customer_not_reached, k),
            e.CustomerScreening: lambda ev, out: callbacks.screening(k, ev),
            e.CallEntered: partial(intake.call_entered, k),
            e.IvrRouted: partial(intake.ivr_routed, k),
            e.IvrCallbackRequested: partial(intake.ivr_callback_requested, k),
            e.PlanLevelChanged: partial(intake.plan_level_changed, k),
            e.CallArrived: partial(intake.call_arrived, k),
            e.OfferAnswered: partial(answers.offer_answered, k),
            e.OfferFailed: lambda ev, out: answers.offer_failed(k, ev.call_id, ev.agent_id, ev.reason, ev.at, out),
            e.CallerHungUp: partial(answers.caller_hung_up, k),
            e.AgentHungUp: partial(answers.agent_hung_up, k),
            e.SurveyEnded: answers.survey_ended,
            e.CallerChoseCallback: partial(callbacks.chose, k),
            e.AnnouncementFinished: partial(answers.announcement_finished, k),
            e.HoldStarted: lambda ev, out: holds.hold_started(k, ev),
            e.HoldEnded: lambda ev, out: holds.hold_ended(k, ev),
            e.OutboundStarted: lambda ev, out: outbound.outbound_started(k, ev),
            e.OutboundAnswered: lambda ev, out: outbound.outbound_ended(k, ev.attempt_id),
            e.OutboundEnded: lambda ev, out: outbound.outbound_ended(k, ev.attempt_id),
            e.AgentLoggedIn: partial(presence.login, k),
            e.AgentLoggedOut: lambda ev, out: presence.request(k, ev.agent_id, S.LOGGED_OUT, None, ev.at, "log out", out),
            e.AgentReady: lambda ev, out: presence.request(k, ev.agent_id, S.READY, None, ev.at, "get ready", out),
            e.AgentPaused: lambda ev, out: presence.request(k, ev.agent_id, S.NOT_READY, ev.reason, ev.at, "pause", out),
            e.AgentReachable: partial(presence.reachable, k),
            **transfers.handlers(k),
        }


__all__ = ["AgentView", "CallView", "Engine", "satisfies"]
