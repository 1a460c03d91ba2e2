"""R3: a caller kept on hold at most ``hold_max_s``; past it the queue's hold actions
run (remind the agent, apologise to the caller, take the caller off hold), again every
``hold_max_s`` while the hold lasts, and each overrun is counted for the agent."""

from __future__ import annotations

from acd import commands as c
from acd import events as e
from acd.center import Center
from acd.model import CallState, HoldAction
from acd.state import Call
from acd.timers import TimerKind


def hold_started(center: Center, ev: e.HoldStarted) -> None:
    call = center.find_call(ev.call_id)
    if call is None or call.state is not CallState.CONNECTED or call.hold_since is not None:
        return
    call.hold_since = ev.at
    call.hold_gen = center.new_gen()
    limit = center.queue(call.queue).config.hold_max_s
    center.arm(ev.at + limit, TimerKind.HOLD, call.call_id, call.hold_gen)


def hold_ended(center: Center, ev: e.HoldEnded) -> None:
    call = center.find_call(ev.call_id)
    if call is not None and call.hold_since is not None:
        call.held_s += max(0.0, ev.at - call.hold_since)
        call.hold_since = None
        call.hold_gen = center.new_gen()


def hold_overrun(center: Center, call: Call, at: float, out: list[c.Command]) -> None:
    assert call.hold_since is not None and call.agent_id is not None
    cfg = center.queue(call.queue).config
    held = at - call.hold_since
    center.agent(call.agent_id).hold_overruns += 1
    out.append(c.HoldOverrun(call.call_id, call.agent_id, held, at))
    for action in cfg.hold_actions:
        if action is HoldAction.REMIND_AGENT:
            out.append(c.RemindAgent(call.call_id, call.agent_id, held))
        elif action is HoldAction.APOLOGIZE:
            out.append(c.PlayApology(call.call_id))
        elif action is HoldAction.UNHOLD:
            out.append(c.TakeOffHold(call.call_id))
    if HoldAction.UNHOLD in cfg.hold_actions:
        call.held_s += held
        call.hold_since = None
        call.hold_gen = center.new_gen()
    else:  # come back again after another hold_max_s
        center.arm(at + cfg.hold_max_s, TimerKind.HOLD, call.call_id, call.hold_gen)


def hold_timer_valid(call: Call, gen: int) -> bool:
    return call.hold_since is not None and call.hold_gen == gen
