"""The core's deadlines: one heap of (at, kind, key, generation).

A timer is never removed when what it guards changes; instead the guarded record
carries a generation number that is bumped, and a popped timer whose generation is
stale is skipped (``timeouts.timer_valid``). Ties at one instant keep push order."""

from __future__ import annotations

import enum
import heapq


class TimerKind(enum.Enum):
    OFFER = "offer"  # R1: the ring timeout of an offer
    WRAP = "wrap"  # the end of an agent's wrap-up
    HOLD = "hold"  # R3: hold_max_s
    STICKY = "sticky"  # R10: the hold for the last agent is over
    RELAX = "relax"  # the next skill relaxation step
    OVERFLOW = "overflow"  # overflow by waiting time
    OUTBOUND = "outbound"  # R2: an outbound attempt rang its maximum
    DIAL = "dial"  # R2: a callback's customer rang outbound_max_rings x ring_cycle_s
    RETRY = "retry"  # R11: a callback not reached waits again in its queue
    CONSULT = "consult"  # R1: an attended transfer's target rang its ring timeout


Entry = tuple[float, int, TimerKind, str, int]


class Timers:
    def __init__(self) -> None:
        self._heap: list[Entry] = []
        self.seq = 0

    def push(self, at: float, kind: TimerKind, key: str, gen: int) -> None:
        self.seq += 1
        heapq.heappush(self._heap, (at, self.seq, kind, key, gen))

    def peek(self) -> tuple[float, TimerKind, str, int] | None:
        if not self._heap:
            return None
        at, _, kind, key, gen = self._heap[0]
        return at, kind, key, gen

    def pop(self) -> None:
        heapq.heappop(self._heap)

    def __len__(self) -> int:
        return len(self._heap)

    def entries(self) -> list[Entry]:
        return list(self._heap)

    def restore(self, at: float, seq: int, kind: TimerKind, key: str, gen: int) -> None:
        heapq.heappush(self._heap, (at, seq, kind, key, gen))
