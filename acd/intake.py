"""How a call is treated from the moment it reaches the engine until it waits in a
queue, the same whichever way it came (direct route, IVR, re-queue, overflow).

Theory of operation
-------------------
- ``CallEntered``: the caller is answered and, with ``Intake.record``, recorded from
  that moment (R4). An IVR extension starts the IVR (the call is *entering*: known,
  not queued); any other extension goes straight to its route.
- ``IvrRouted``: the IVR's choice; the call then arrives like a direct one.
- Arrival (``arrive``), the one place where a routed call's treatment is decided:
  an emergency (R8) gets the top priority, the safety instructions in a loop while it
  waits and an emergency notification at once, and is never moved by a plan; any
  other call of a queue with an active plan level (R9) overflows where the level says,
  hears its incident announcement before the music, and may be offered a callback.
- ``PlanLevelChanged``: the plan level's actions, kept per queue (and in snapshots);
  standby agents are logged in when a level calls them and out when the plan ends.
- Every call that leaves the core after its recording started gets ``LabelRecording``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from acd import callbacks
from acd import commands as c
from acd import events as e
from acd.model import AgentState, PlanActions, Route
from acd.state import Call, Entering

if TYPE_CHECKING:
    from acd.engine import Engine


def call_entered(eng: Engine, ev: e.CallEntered, out: list[c.Command]) -> None:
    if ev.call_id in eng._calls or ev.call_id in eng._entering:
        return  # a duplicate delivery changes nothing
    intake = eng.intake
    out.append(c.AnswerCall(ev.call_id))
    if intake.record:
        out.append(c.StartRecording(ev.call_id, ev.caller))
    if ev.exten in intake.ivr_extensions:
        eng._entering[ev.call_id] = Entering(ev.caller, ev.node, ev.at, intake.record)
        out.append(c.StartIvr(ev.call_id, ev.caller))
        return
    route = intake.route(ev.exten)
    if intake.closed(route, ev.at):
        out.append(c.Farewell(ev.call_id, intake.after_hours_prompt, "after-hours"))
        if intake.record:
            out.append(c.LabelRecording(ev.call_id, route.queue, route.kind, None))
        return
    arrive(eng, ev.call_id, ev.caller, route, ev.at, ev.node, intake.record, out)


def ivr_routed(eng: Engine, ev: e.IvrRouted, out: list[c.Command]) -> None:
    entering = eng._entering.pop(ev.call_id, None)
    if entering is None:
        return  # gone meanwhile, or a duplicate
    route = Route(ev.queue, ev.skills, ev.priority, ev.kind, ev.emergency)
    arrive(eng, ev.call_id, entering.caller, route, ev.at, entering.node, entering.recorded, out)


def ivr_callback_requested(eng: Engine, ev: e.IvrCallbackRequested, out: list[c.Command]) -> None:
    entering = eng._entering.get(ev.call_id)
    if entering is not None:
        out.append(c.CallbackRequested(ev.call_id, entering.caller, ev.queue, ev.kind, ev.at))


def left_in_ivr(eng: Engine, call_id: str, out: list[c.Command]) -> bool:
    """The caller hung up (or was hung up) while in the IVR."""
    entering = eng._entering.pop(call_id, None)
    if entering is None:
        return False
    if entering.recorded:
        out.append(c.LabelRecording(call_id, "", "", None))
    return True


class RouteLike(Protocol):
    """A ``Route``, or a ``CallArrived`` event, which carries the same fields."""

    @property
    def queue(self) -> str: ...
    @property
    def skills(self) -> tuple[tuple[str, int], ...]: ...
    @property
    def priority(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def emergency(self) -> bool: ...


def arrive(
    eng: Engine, call_id: str, caller: str, route: RouteLike, at: float, node: str,
    recorded: bool, out: list[c.Command],
) -> None:
    """A routed, answered caller starts waiting (or is refused)."""
    if call_id in eng._calls:
        return  # one record per call: a duplicate delivery changes nothing
    plan = None if route.emergency else eng._plans.get(route.queue)
    queue = route.queue
    if plan is not None and plan.overflow_to is not None and plan.overflow_to in eng._queues:
        out.append(c.CallOverflowed(call_id, route.queue, plan.overflow_to, "plan", at))
        queue = plan.overflow_to
    call = eng._admit_new(call_id, queue, caller, route, at, node, recorded, out)
    if call is None:
        return
    if route.emergency:
        out.append(c.NotifyEmergency(call_id, caller, queue, route.kind, at))
        media = c.PlayWaitingMedia(call_id, (eng.intake.emergency_prompt,), loop=True)
    else:
        prompts: tuple[str, ...] = ()
        if plan is not None and plan.announcement:
            prompts += (plan.announcement,)
        offer = callbacks.offered(eng, queue, plan)
        if offer:
            prompts += (eng.intake.callback_offer_prompt,)
        call.callback_offered = offer
        media = c.PlayWaitingMedia(call_id, prompts, offer_callback=offer)
    call.waiting_prompts, call.waiting_loop = media.prompts, media.loop
    out.append(media)
    eng._queue_new(call, at, out)


def ended(call: Call, outcome: str, agent_id: str | None, waited: float, talked: float,
          at: float, out: list[c.Command], ended_by: str = "") -> None:
    """The call leaves the core: the notice, and the label of its recording."""
    held = call.held_s + (max(0.0, at - call.hold_since) if call.hold_since is not None else 0.0)
    out.append(c.CallEnded(call.call_id, outcome, agent_id, waited, talked, at, call.queue,
                           call.caller, call.kind, call.emergency, call.arrived_at, held, ended_by))
    if call.recorded:  # (a return visit: recorded from the customer's answer, under its own id)
        out.append(c.LabelRecording(call.call_id, call.queue, call.kind, agent_id))
        if call.callback and not call.outbound and call.answered_at is not None:  # R11: the conversation's own file
            out.append(c.LabelRecording(f"{call.call_id}-callback", call.queue, call.kind, agent_id))


def plan_level_changed(eng: Engine, ev: e.PlanLevelChanged, out: list[c.Command]) -> None:
    if ev.queue not in eng._queues:
        return
    if ev.level is None:
        eng._plans.pop(ev.queue, None)
    else:
        eng._plans[ev.queue] = PlanActions(ev.level, ev.standby_agents, ev.overflow_to,
                                           ev.announcement, ev.offer_callbacks)
    out.append(c.PlanApplied(ev.queue, ev.level, ev.at))
    called = eng._called_in.get(ev.queue, ())
    if ev.level is None:  # the standby agents go home (after their calls)
        eng._called_in.pop(ev.queue, None)
        for agent_id in called:
            if agent_id in eng._agents:
                eng.handle_into(e.AgentLoggedOut(agent_id, ev.at), out)
        return
    new = tuple(a for a in ev.standby_agents
                if a in eng._agents and eng._agents[a].state is AgentState.LOGGED_OUT)
    if new:
        eng._called_in[ev.queue] = called + new
        for agent_id in new:
            eng.handle_into(e.AgentLoggedIn(agent_id, ev.at), out)
        out.append(c.NotifyStandbyCallIn(ev.level, new, ev.at))
