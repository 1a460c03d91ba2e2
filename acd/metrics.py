"""Live metrics for supervisors (R13), exact, from the core's own notices.

``MetricsBook.observe(command, ...)`` takes every notice the core emits; ``queue_figures``
computes, over a sliding window ending at ``now``, the figures of one queue from the
calls that ended in that window, with no smoothing (app_queue's holdtime is a 3:1
exponential average; these are counts and means of what happened):

- offered: calls that ended (handled, abandoned or refused) in the window;
- answered, abandoned; answer rate (接通率) = answered / offered;
- service level = answered within ``sl_threshold_s`` / offered;
- ASA (average speed of answer) = mean wait of the answered calls;
- abandon rate = abandoned / offered; mean talk time; arrival rate = offered / window;
- staffing: the agents Erlang C says are needed for the service-level target, from
  the window's arrival rate and mean handle time.
Pure: time comes in as ``now``.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass

from acd import commands as c
from acd.erlang import agents_needed

WINDOWS = {"15m": 900.0, "1h": 3600.0, "day": 86400.0}
OVERFLOW_WINDOW_S = WINDOWS["15m"]


@dataclass(frozen=True, slots=True)
class QueueFigures:
    window: str
    offered: int
    answered: int
    abandoned: int
    answered_within_sl: int
    service_level: float
    answer_rate: float
    abandon_rate: float
    asa_s: float
    mean_talk_s: float
    arrival_rate_per_s: float
    agents_needed: int | None


@dataclass(slots=True)
class _Ended:
    at: float
    outcome: str
    waited_s: float
    talked_s: float


class MetricsBook:
    def __init__(self, sl_threshold_s: float = 20.0, sl_target: float = 0.8) -> None:
        self.sl_threshold_s = sl_threshold_s
        self.sl_target = sl_target
        self._ended: dict[str, collections.deque[_Ended]] = collections.defaultdict(collections.deque)
        self._overflows: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self.ring_no_answer: collections.Counter[str] = collections.Counter()
        self.hold_overruns: collections.Counter[str] = collections.Counter()
        self.calls_total: collections.Counter[tuple[str, str]] = collections.Counter()
        # R11: callbacks requested per queue, and their dial-outs by outcome (R2: no-answer).
        self.callbacks_total: collections.Counter[str] = collections.Counter()
        self.callback_attempts: collections.Counter[tuple[str, str]] = collections.Counter()

    def connect_rate(self, queue: str) -> float | None:
        """R11: dial-outs the customer answered (a person: R2 no-answer, busy and
        answering machines are not) / dial-outs, since start; None before any."""
        tried = sum(n for (q, _), n in self.callback_attempts.items() if q == queue)
        return self.callback_attempts.get((queue, "answered"), 0) / tried if tried else None

    def observe(self, cmd: c.Command) -> None:
        match cmd:
            case c.CallEnded(outcome=outcome, waited_s=w, talked_s=t, at=at, queue=queue):
                self._ended[queue].append(_Ended(at, outcome, w, t))
                self.calls_total[(queue, outcome)] += 1
                self._trim(self._ended[queue], at)
            case c.CallOverflowed(from_queue=q, at=at):
                kept = self._overflows[q]
                kept.append(at)
                while kept and kept[0] < at - OVERFLOW_WINDOW_S:  # read every second: keep it short
                    kept.popleft()
            case c.CallbackRequested(queue=q):
                self.callbacks_total[q] += 1
            case c.CallbackAttempt(queue=q, outcome=o):
                self.callback_attempts[(q, o)] += 1
            case c.RingNoAnswer(agent_id=a):
                self.ring_no_answer[a] += 1
            case c.HoldOverrun(agent_id=a):
                self.hold_overruns[a] += 1
            case _:
                pass

    @staticmethod
    def _trim(items: collections.deque[_Ended], now: float) -> None:
        while items and items[0].at < now - WINDOWS["day"]:
            items.popleft()

    def overflows(self, queue: str, now: float) -> int:
        """Calls overflowed from ``queue`` in the last 15 minutes (R9's plan figures)."""
        since = now - OVERFLOW_WINDOW_S
        kept = self._overflows.get(queue)
        return 0 if kept is None else sum(1 for t in kept if t >= since)

    def queue_figures(self, queue: str, now: float, window: str) -> QueueFigures:
        since = now - WINDOWS[window]
        ended = [x for x in self._ended[queue] if x.at >= since]
        return figures(ended, window, WINDOWS[window], self.sl_threshold_s, self.sl_target)

    def queues(self) -> list[str]:
        return sorted(self._ended)


def figures(ended: Iterable[_Ended], window: str, seconds: float, sl_threshold_s: float,
            sl_target: float) -> QueueFigures:
    ended = list(ended)
    answered = [x for x in ended if x.outcome == "handled"]
    abandoned = sum(1 for x in ended if x.outcome == "abandoned")
    offered = len(ended)
    within = sum(1 for x in answered if x.waited_s <= sl_threshold_s)
    rate = offered / seconds
    mean_talk = sum(x.talked_s for x in answered) / len(answered) if answered else 0.0
    need = agents_needed(rate, mean_talk, sl_threshold_s, sl_target) if answered and rate > 0 else None
    return QueueFigures(
        window=window,
        offered=offered,
        answered=len(answered),
        abandoned=abandoned,
        answered_within_sl=within,
        service_level=within / offered if offered else 1.0,
        answer_rate=len(answered) / offered if offered else 1.0,
        abandon_rate=abandoned / offered if offered else 0.0,
        asa_s=sum(x.waited_s for x in answered) / len(answered) if answered else 0.0,
        mean_talk_s=mean_talk,
        arrival_rate_per_s=rate,
        agents_needed=need,
    )
