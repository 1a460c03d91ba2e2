"""R2: an outbound attempt (callback, return visit) rings the customer at most
``outbound_max_rings × ring_cycle_s`` of its queue; then it is hung up and recorded as
no-answer. The attempts themselves are placed by the outbound feature."""

from __future__ import annotations

from acd import commands as c
from acd import events as e
from acd.center import Center
from acd.timers import TimerKind


def outbound_started(center: Center, ev: e.OutboundStarted) -> None:
    queue = center.find_queue(ev.queue)
    if queue is not None and center.start_attempt(ev.attempt_id, ev.queue, ev.at):
        limit = queue.config.outbound_ring_timeout_s
        center.arm(ev.at + limit, TimerKind.OUTBOUND, ev.attempt_id, 0)


def outbound_ended(center: Center, attempt_id: str) -> None:
    center.end_attempt(attempt_id)


def outbound_expired(center: Center, attempt_id: str, due: float, at: float, out: list[c.Command]) -> None:
    attempt = center.end_attempt(attempt_id)
    assert attempt is not None  # (a valid OUTBOUND timer: the attempt is running)
    _, started = attempt
    out.append(c.CancelOutbound(attempt_id))
    out.append(c.OutboundNoAnswer(attempt_id, due - started, at))
