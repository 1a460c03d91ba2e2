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
from types import MappingProxyType

from acd import commands as c
from acd.erlang import agents_needed

WINDOWS = MappingProxyType({"15m": 900.0, "1h": 3600.0, "day": 86400.0})
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
    held_s: float = 0.0
    emergency: bool = False
    call_id: str = ""


SHORT_ABANDON_S = 5.0  # abandoned sooner than this: reported apart (a misdial, not a lost customer)


@dataclass(slots=True)
class Sums:
    """R13: what a queue's figures are made of, over any set of ended calls. The one
    definition behind the live windows and the historical reports: the live book adds
    the calls of its window, a report merges the sums kept per 15 minutes; both then
    compute their figures with ``rates``.

    - offered: calls that ended in the interval (handled, abandoned, refused, callbacks
      not reached); answered: handled; abandoned: the caller hung up waiting, of which
      abandoned_short within SHORT_ABANDON_S;
    - within_sl: answered within the service-level threshold (as configured when the
      call ended); wait_answered_s: the answered calls' waits (ASA = / answered);
      longest_wait_s: the longest wait of any call;
    - talk_s: answered calls from answer to hang-up, hold included; hold_s: of which
      on hold; emergency, emergency_answered, emergency_wait_s: R8's calls.
    """

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    abandoned_short: int = 0
    within_sl: int = 0
    wait_answered_s: float = 0.0
    longest_wait_s: float = 0.0
    talk_s: float = 0.0
    hold_s: float = 0.0
    emergency: int = 0
    emergency_answered: int = 0
    emergency_wait_s: float = 0.0

    def add(self, outcome: str, waited_s: float, talked_s: float, held_s: float, emergency: bool,
            sl_threshold_s: float) -> None:
        self.offered += 1
        self.longest_wait_s = max(self.longest_wait_s, waited_s)
        self.emergency += emergency
        if outcome == "handled":
            self.answered += 1
            self.within_sl += waited_s <= sl_threshold_s
            self.wait_answered_s += waited_s
            self.talk_s += talked_s
            self.hold_s += held_s
            if emergency:
                self.emergency_answered += 1
                self.emergency_wait_s += waited_s
        elif outcome == "abandoned":
            self.abandoned += 1
            self.abandoned_short += waited_s < SHORT_ABANDON_S

    def merge(self, other: Sums) -> None:
        longest = max(self.longest_wait_s, other.longest_wait_s)
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.longest_wait_s = longest


def rates(s: Sums) -> dict[str, float]:
    """The figures of ``s``: service level and answer rate are 1 and the abandon rate 0
    when nothing was offered (nobody was failed); means are 0 without answered calls."""
    return {
        "service_level": s.within_sl / s.offered if s.offered else 1.0,
        "answer_rate": s.answered / s.offered if s.offered else 1.0,
        "abandon_rate": s.abandoned / s.offered if s.offered else 0.0,
        "asa_s": s.wait_answered_s / s.answered if s.answered else 0.0,
        "mean_talk_s": s.talk_s / s.answered if s.answered else 0.0,
        "emergency_asa_s": s.emergency_wait_s / s.emergency_answered if s.emergency_answered else 0.0,
    }


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
            case c.CallEnded(outcome=outcome, waited_s=w, talked_s=t, at=at, queue=queue, held_s=h, emergency=em):
                self._ended[queue].append(_Ended(at, outcome, w, t, h, em, cmd.call_id))
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
        return figures(self.sums(queue, since, now), window, WINDOWS[window], self.sl_threshold_s, self.sl_target)

    def sums(self, queue: str, since: float, until: float) -> Sums:
        """The sums of the calls of ``queue`` that ended in [since, until]."""
        sums = Sums()
        for x in self._ended.get(queue, ()):
            if since <= x.at <= until:
                sums.add(x.outcome, x.waited_s, x.talked_s, x.held_s, x.emergency, self.sl_threshold_s)
        return sums

    def restore(self, ended: Iterable[c.CallEnded], now: float) -> int:
        """After a restart: the calls that ended in the last day, from the record (R13:
        the windows go on, not from zero). Calls already in a window are not added twice;
        the counters since start (``calls_total`` ...) are left as they are."""
        known = {x.call_id for items in self._ended.values() for x in items}
        added = 0
        for cmd in ended:
            if cmd.call_id not in known and cmd.at >= now - WINDOWS["day"]:
                known.add(cmd.call_id)
                self._ended[cmd.queue].append(_Ended(cmd.at, cmd.outcome, cmd.waited_s, cmd.talked_s, cmd.held_s,
                                                     cmd.emergency, cmd.call_id))
                added += 1
        for queue, items in self._ended.items():
            self._ended[queue] = collections.deque(sorted(items, key=lambda x: x.at))
        return added

    def queues(self) -> list[str]:
        return sorted(self._ended)


def figures(sums: Sums, window: str, seconds: float, sl_threshold_s: float, sl_target: float) -> QueueFigures:
    r = rates(sums)
    rate = sums.offered / seconds
    need = (agents_needed(rate, r["mean_talk_s"], sl_threshold_s, sl_target)
            if sums.answered and rate > 0 and r["mean_talk_s"] > 0 else None)
    return QueueFigures(
        window=window,
        offered=sums.offered,
        answered=sums.answered,
        abandoned=sums.abandoned,
        answered_within_sl=sums.within_sl,
        service_level=r["service_level"],
        answer_rate=r["answer_rate"],
        abandon_rate=r["abandon_rate"],
        asa_s=r["asa_s"],
        mean_talk_s=r["mean_talk_s"],
        arrival_rate_per_s=rate,
        agents_needed=need,
    )
