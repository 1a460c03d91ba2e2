"""Tiered emergency plans III / II / I (R9), evaluated from live figures. Pure.

Theory of operation
-------------------
Levels rise in severity III < II < I. Each level has *entry* conditions (any one met
enters it) and *exit* conditions (all must hold to leave it): exit thresholds lower
than entry thresholds give hysteresis, so a load hovering at a threshold does not
flap. A level is kept at least ``min_time_s``.

``evaluate(figures, now)``: the target is the most severe level whose entry holds.
- above the current level: mode ``auto`` applies it (its actions run); mode
  ``confirm`` proposes it once and waits for a supervisor;
- otherwise, when the current level's exit conditions hold and it has been held for
  ``min_time_s``, it steps down to the most severe lower level whose entry still
  holds, or ends.
A supervisor may confirm a proposal, set any level, end the plan and attach the
incident's cause, scope and start; a level set by hand is not lowered automatically
until the supervisor ends it. Every change is a ``PlanChanged`` notice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

LEVELS = ("III", "II", "I")  # least to most severe


@dataclass(frozen=True, slots=True)
class Figures:
    """What the plan rules look at (for the queue the plan watches)."""

    waiting: int = 0
    longest_wait_s: float = 0.0
    answer_rate: float | None = None  # over the last 15 minutes; None: nothing offered (nobody failed)
    overflows: int = 0  # in the last 15 minutes


def _below(rate: float | None, limit: float) -> bool:
    """A rate under its limit; with nothing offered (None) nobody was failed."""
    return rate is not None and rate < limit


@dataclass(frozen=True, slots=True)
class Conditions:
    waiting_at_least: int | None = None
    longest_wait_at_least_s: float | None = None
    answer_rate_below: float | None = None
    overflows_at_least: int | None = None

    def any_met(self, f: Figures) -> bool:
        return any(self._checks(f))

    def met(self, f: Figures) -> Conditions:
        """Only the conditions ``f`` meets (the reason a level was entered)."""
        return Conditions(
            self.waiting_at_least if self.waiting_at_least is not None and f.waiting >= self.waiting_at_least
            else None,
            self.longest_wait_at_least_s if self.longest_wait_at_least_s is not None
            and f.longest_wait_s >= self.longest_wait_at_least_s else None,
            self.answer_rate_below if self.answer_rate_below is not None and _below(f.answer_rate, self.answer_rate_below)
            else None,
            self.overflows_at_least if self.overflows_at_least is not None and f.overflows >= self.overflows_at_least
            else None,
        )

    def _checks(self, f: Figures) -> list[bool]:
        out = []
        if self.waiting_at_least is not None:
            out.append(f.waiting >= self.waiting_at_least)
        if self.longest_wait_at_least_s is not None:
            out.append(f.longest_wait_s >= self.longest_wait_at_least_s)
        if self.answer_rate_below is not None:
            out.append(_below(f.answer_rate, self.answer_rate_below))
        if self.overflows_at_least is not None:
            out.append(f.overflows >= self.overflows_at_least)
        return out


@dataclass(frozen=True, slots=True)
class ExitConditions:
    """All given must hold to leave the level."""

    waiting_at_most: int | None = None
    longest_wait_at_most_s: float | None = None
    answer_rate_at_least: float | None = None

    def all_met(self, f: Figures) -> bool:
        return all([
            self.waiting_at_most is None or f.waiting <= self.waiting_at_most,
            self.longest_wait_at_most_s is None or f.longest_wait_s <= self.longest_wait_at_most_s,
            self.answer_rate_at_least is None or not _below(f.answer_rate, self.answer_rate_at_least),
        ])


@dataclass(frozen=True, slots=True)
class Level:
    name: str  # III, II, I
    enter: Conditions
    leave: ExitConditions
    standby_agents: tuple[str, ...] = ()  # logged in at this level
    overflow_to: str | None = None  # new calls go to this queue (or site)
    announcement: str | None = None  # prompt played to new callers
    offer_callbacks: bool = False


@dataclass(frozen=True, slots=True)
class PlanConfig:
    queue: str
    levels: Mapping[str, Level]
    mode: str = "auto"  # or "confirm"
    min_time_s: float = 60.0


# Why a level changed or was proposed (``reason``); the words for people are made
# where the change is shown (cti.supervision.reasons), from the figures and thresholds.
ENTRY_MET = "entry met"  # figures: what the plan saw; thresholds: the entry conditions met
EXIT_MET = "exit met"  # figures: what the plan saw; thresholds: the level's exit conditions
CONFIRMED = "proposal confirmed"
SET_BY_HAND = "set by hand"
ENDED_BY_HAND = "ended by hand"


@dataclass(frozen=True, slots=True)
class PlanChanged:
    level: str | None
    previous: str | None
    reason: str  # ENTRY_MET, EXIT_MET, CONFIRMED, SET_BY_HAND or ENDED_BY_HAND
    by: str  # "auto" or the supervisor
    at: float
    figures: Figures | None = None  # ENTRY_MET, EXIT_MET
    thresholds: Conditions | ExitConditions | None = None


@dataclass(frozen=True, slots=True)
class PlanProposed:
    level: str
    reason: str  # ENTRY_MET
    at: float
    figures: Figures | None = None
    thresholds: Conditions | None = None


@dataclass(slots=True)
class Incident:
    cause: str = ""
    scope: str = ""
    started_at: float | None = None


@dataclass(slots=True)
class Plan:
    config: PlanConfig
    level: str | None = None
    since: float = 0.0
    proposed: str | None = None
    manual: bool = False
    incident: Incident = field(default_factory=Incident)

    def evaluate(self, f: Figures, now: float) -> list[PlanChanged | PlanProposed]:
        target = None
        for name in LEVELS:
            level = self.config.levels.get(name)
            if level is not None and level.enter.any_met(f):
                target = name
        out: list[PlanChanged | PlanProposed] = []
        if target is not None and _rank(target) > _rank(self.level):
            met = self.config.levels[target].enter.met(f)
            if self.config.mode == "auto":
                out.append(self._set(target, ENTRY_MET, "auto", now, f, met))
            elif self.proposed != target:
                self.proposed = target
                out.append(PlanProposed(target, ENTRY_MET, now, f, met))
            return out
        if self.level is None or self.manual:
            return out
        current = self.config.levels[self.level]
        if current.leave.all_met(f) and now - self.since >= self.config.min_time_s:
            lower = target if _rank(target) < _rank(self.level) else None
            out.append(self._set(lower, EXIT_MET, "auto", now, f, current.leave))
        return out

    def confirm(self, who: str, now: float) -> list[PlanChanged]:
        if self.proposed is None:
            return []
        return [self._set(self.proposed, CONFIRMED, who, now)]

    def set_level(self, level: str | None, who: str, now: float) -> list[PlanChanged]:
        if level is not None and level not in self.config.levels:
            raise ValueError(f"no plan level {level!r} (have {sorted(self.config.levels)})")
        change = self._set(level, SET_BY_HAND if level else ENDED_BY_HAND, who, now)
        self.manual = level is not None
        return [change]

    def _set(self, level: str | None, reason: str, by: str, now: float, figures: Figures | None = None,
             thresholds: Conditions | ExitConditions | None = None) -> PlanChanged:
        change = PlanChanged(level, self.level, reason, by, now, figures, thresholds)
        self.level, self.since, self.proposed, self.manual = level, now, None, False
        return change

    def active(self) -> Level | None:
        return None if self.level is None else self.config.levels[self.level]

    def attach_incident(self, cause: str, scope: str, started_at: float) -> None:
        """R9: what the plan answers (shown with it, kept until another is attached)."""
        self.incident = Incident(cause, scope, started_at)

    def resume(self, level: str, since: float) -> None:
        """A restarted router goes on at the level the core kept."""
        if level not in self.config.levels:
            raise ValueError(f"no plan level {level!r} (have {sorted(self.config.levels)})")
        self.level, self.since = level, since


def _rank(level: str | None) -> int:
    return -1 if level is None else LEVELS.index(level)
