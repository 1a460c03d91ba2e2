"""Transfers (blind and attended) and holds the agent asks for.

Theory of operation
-------------------
A connected call is transferred by its agent (desk, API, or the phone's REFER) to
another agent, to a queue, or to an external number.

- **Blind**: the agent's part ends at once (``CallTransferred``, the agent goes to
  wrap-up and its leg is dropped). To an agent: the call is offered to that agent
  (R1's ring timeout of the call's queue); if it does not answer, the call waits in
  its queue again at its original place. To a queue: the call waits there with its
  priority, kind and original arrival time (its place), like an overflow. To a
  number: the caller is bridged with the number through the trunk and the call
  leaves the core (handled; the agent's part is the whole of it).
- **Attended** (to an agent): the engine holds the caller (R3's timer runs), the
  target is offered the call; when it answers it talks with the agent (the caller
  still on hold). ``TransferCompleted`` (or the agent hanging up) joins caller and
  target and ends the agent's part; ``TransferCancelled``, the target hanging up or
  not answering returns the caller to the agent. The transferring agent hanging up
  while the target still rings makes it a blind transfer.

R13: each agent's part (talk and hold from its answer to its leaving) is credited to
that agent: ``CallTransferred`` carries the earlier parts, ``CallEnded`` the whole
call (``waited_s`` to the first answer, ``talked_s`` every part).
R4: the recording is the caller's channel: it goes on through every transfer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from acd import agents as ag
from acd import calls as cs
from acd import commands as c
from acd import events as e
from acd import holds, matching, presence
from acd.center import Center
from acd.errors import TransferRefused
from acd.model import AgentState, CallState
from acd.state import Agent, Call
from acd.timers import TimerKind

KINDS = ("agent", "queue", "external")


def handlers(center: Center) -> dict[type, Callable[[Any, list[c.Command]], None]]:
    """The core's handlers of the agents' transfer and hold requests."""
    return {
        e.TransferRequested: lambda ev, out: requested(center, ev, out),
        e.TransferCompleted: lambda ev, out: completed(center, ev, out),
        e.TransferCancelled: lambda ev, out: cancelled(center, ev, out),
        e.HoldRequested: lambda ev, out: hold_requested(center, ev, out),
    }


def _connected(center: Center, call_id: str, agent_id: str) -> Call:
    call = center.find_call(call_id)
    if call is None or call.state is not CallState.CONNECTED or call.agent_id != agent_id:
        raise TransferRefused(f"call {call_id!r} is not connected to agent {agent_id!r}")
    return call


def _settled(center: Center, call_id: str, agent_id: str) -> Call:
    """The agent's call, bridged, with no transfer going on (what a transfer or a hold
    starts from)."""
    call = _connected(center, call_id, agent_id)
    if call.consult:
        raise TransferRefused(f"call {call_id!r} already has a transfer going on")
    if not call.bridged:
        raise TransferRefused(f"call {call_id!r} is not bridged yet")
    return call


def requested(center: Center, ev: e.TransferRequested, out: list[c.Command]) -> None:
    call = _settled(center, ev.call_id, ev.agent_id)
    if ev.to not in KINDS:
        raise TransferRefused(f"a transfer goes to one of {list(KINDS)}, not {ev.to!r}")
    target: Agent | None = None
    if ev.to == "agent":
        target = center.find_agent(ev.target)
        if target is None or target is center.agent(ev.agent_id):
            raise TransferRefused(f"no other agent {ev.target!r}")
        if not ag.available(target):
            raise TransferRefused(f"agent {ev.target!r} is not ready for a call")
    elif ev.to == "queue" and center.find_queue(ev.target) is None:
        raise TransferRefused(f"no queue {ev.target!r}")
    elif ev.to == "external" and not ev.target:
        raise TransferRefused("no number to transfer to")
    if ev.attended:
        if target is None:
            raise TransferRefused("an attended transfer goes to an agent")
        _consult(center, call, target, ev.at, out)
        return
    agent = center.agent(ev.agent_id)
    _part_ends(center, call, agent, ev.to, ev.target, False, ev.at, out)
    out.append(c.HangUpAgent(call.call_id, agent.agent_id))
    if ev.to == "external":
        center.remove_call(call.call_id)
        out.append(c.TransferOut(call.call_id, ev.target))
        waited = (call.first_answered_at or ev.at) - call.arrived_at
        cs.ended(call, "handled", None, waited, call.parts_talk_s, ev.at, out, "transfer")
        return
    _rewait(center, call, ev.at, out)
    if target is not None:
        _offer_to(center, call, target, ev.at, out)
    else:
        matching.enter_queue(center, call, center.queue(ev.target), ev.at, out)


def _rewait(center: Center, call: Call, at: float, out: list[c.Command]) -> None:
    """The caller, without an agent again, hears music."""
    call.agent_id = None
    call.answered_at = None
    call.bridged = False
    call.sticky_agent = None
    call.waiting_prompts, call.waiting_loop = (), False
    holds.hold_ended(center, e.HoldEnded(call.call_id, at))
    call.engine_hold = False
    out.append(c.PlayWaitingMedia(call.call_id))


def _offer_to(center: Center, call: Call, agent: Agent, at: float, out: list[c.Command]) -> None:
    """Offer the call to one named agent (outside the queue's strategy)."""
    cfg = center.queue(call.queue).config
    cs.set_state(call, CallState.OFFERED)
    call.offered_to = {agent.agent_id}
    call.gen = center.new_gen()
    center.arm(at + cfg.ring_timeout_s, TimerKind.OFFER, call.call_id, call.gen)
    agent.call_id = call.call_id
    center.set_agent_state(agent, AgentState.OFFERED, None, at, out)
    out.append(ag.offer(call, agent, cfg.ring_timeout_s))


def _part_ends(center: Center, call: Call, agent: Agent, to: str, target: str, attended: bool, at: float,
               out: list[c.Command]) -> None:
    """The agent's part of the call is over: counted for it (R13), then wrap-up."""
    assert call.answered_at is not None
    talked = max(0.0, at - call.answered_at)
    held = call.held_s - call.parts_held_s + (max(0.0, at - call.hold_since) if call.hold_since is not None else 0.0)
    out.append(c.CallTransferred(call.call_id, agent.agent_id, to, target, attended, talked, held, at, call.queue))
    call.parts_talk_s += talked
    call.parts_held_s += held
    agent.call_id = None
    agent.talk_time_s += talked
    agent.calls_by_queue[call.queue] = agent.calls_by_queue.get(call.queue, 0) + 1
    presence.start_wrap_up(center, agent, center.queue(call.queue).config, call.call_id, at, out)


def _consult(center: Center, call: Call, target: Agent, at: float, out: list[c.Command]) -> None:
    call.consult = target.agent_id
    call.consult_answered = False
    call.consult_gen = center.new_gen()
    hold(center, call, True, at, out)
    cfg = center.queue(call.queue).config
    center.arm(at + cfg.ring_timeout_s, TimerKind.CONSULT, call.call_id, call.consult_gen)
    target.call_id = call.call_id
    center.set_agent_state(target, AgentState.OFFERED, None, at, out)
    out.append(ag.offer(call, target, cfg.ring_timeout_s))


def hold(center: Center, call: Call, on: bool, at: float, out: list[c.Command]) -> None:
    """The engine holds the caller (``on``) or brings it back (R3 times it)."""
    if on and not call.engine_hold:
        call.engine_hold = True
        out.append(c.HoldCaller(call.call_id))
        holds.hold_started(center, e.HoldStarted(call.call_id, at))
    elif not on and call.engine_hold:
        call.engine_hold = False
        out.append(c.TakeOffHold(call.call_id))
        holds.hold_ended(center, e.HoldEnded(call.call_id, at))


def hold_requested(center: Center, ev: e.HoldRequested, out: list[c.Command]) -> None:
    hold(center, _settled(center, ev.call_id, ev.agent_id), ev.hold, ev.at, out)


def consult_answered(center: Center, call: Call, agent_id: str, at: float, out: list[c.Command]) -> bool:
    """``OfferAnswered`` of a connected call: the consulted agent answered (True), or
    not a consult of this call (False: the core hangs the leg up)."""
    if call.consult != agent_id or call.consult_answered:
        return False
    call.consult_answered = True
    call.consult_gen = center.new_gen()
    target = center.agent(agent_id)
    target.consecutive_misses = 0
    center.set_agent_state(target, AgentState.ON_CALL, None, at, out)
    out.append(c.ConnectConsult(call.call_id, agent_id))
    return True


def completed(center: Center, ev: e.TransferCompleted, out: list[c.Command]) -> None:
    call = _connected(center, ev.call_id, ev.agent_id)
    if not call.consult:
        raise TransferRefused(f"call {ev.call_id!r} has no transfer going on")
    if not call.consult_answered:
        raise TransferRefused(f"agent {call.consult!r} has not answered yet")
    _complete(center, call, ev.at, out)


def _complete(center: Center, call: Call, at: float, out: list[c.Command]) -> None:
    agent = center.agent(call.agent_id or "")
    target = center.agent(call.consult)
    _part_ends(center, call, agent, "agent", target.agent_id, True, at, out)
    out.append(c.DropAgentLeg(call.call_id, agent.agent_id))
    call.consult, call.consult_answered = "", False
    call.agent_id = target.agent_id
    call.answered_at = at
    target.call_id = call.call_id
    hold(center, call, False, at, out)


def cancelled(center: Center, ev: e.TransferCancelled, out: list[c.Command]) -> None:
    call = _connected(center, ev.call_id, ev.agent_id)
    if not call.consult:
        raise TransferRefused(f"call {ev.call_id!r} has no transfer going on")
    consult_over(center, call, "transfer-cancelled", ev.at, out)


def consult_over(center: Center, call: Call, why: str, at: float, out: list[c.Command]) -> None:
    """The consult ends without a transfer: the caller back to the agent, the
    consulted agent free again (``why``: cancelled, its hang-up, its phone failed)."""
    target = center.agent(call.consult)
    answered = call.consult_answered
    call.consult, call.consult_answered = "", False
    call.consult_gen = center.new_gen()
    target.call_id = None
    if answered:
        out.append(c.DropAgentLeg(call.call_id, target.agent_id))
        presence.leave_call(center, target, at, out)
    else:
        out.append(c.CancelOffer(call.call_id, target.agent_id, why))
        state = AgentState.READY if why in ("transfer-cancelled", "caller-gone", "deadline") else AgentState.NOT_READY
        presence.end_offer(center, target, state, None if state is AgentState.READY else why, at, out,
                     target.idle_since if state is AgentState.READY else None)
    if center.has_call(call.call_id):
        hold(center, call, False, at, out)


def consult_failed(center: Center, call: Call, agent_id: str, reason: str, at: float, out: list[c.Command]) -> bool:
    """The consulted agent's leg ended (``OfferFailed``/``AgentHungUp``) or did not
    answer in time: the caller returns. False: not this call's consult."""
    if call.consult != agent_id:
        return False
    consult_over(center, call, reason, at, out)
    return True


def consult_timed_out(center: Center, call: Call, at: float, out: list[c.Command]) -> None:
    """R1: the consulted agent did not answer within the ring timeout."""
    target = center.agent(call.consult)
    target.consecutive_misses += 1
    target.ring_no_answer_total += 1
    out.append(c.RingNoAnswer(call.call_id, target.agent_id, target.consecutive_misses, at))
    consult_over(center, call, "ring-no-answer", at, out)


def consult_timer_valid(call: Call, gen: int) -> bool:
    return bool(call.consult) and not call.consult_answered and call.consult_gen == gen


def agent_left(center: Center, call: Call, agent_id: str, at: float, out: list[c.Command]) -> bool:
    """An agent's leg of a connected call with a consult ended. True when handled
    here: the consulted agent left (the caller returns), or the transferring agent
    left (the transfer completes, or, the target still ringing, becomes blind)."""
    if not call.consult:
        return False
    if agent_id == call.consult:
        consult_over(center, call, "hung-up", at, out)
        return True
    if agent_id != call.agent_id:
        return False
    if call.consult_answered:
        _complete(center, call, at, out)
        return True
    target = center.agent(call.consult)
    agent = center.agent(agent_id)
    _part_ends(center, call, agent, "agent", target.agent_id, False, at, out)
    call.consult, call.consult_answered = "", False
    call.consult_gen = center.new_gen()
    out.append(c.DropAgentLeg(call.call_id, agent_id))
    _rewait(center, call, at, out)
    cfg = center.queue(call.queue).config
    cs.set_state(call, CallState.OFFERED)  # it rings there already: the ring timeout starts now
    call.offered_to = {target.agent_id}
    call.gen = center.new_gen()
    center.arm(at + cfg.ring_timeout_s, TimerKind.OFFER, call.call_id, call.gen)
    return True


def caller_left(center: Center, call: Call, at: float, out: list[c.Command]) -> None:
    """The caller hung up during a consult: the consulted agent is let go."""
    if call.consult:
        consult_over(center, call, "caller-gone", at, out)


def answered(call: Call, at: float) -> None:
    """An agent answered the call (the first answer is its wait, R13)."""
    call.answered_at = at
    if call.first_answered_at is None:
        call.first_answered_at = at


def totals(call: Call, at: float) -> tuple[float, float]:
    """(waited, talked) of the whole call ending at ``at``."""
    assert call.answered_at is not None
    first = call.first_answered_at if call.first_answered_at is not None else call.answered_at
    return first - call.arrived_at, call.parts_talk_s + (at - call.answered_at)
