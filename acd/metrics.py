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
- AHT (average handle time) = (talk, hold included, + the agents' wrap-up after the
  queue's calls) / answered;
- staffing: the agents Erlang C says are needed for the service-level target, from
  the window's arrival rate and the AHT (an agent in wrap-up takes no call: feeding
  Erlang C talk time alone understates the need).
A ratio with nothing under it is None ("—" on the pages), not 100 % or 0:00: with
nothing offered there is no service level, without an answered call no ASA.
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
    service_level: float | None
    answer_rate: float | None
    abandon_rate: float | None
    asa_s: float | None
    mean_talk_s: float | None
    aht_s: float | None
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
      on hold; wrap_s: the agents' wrap-up after the queue's calls, counted when it
      ends; emergency, emergency_answered, emergency_wait_s: R8's calls.
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
    wrap_s: float = 0.0

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


def ratio(part: float, whole: float) -> float | None:
    """``part / whole``; None when there is nothing under it (shown as "—")."""
    return part / whole if whole else None


def rates(s: Sums) -> dict[str, float | None]:
    """The figures of ``s``, the one definition the tiles, the trend, the reports and
    Prometheus all use: ratios over offered calls, means over answered ones, None when
    their denominator is zero."""
    return {
        "service_level": ratio(s.within_sl, s.offered),
        "answer_rate": ratio(s.answered, s.offered),
        "abandon_rate": ratio(s.abandoned, s.offered),
        "asa_s": ratio(s.wait_answered_s, s.answered),
        "mean_talk_s": ratio(s.talk_s, s.answered),
        "aht_s": ratio(s.talk_s + s.wrap_s, s.answered),
        "emergency_asa_s": ratio(s.emergency_wait_s, s.emergency_answered),
    }


class MetricsBook:
    def __init__(self, sl_threshold_s: float = 20.0, sl_target: float = 0.8) -> None:
        self.sl_threshold_s = sl_threshold_s
        self.sl_target = sl_target
        self._ended: dict[str, collections.deque[_Ended]] = collections.defaultdict(collections.deque)
        self._overflows: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        # Wrap-up, for the handle time: each agent's queue of its last call and, while in
        # wrap-up, since when (one entry per agent: bounded by the agents configured);
        # the wrap-ups ended per queue as (at, seconds), kept a day like the calls.
        self._last_queue: dict[str, str] = {}
        self._wrapping: dict[str, tuple[str, float]] = {}
        self._wraps: dict[str, collections.deque[tuple[float, float]]] = collections.defaultdict(collections.deque)
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
                self._add(self._ended[queue], _Ended(at, outcome, w, t, h, em, cmd.call_id))
                self.calls_total[(queue, outcome)] += 1
                self._trim(self._ended[queue], at)
                if cmd.agent_id is not None:
                    self._last_queue[cmd.agent_id] = queue
            case c.AgentStateChanged(agent_id=a, state=state, at=at):
                self._wrap_up(a, state, at)
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
    def _add(items: collections.deque[_Ended], x: _Ended) -> None:
        """Kept in time order (the windows read from the newest back): one that ended
        before the last is put in its place, counted from the end."""
        i = len(items)
        while i and items[i - 1].at > x.at:
            i -= 1
        items.insert(i, x)

    def _wrap_up(self, agent_id: str, state: str, at: float) -> None:
        """An agent's wrap-up counts, when it ends, to the queue of the call it follows
        (as the record's wrap-up spans do: the live and the reported AHT agree)."""
        started = self._wrapping.pop(agent_id, None)
        if started is not None and at > started[1]:
            self.wrapped(started[0], at, at - started[1])
        if state == "wrap-up" and self._last_queue.get(agent_id):
            self._wrapping[agent_id] = (self._last_queue[agent_id], at)

    def wrapped(self, queue: str, at: float, seconds: float) -> None:
        """A wrap-up of ``seconds`` after a call of ``queue`` ended at ``at``."""
        kept = self._wraps[queue]
        kept.append((at, seconds))
        while kept and kept[0][0] < at - WINDOWS["day"]:
            kept.popleft()

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
        # Newest first (kept in time order): a short window reads only its own calls.
        for x in reversed(self._ended.get(queue, ())):
            if x.at < since:
                break
            if since <= x.at <= until:
                sums.add(x.outcome, x.waited_s, x.talked_s, x.held_s, x.emergency, self.sl_threshold_s)
        for at, seconds in reversed(self._wraps.get(queue, ())):  # (in time order: each ends now)
            if at < since:
                break
            if since <= at <= until:
                sums.wrap_s += seconds
        return sums

    def all_sums(self, since: float, until: float) -> Sums:
        """The sums of every queue's calls that ended in [since, until]."""
        total = Sums()
        for queue in self.queues():
            total.merge(self.sums(queue, since, until))
        return total

    def restore(self, ended: Iterable[c.CallEnded], now: float,
                wraps: Iterable[tuple[str, float, float]] = ()) -> int:
        """After a restart: the calls that ended in the last day, from the record (R13:
        the windows go on, not from zero), and the wrap-ups (queue, ended at, seconds).
        Calls already in a window are not added twice; the counters since start
        (``calls_total`` ...) are left as they are."""
        if not any(self._wraps.values()):
            for queue, at, seconds in sorted(wraps, key=lambda w: w[1]):
                if at >= now - WINDOWS["day"]:
                    self.wrapped(queue, at, seconds)
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
    aht = r["aht_s"]
    need = agents_needed(rate, aht, sl_threshold_s, sl_target) if aht and rate > 0 else None
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
        aht_s=aht,
        arrival_rate_per_s=rate,
        agents_needed=need,
    )
