"""R11 queued callbacks (virtual hold) and R2 on their dial-outs.

Theory of operation
-------------------
A waiting caller offered a callback presses the key: the call stays in its queue with
its original enqueue time, priority and sequence (it keeps its place) and is marked
``callback``; the caller hears the farewell and hangs up, and that hang-up ends
nothing. When the callback reaches the head and an agent is free it is offered to the
agent like any call (agent first: the agent answers before the customer is dialled).
Then

    waiting --offer--> offered --agent answers--> dialing (DialCustomer; R2 timer)
    dialing --customer answers--> connected (bridged and recorded like any call)
    dialing --line answers, machine detection on the trunk--> screening (the R2 timer is
        replaced by SCREENING_S) --a person--> connected; --a machine--> as not reached
    dialing --R2: outbound_max_rings x ring_cycle_s, or busy/rejected/unreachable-->
        retry (the agent is released, ready) --callback_retry_s--> waiting, same place
        ... after callback_max_attempts: the call ends, outcome "callback-unreached"

Each attempt's end is a ``CallbackAttempt`` notice (answered, no-answer, busy, ...).
The customer's channel takes the call's id, so bridging, recording and hang-up are
those of any call.
"""

from __future__ import annotations

from acd import calls as cs
from acd import commands as c
from acd import events as e
from acd import matching, presence
from acd.center import Center
from acd.model import AgentState, CallState, PlanActions
from acd.state import Call
from acd.timers import TimerKind

# R11: how long Asterisk's answering-machine detection may listen before the attempt
# is given up ("screening-timeout"): AMD decides within its total_analysis_time (5 s).
SCREENING_S = 15.0
# R16: how long an agent's own call (a complaint's feedback) waits for that agent's
# phone to be ready and take it.
PINNED_WAIT_S = 120.0


def outbound_queued(center: Center, ev: e.OutboundQueued, out: list[c.Command]) -> None:
    """A customer to call joins the queue (once: a repeated event changes nothing)."""
    queue = center.find_queue(ev.queue)
    if center.has_call(ev.call_id) or queue is None or not ev.number:
        return
    call = Call(ev.call_id, ev.queue, ev.number, ev.kind, min(ev.priority, -1), (), (), ev.at, center.next_seq(),
                ev.at, callback=True, outbound=True, max_attempts=max(1, ev.max_attempts))
    if ev.agent_id:  # R16: the agent's own call, for it only
        agent = center.find_agent(ev.agent_id)
        if agent is None or ev.queue not in agent.config.queues:
            return
        call.sticky_agent, call.pinned = ev.agent_id, True
        center.arm(ev.at + PINNED_WAIT_S, TimerKind.STICKY, call.call_id, call.gen)
    center.add_call(call)
    matching.enter_queue(center, call, queue, ev.at, out)


def pinned_not_taken(center: Center, call: Call, at: float, out: list[c.Command]) -> None:
    """R16: an agent's own call that its phone did not take in time ends unreached
    (the agent asks again)."""
    center.unindex(call)
    center.remove_call(call.call_id)
    cs.ended(call, "callback-unreached", None, at - call.arrived_at, 0.0, at, out)


def offered(center: Center, queue_name: str, plan: PlanActions | None) -> bool:
    """Whether a caller starting to wait in ``queue_name`` is offered a callback: at a
    plan level that offers them (R9), always, or above an expected wait."""
    queue = center.queue(queue_name)
    policy = queue.config.offer_callbacks
    if (plan is not None and plan.offer_callbacks) or policy == "always":
        return True
    if policy != "above-wait" or not queue.handle_times:
        return False
    aht = sum(queue.handle_times) / len(queue.handle_times)
    staffed = sum(1 for aid in queue.positions
                  if center.agent(aid).state not in (AgentState.LOGGED_OUT, AgentState.NOT_READY))
    return (len(queue.waiting) + 1) * aht / max(1, staffed) >= queue.config.callback_above_wait_s


def chose(center: Center, ev: e.CallerChoseCallback, out: list[c.Command]) -> None:
    """A waiting caller offered a callback pressed the key: it keeps its place; the
    caller may hang up."""
    call = center.find_call(ev.call_id)
    if call is None or call.state is not CallState.WAITING or not call.callback_offered:
        return
    at = ev.at
    call.callback = True
    call.callback_number = ev.number
    call.callback_offered = False
    out.append(c.CallbackRequested(call.call_id, call.callback_number or call.caller, call.queue, call.kind, at))
    out.append(c.Farewell(call.call_id, center.intake.callback_taken_prompt, "callback-taken"))


def caller_gone(center: Center, ev: e.CallerHungUp, out: list[c.Command]) -> bool:
    """A callback's channel went: the original caller (nothing ends), or the customer
    before answering (not reached). False: an ordinary hang-up, for the engine."""
    call = center.find_call(ev.call_id)
    if call is None or not call.callback or call.state is CallState.CONNECTED:
        return False
    if call.state is CallState.DIALING:
        not_reached(center, call, "hung-up", ev.at, out)
    return True


def dial(center: Center, call: Call, agent_id: str, at: float, out: list[c.Command]) -> None:
    """The agent took the callback: dial the customer, at most R2's ring time."""
    cfg = center.queue(call.queue).config
    assert call.state is CallState.DIALING  # (set by the answer: agent first)
    call.attempts += 1
    call.dial_gen = center.new_gen()
    call.dialed_at = at
    call.screened_at = None
    center.arm(at + cfg.outbound_ring_timeout_s, TimerKind.DIAL, call.call_id, call.dial_gen)
    out.append(c.DialCustomer(call.call_id, call.callback_number or call.caller, agent_id,
                              cfg.outbound_ring_timeout_s, call.attempts))


def customer_answered(center: Center, ev: e.CustomerAnswered, out: list[c.Command]) -> None:
    call = center.find_call(ev.call_id)
    if call is None or call.state is not CallState.DIALING or call.agent_id is None:
        out.append(c.HangUpCaller(ev.call_id, "callback-no-longer-dialled"))
        return
    rang = (call.screened_at or ev.at) - (call.dialed_at or ev.at)
    cs.set_state(call, CallState.CONNECTED)
    call.answered_at = ev.at
    call.bridged = True
    call.dial_gen = center.new_gen()
    out.append(c.CallbackAttempt(call.call_id, call.queue, call.attempts, "answered", rang, ev.at))
    if center.intake.record:  # R4: the conversation is recorded like any call, in a file of its own
        call.recorded = True
        out.append(c.StartRecording(call.call_id, call.callback_number or call.caller,
                                    "" if call.outbound else f"{call.call_id}-callback"))
    out.append(c.ConnectCall(call.call_id, call.agent_id))


def screening(center: Center, ev: e.CustomerScreening) -> None:
    """The customer's line answered: the ringing (R2) is over; detection gets SCREENING_S."""
    call = center.find_call(ev.call_id)
    if call is None or call.state is not CallState.DIALING or call.screened_at is not None:
        return
    call.screened_at = ev.at
    call.dial_gen = center.new_gen()
    center.arm(ev.at + SCREENING_S, TimerKind.DIAL, call.call_id, call.dial_gen)


def customer_not_reached(center: Center, ev: e.CustomerNotReached, out: list[c.Command]) -> None:
    call = center.find_call(ev.call_id)
    if call is not None and call.state is CallState.DIALING:
        not_reached(center, call, ev.reason, ev.at, out)


def dial_expired(center: Center, call: Call, at: float, out: list[c.Command]) -> None:
    """R2: the customer rang the maximum: hang up, recorded as no-answer (or the
    machine detection took too long: screening-timeout)."""
    screened = call.screened_at is not None
    out.append(c.HangUpCaller(call.call_id, "screening timeout" if screened else "R2 ring cap"))
    not_reached(center, call, "screening-timeout" if screened else "no-answer", at, out)


def dial_timer_valid(call: Call, gen: int) -> bool:
    return call.state is CallState.DIALING and call.dial_gen == gen


def not_reached(center: Center, call: Call, reason: str, at: float, out: list[c.Command]) -> None:
    """The attempt failed: the agent is free again (no fault of theirs); the callback
    tries again later in its place, or ends after its last attempt."""
    assert call.agent_id is not None
    cfg = center.queue(call.queue).config
    agent = center.agent(call.agent_id)
    out.append(c.HangUpAgent(call.call_id, agent.agent_id))
    agent.call_id = None
    call.agent_id = None
    call.dial_gen = center.new_gen()
    rang = (call.screened_at or at) - (call.dialed_at or at)
    presence.leave_call(center, agent, at, out)
    if call.attempts < (call.max_attempts or cfg.callback_max_attempts):
        cs.set_state(call, CallState.RETRY)
        call.gen = center.new_gen()
        next_at = at + cfg.callback_retry_s
        center.arm(next_at, TimerKind.RETRY, call.call_id, call.gen)
        out.append(c.CallbackAttempt(call.call_id, call.queue, call.attempts, reason, rang, at, next_at))
    else:
        out.append(c.CallbackAttempt(call.call_id, call.queue, call.attempts, reason, rang, at))
        center.remove_call(call.call_id)
        cs.ended(call, "callback-unreached", None, at - call.arrived_at, 0.0, at, out)


def retry_timer_valid(call: Call, gen: int) -> bool:
    return call.state is CallState.RETRY and call.gen == gen


def retry_due(center: Center, call: Call) -> None:
    """The next attempt: the callback waits again at its original place."""
    center.park(call)
