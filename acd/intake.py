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
- Admission (``admit``): the queue that takes a new call is its own, or an overflow
  when it is long or full; a call every candidate refuses hears ``queue_full_prompt``.
  Emergencies (R8) are never refused. A repeat caller within the queue's window waits
  for its last agent first (R10, ``sticky_agent_for``; a ``STICKY`` timer ends that).
- ``PlanLevelChanged``: the plan level's actions, kept per queue (and in snapshots);
  standby agents are logged in when a level calls them and out when the plan ends.
- Every call that leaves the core after its recording started gets ``LabelRecording``.
"""

from __future__ import annotations

from typing import Protocol

from acd import callbacks, matching, presence
from acd import calls as cs
from acd import commands as c
from acd import events as e
from acd.center import Center
from acd.model import EMERGENCY_PRIORITY, MAX_PRIORITY, AgentState, PlanActions, QueueConfig, Route, skills
from acd.state import Call, Entering, Queue
from acd.timers import TimerKind


def call_entered(center: Center, ev: e.CallEntered, out: list[c.Command]) -> None:
    if center.has_call(ev.call_id) or center.in_ivr(ev.call_id) is not None:
        return  # a duplicate delivery changes nothing
    intake = center.intake
    out.append(c.AnswerCall(ev.call_id))
    if intake.record:
        out.append(c.StartRecording(ev.call_id, ev.caller))
    if ev.exten in intake.ivr_extensions:
        center.enter_ivr(ev.call_id, Entering(ev.caller, ev.node, ev.at, intake.record))
        out.append(c.StartIvr(ev.call_id, ev.caller))
        return
    route = intake.route(ev.exten)
    if intake.closed(route, ev.at):
        out.append(c.Farewell(ev.call_id, intake.after_hours_prompt, "after-hours"))
        if intake.record:
            out.append(c.LabelRecording(ev.call_id, route.queue, route.kind, None))
        return
    arrive(center, ev.call_id, ev.caller, route, ev.at, ev.node, intake.record, out)


def ivr_routed(center: Center, ev: e.IvrRouted, out: list[c.Command]) -> None:
    entering = center.leave_ivr(ev.call_id)
    if entering is None:
        return  # gone meanwhile, or a duplicate
    route = Route(ev.queue, ev.skills, ev.priority, ev.kind, ev.emergency)
    arrive(center, ev.call_id, entering.caller, route, ev.at, entering.node, entering.recorded, out)


def ivr_callback_requested(center: Center, ev: e.IvrCallbackRequested, out: list[c.Command]) -> None:
    entering = center.in_ivr(ev.call_id)
    if entering is not None:
        out.append(c.CallbackRequested(ev.call_id, entering.caller, ev.queue, ev.kind, ev.at))


def left_in_ivr(center: Center, call_id: str, out: list[c.Command]) -> bool:
    """The caller hung up (or was hung up) while in the IVR."""
    entering = center.leave_ivr(call_id)
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
    center: Center, call_id: str, caller: str, route: RouteLike, at: float, node: str,
    recorded: bool, out: list[c.Command],
) -> None:
    """A routed, answered caller starts waiting (or is refused)."""
    if center.has_call(call_id):
        return  # one record per call: a duplicate delivery changes nothing
    plan = None if route.emergency else center.plan(route.queue)
    queue = route.queue
    if plan is not None and plan.overflow_to is not None and center.find_queue(plan.overflow_to) is not None:
        out.append(c.CallOverflowed(call_id, route.queue, plan.overflow_to, "plan", at))
        queue = plan.overflow_to
    call = admit(center, call_id, queue, caller, route, at, node, recorded, out)
    if call is None:
        return
    if route.emergency:
        out.append(c.NotifyEmergency(call_id, caller, queue, route.kind, at))
        media = c.PlayWaitingMedia(call_id, (center.intake.emergency_prompt,), loop=True)
    else:
        prompts: tuple[str, ...] = ()
        if plan is not None and plan.announcement:
            prompts += (plan.announcement,)
        offer = callbacks.offered(center, queue, plan)
        if offer:
            prompts += (center.intake.callback_offer_prompt,)
        call.callback_offered = offer
        media = c.PlayWaitingMedia(call_id, prompts, offer_callback=offer)
    call.waiting_prompts, call.waiting_loop = media.prompts, media.loop
    out.append(media)
    queue_new(center, call, at, out)


def plan_level_changed(center: Center, ev: e.PlanLevelChanged, out: list[c.Command]) -> None:
    if center.find_queue(ev.queue) is None:
        return
    center.set_plan(ev.queue, None if ev.level is None else PlanActions(
        ev.level, ev.standby_agents, ev.overflow_to, ev.announcement, ev.offer_callbacks))
    out.append(c.PlanApplied(ev.queue, ev.level, ev.at))
    called = center.called_in(ev.queue)
    if ev.level is None:  # the standby agents go home (after their calls)
        center.set_called_in(ev.queue, ())
        for agent_id in called:
            if center.find_agent(agent_id) is not None:
                presence.request(center, agent_id, AgentState.LOGGED_OUT, None, ev.at, "log out", out)
        return
    new = tuple(a for a in ev.standby_agents
                if (agent := center.find_agent(a)) is not None and agent.state is AgentState.LOGGED_OUT)
    if new:
        center.set_called_in(ev.queue, called + new)
        for agent_id in new:
            presence.login(center, e.AgentLoggedIn(agent_id, ev.at), out)
        out.append(c.NotifyStandbyCallIn(ev.level, new, ev.at))


def admit(center: Center, call_id: str, queue_name: str, caller: str, route: RouteLike, at: float,
          node: str, recorded: bool, out: list[c.Command]) -> Call | None:
    """The call's record in the queue that takes it, or None (fallback, refused)."""
    queue = center.find_queue(queue_name)
    if queue is None:
        out.append(c.RouteToFallback(call_id, f"unknown queue {queue_name!r}"))
        if recorded:
            out.append(c.LabelRecording(call_id, queue_name, route.kind, None))
        return None
    seq = center.next_seq()
    priority = EMERGENCY_PRIORITY if route.emergency else max(0, min(route.priority, MAX_PRIORITY))
    requirement = skills(route.skills)
    call = Call(call_id, queue_name, caller, route.kind, priority, requirement, requirement,
                at, seq, at, node=node, recorded=recorded, emergency=route.emergency)
    target = _admitting(center, call, queue, at, out)
    if target is None:
        out.append(c.Farewell(call.call_id, center.intake.queue_full_prompt, "queue-full"))
        cs.ended(call, "rejected", None, 0.0, 0.0, at, out)
        return None
    call.queue = target.config.name
    center.add_call(call)
    return call


def queue_new(center: Center, call: Call, at: float, out: list[c.Command]) -> None:
    target = center.queue(call.queue)
    call.sticky_agent = sticky_agent_for(center, call, target.config, at)
    if call.sticky_agent is not None:
        center.arm(at + target.config.sticky_hold_s, TimerKind.STICKY, call.call_id, call.gen)
    matching.enter_queue(center, call, target, at, out)


def _admitting(center: Center, call: Call, queue: Queue, at: float, out: list[c.Command]) -> Queue | None:
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
        queue = center.queue(cfg.overflow_queue)
        call.queue = queue.config.name
    return None


def sticky_agent_for(center: Center, call: Call, queue: QueueConfig, at: float) -> str | None:
    """R10: a repeat caller within the window is held for their last agent."""
    if queue.sticky_window_s <= 0 or not call.caller:
        return None
    last = center.last_agent(call.caller)
    if last is None or at - last[1] > queue.sticky_window_s:
        return None
    agent = center.find_agent(last[0])
    if agent is None or queue.name not in agent.config.queues or agent.state is AgentState.LOGGED_OUT:
        return None
    return agent.agent_id


def call_arrived(center: Center, ev: e.CallArrived, out: list[c.Command]) -> None:
    """A call routed by the dialplan (no IVR): it arrives, once."""
    if not center.has_call(ev.call_id) and center.in_ivr(ev.call_id) is None:
        arrive(center, ev.call_id, ev.caller, ev, ev.at, ev.node, False, out)
