"""What happens when time passes: timers that fire, R1 ring timeouts, skill
relaxation, R10 hold ends and overflows.

Theory of operation
-------------------
``expire`` pops every timer due at the ``Tick``'s instant, skipping stale ones
(``timer_valid``: a timer carries the generation of what armed it). Timers that make a
call matchable again park it; at each new instant the parked calls are matched in
priority/FIFO order (``rematch``), so simultaneous timers never reorder a queue.
"""

from __future__ import annotations

from acd import commands as c
from acd import callbacks, holds, matching, outbound, presence, transfers
from acd.center import Center
from acd.model import RING_NO_ANSWER, UNWATCHED, AgentState, CallState
from acd.state import Agent, Call
from acd.timers import TimerKind

T = TimerKind


def timer_valid(center: Center, kind: TimerKind, key: str, gen: int) -> bool:
    if kind is T.WRAP:
        agent = center.agent(key)
        return agent.state is AgentState.WRAP_UP and agent.wrap_gen == gen
    if kind is T.OUTBOUND:
        return center.attempt_running(key)
    call = center.find_call(key)
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
            steps = center.queue(call.queue).config.relaxation
            return call.queue_gen == gen and call.relax_step < len(steps)
        case T.OVERFLOW:  # while not answered in the queue that armed it
            return call.queue_gen == gen and call.state in (CallState.WAITING, CallState.OFFERED)
        case T.DIAL:
            return callbacks.dial_timer_valid(call, gen)
        case T.RETRY:
            return callbacks.retry_timer_valid(call, gen)
        case T.CONSULT:
            return transfers.consult_timer_valid(call, gen)
    raise AssertionError(kind)


def expire(center: Center, at: float, out: list[c.Command], resumed: bool = False) -> None:
    # Timers that make calls matchable (ring timeout, relaxation, sticky end,
    # overflow) park those calls; at each new instant, and before a timer that
    # matches by itself (wrap-up end), the parked calls are matched in
    # priority/FIFO order, then agents kept ready by the RONA policy rejoin. So
    # simultaneous timers can never reorder the queue.
    # A tick that catches up (a restart, a take-over, a late tick) replays what fell
    # due at its own instant: an offer made while catching up is rung only now, so
    # its ring timeout counts from ``at`` (its generation is newer than ``armed``).
    armed = center.last_gen
    parked: list[Call] = []
    rejoin: list[tuple[Agent, float | None]] = []  # ready again after the calls (idle since)
    current: float | None = None
    while (head := center.next_timer()) is not None and head[0] <= at:
        due, kind, key, gen = head
        center.drop_timer()
        if not timer_valid(center, kind, key, gen):
            continue
        if kind in (T.WRAP, T.HOLD, T.OUTBOUND, T.DIAL, T.CONSULT) or due != current:
            rematch(center, parked, rejoin, at, out)
        current = due
        if kind is T.WRAP:
            presence.wrap_up_over(center, center.agent(key), due, out)
        elif kind is T.OUTBOUND:
            outbound.outbound_expired(center, key, due, at, out)
        elif kind is T.HOLD:
            holds.hold_overrun(center, center.call(key), at, out)
        elif kind is T.DIAL:
            callbacks.dial_expired(center, center.call(key), due, out)
        elif kind is T.CONSULT:
            transfers.consult_timed_out(center, center.call(key), at, out)
        elif kind is T.RETRY:
            callbacks.retry_due(center, center.call(key))
            parked.append(center.call(key))
        elif kind is T.OFFER:
            call = center.call(key)
            if gen > armed:  # offered while catching up: it has not rung yet
                center.arm(at + center.queue(call.queue).config.ring_timeout_s, T.OFFER, key, gen)
                continue
            if resumed:  # the agents keep their idle places
                rejoin += [(agent, agent.idle_since) for agent in withdraw_unwatched(center, call, out)]
            else:  # the agents kept ready go to the back
                rejoin += [(agent, None) for agent in ring_no_answer(center, call, at, out)]
            parked.append(call)
        elif kind is T.STICKY:
            # R10's hold for the last agent is over: any agent of the queue now.
            call = center.call(key)
            if call.pinned:  # R16: an agent's own call waits for that agent only
                if call.state is CallState.WAITING:
                    callbacks.pinned_not_taken(center, call, at, out)
                continue
            if call.state is CallState.WAITING:
                center.unindex(call)
                call.sticky_agent = None
                center.park(call)
                parked.append(call)
            else:
                call.sticky_agent = None
        elif kind is T.RELAX:
            call = center.call(key)
            if relax(center, call):
                parked.append(call)
        elif kind is T.OVERFLOW:
            call = center.call(key)
            cfg = center.queue(call.queue).config
            target = cfg.overflow_queue
            assert target is not None
            if target in call.visited:
                continue
            if call.state is CallState.OFFERED:  # ringing now: look again afterwards
                center.arm(at + cfg.ring_timeout_s, T.OVERFLOW, key, gen)
                continue
            center.unindex(call)
            call.visited += (call.queue,)
            out.append(c.CallOverflowed(call.call_id, call.queue, target, "waited-too-long", at))
            matching.enter_queue(center, call, center.queue(target), at, out, match=False)
            parked.append(call)
    rematch(center, parked, rejoin, at, out)


def rematch(center: Center, calls: list[Call], rejoin: list[tuple[Agent, float | None]], at: float,
            out: list[c.Command]) -> None:
    # Agents whose offer was taken back through no fault of theirs (an idle place
    # kept) are ready first, longest idle first, each taking the best call waiting;
    # then the calls are matched; then the agents the RONA policy keeps ready rejoin.
    for agent, idle_since in sorted((r for r in rejoin if r[1] is not None), key=lambda r: r[1] or 0.0):
        presence.end_offer(center, agent, AgentState.READY, None, at, out, idle_since)
    for call in sorted(calls, key=lambda k: k.order):
        if center.find_call(call.call_id) is call and call.state is CallState.WAITING:
            center.unindex(call)
            matching.match_call(center, call, at, out)
    calls.clear()
    for agent, idle_since in rejoin:
        if idle_since is None:
            presence.end_offer(center, agent, AgentState.READY, None, at, out)
    rejoin.clear()


def relax(center: Center, call: Call) -> bool:
    """Skill relaxation: widen the requirement. Returns whether the call now waits
    with a wider requirement (to be matched again)."""
    steps = center.queue(call.queue).config.relaxation
    step = steps[call.relax_step]
    call.relax_step += 1
    if call.relax_step < len(steps):
        due = call.entered_queue_at + steps[call.relax_step].after_s
        center.arm(due, T.RELAX, call.call_id, call.queue_gen)
    if call.state is not CallState.WAITING or call.sticky_agent is not None:
        call.requirement = step.apply(call.requirement)
        return False
    center.unindex(call)
    call.requirement = step.apply(call.requirement)
    center.park(call)
    return True


def withdraw_unwatched(center: Center, call: Call, out: list[c.Command]) -> list[Agent]:
    """An offer whose ring timeout ran out while no router was running: taken back
    with no miss counted (whether the phones rang, nobody saw); the call waits again
    at its original place. Returns the agents, to be ready again after the calls."""
    agents = [center.agent(agent_id) for agent_id in sorted(call.offered_to)]
    for agent in agents:
        agent.call_id = None
        out.append(c.CancelOffer(call.call_id, agent.agent_id, UNWATCHED))
    call.offered_to = set()
    call.gen = center.new_gen()
    center.park(call)
    return agents


def ring_no_answer(center: Center, call: Call, at: float, out: list[c.Command]) -> list[Agent]:
    """R1: the offer rang for the whole ring timeout: take it back; the call waits
    again at its original place (``expire`` matches it to the next agent at once).

    The RONA policy: ``rona_not_ready_after`` consecutive misses make the agent not
    ready, ``rona_logout_after`` log it out and alert a supervisor; below both the
    agent stays ready, rejoining at the back of the idle order after the call has
    found its next agent. Returns those agents."""
    cfg = center.queue(call.queue).config
    kept_ready: list[Agent] = []
    for agent_id in sorted(call.offered_to):
        agent = center.agent(agent_id)
        agent.consecutive_misses += 1
        agent.ring_no_answer_total += 1
        agent.call_id = None
        misses = agent.consecutive_misses
        out.append(c.CancelOffer(call.call_id, agent_id, RING_NO_ANSWER))
        out.append(c.RingNoAnswer(call.call_id, agent_id, misses, at))
        if cfg.rona_logout_after and misses >= cfg.rona_logout_after:
            out.append(c.SupervisorAlert(agent_id, f"logged out after {misses} missed offers", at))
            agent.pending = None
            center.set_agent_state(agent, AgentState.LOGGED_OUT, RING_NO_ANSWER, at, out)
        elif misses >= cfg.rona_not_ready_after:
            presence.end_offer(center, agent, AgentState.NOT_READY, RING_NO_ANSWER, at, out)
        else:
            kept_ready.append(agent)
    if call.sticky_agent in call.offered_to and not call.pinned:
        call.sticky_agent = None  # R10 prefers that agent, but it did not answer
    call.offered_to = set()
    call.gen = center.new_gen()
    center.park(call)
    return kept_ready
