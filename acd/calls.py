"""The call state machine, as a table, and the notice of a call's end.

Theory of operation
-------------------
Every change of a call's state goes through ``set_state``, which refuses a change the
table does not allow (``InvalidCallTransition``: a bug in the core, not a caller's
doing). A call's record exists from its admission to a queue until it leaves the core
(``ended``); leaving is not a state: the record is removed.

    (admitted, or queued to be called) --> waiting
    waiting --offer (one agent, or ring-all)--> offered
    waiting --re-indexed (relaxation, R10 hold end, overflow, rematch)--> waiting
    offered --answered--> connected
    offered --answered, R11 callback: the customer is dialled--> dialing
    offered --ring timeout (R1), offer failed, taken back unwatched--> waiting
    connected --blind transfer to an agent, or the transferring agent left a
              consult still ringing--> offered
    connected --blind transfer to a queue--> waiting
    dialing --customer answered--> connected
    dialing --not reached (R2 ring cap, busy, a machine), attempts left--> retry
    retry --callback_retry_s--> waiting (its original place)

A caller hanging up, an agent ending the call, a transfer out, a callback's last
attempt or a refusal removes the record from any state; ``ended`` is its notice.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from acd import commands as c
from acd.errors import InvalidCallTransition
from acd.model import CallState
from acd.state import Call

S = CallState
TRANSITIONS: Mapping[CallState, frozenset[CallState]] = MappingProxyType({
    S.WAITING: frozenset({S.WAITING, S.OFFERED}),
    S.OFFERED: frozenset({S.WAITING, S.CONNECTED, S.DIALING}),
    S.CONNECTED: frozenset({S.WAITING, S.OFFERED}),
    S.DIALING: frozenset({S.CONNECTED, S.RETRY}),
    S.RETRY: frozenset({S.WAITING}),
})


def set_state(call: Call, state: CallState) -> None:
    """The one place a call's state changes."""
    if state not in TRANSITIONS[call.state]:
        raise InvalidCallTransition(call.call_id, call.state.value, state.value)
    call.state = state


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
