"""R2: an outbound attempt (callback, return visit) rings the customer at most
``outbound_max_rings × ring_cycle_s`` of its queue; then it is hung up and recorded as
no-answer. The attempts themselves are placed by the outbound feature."""

from __future__ import annotations

from typing import TYPE_CHECKING

from acd import commands as c
from acd import events as e
from acd.timers import TimerKind

if TYPE_CHECKING:
    from acd.engine import Engine


def outbound_started(eng: Engine, ev: e.OutboundStarted) -> None:
    queue = eng._queues.get(ev.queue)
    if queue is not None and ev.attempt_id not in eng._outbound:
        eng._outbound[ev.attempt_id] = (ev.queue, ev.at)
        limit = queue.config.outbound_ring_timeout_s
        eng._timers.push(ev.at + limit, TimerKind.OUTBOUND, ev.attempt_id, 0)


def outbound_ended(eng: Engine, attempt_id: str) -> None:
    eng._outbound.pop(attempt_id, None)


def outbound_expired(eng: Engine, attempt_id: str, due: float, at: float, out: list[c.Command]) -> None:
    _, started = eng._outbound.pop(attempt_id)
    out.append(c.CancelOutbound(attempt_id))
    out.append(c.OutboundNoAnswer(attempt_id, due - started, at))
