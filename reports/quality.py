"""R18 quality inspection without I/O: which calls are inspected, and how an inspection
scores.

Sampling: for each agent and period, a share of its answered calls (at least one when
the share is above zero and the agent answered any), chosen by a keyed hash of the call
id (stable: the same calls on every run, not guessable by agents without the key), plus
every call that triggers an inspection on its own: a complaint, a hold past its limit,
a ring-no-answer before the answer, a low satisfaction score. A call is sampled once,
under its first reason (triggers before the share).

Scoring: a form has sections of items, each with a weight; an item is scored from 0 to
its points; the score is the weighted share of points, 0 to 100; a failed critical item
(a rule broken: a number read out in full, the customer insulted) makes the whole score
0. Sections' scores are kept, for the weakest items across a team.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

TRIGGERS = ("complaint", "hold-overrun", "rona", "low-score")


@dataclass(frozen=True, slots=True)
class CallFacts:
    call_id: str
    agent_id: str
    kind: str = ""
    hold_overruns: int = 0
    rona: int = 0  # offers the caller's call rang out on before this agent answered
    survey_score: int | None = None  # R17: 1 to 5, None when the caller gave none


@dataclass(frozen=True, slots=True)
class SamplingRules:
    share: float = 0.05  # of each agent's answered calls in the period
    triggers: frozenset[str] = frozenset(TRIGGERS)
    low_score_below: int = 3  # a survey score under this triggers an inspection

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ValueError("the share is between 0 and 1")
        if not set(self.triggers) <= set(TRIGGERS):
            raise ValueError(f"triggers are among {TRIGGERS}")


def _triggers(call: CallFacts, rules: SamplingRules) -> list[str]:
    found = {
        "complaint": call.kind == "complaint",
        "hold-overrun": call.hold_overruns > 0,
        "rona": call.rona > 0,
        "low-score": call.survey_score is not None and call.survey_score < rules.low_score_below,
    }
    return [t for t in TRIGGERS if t in rules.triggers and found[t]]


def sample(calls: Iterable[CallFacts], rules: SamplingRules, key: bytes,
           already: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(call id, reason) of the calls to inspect, triggers first, then each agent's share
    (its calls in the order of their keyed hash; the triggered ones count towards it).
    ``already``: calls of the period sampled by an earlier run (the step runs again and
    again as the period fills): they count towards their agent's share and are not
    answered again."""
    before = set(already)
    chosen: dict[str, str] = {k: "" for k in before}
    by_agent: dict[str, list[CallFacts]] = defaultdict(list)
    for call in calls:
        by_agent[call.agent_id].append(call)
        reasons = _triggers(call, rules)
        if reasons and call.call_id not in chosen:
            chosen[call.call_id] = reasons[0]
    for agent, theirs in sorted(by_agent.items()):
        want = math.ceil(rules.share * len(theirs)) if rules.share > 0 else 0
        have = sum(1 for c in theirs if c.call_id in chosen)
        for call in sorted(theirs, key=lambda c: hmac.new(key, c.call_id.encode(), hashlib.sha256).digest()):
            if have >= want:
                break
            if call.call_id not in chosen:
                chosen[call.call_id] = "sample"
                have += 1
    return [(k, why) for k, why in chosen.items() if k not in before]


@dataclass(frozen=True, slots=True)
class Item:
    item_id: str
    label: str
    points: int = 10  # scored 0..points
    weight: float = 1.0
    critical: bool = False  # failed (0 points): the whole inspection scores 0


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    items: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class Form:
    name: str
    sections: tuple[Section, ...]

    def __post_init__(self) -> None:
        ids = [i.item_id for s in self.sections for i in s.items]
        if not ids:
            raise ValueError("a form has at least one item")
        if len(ids) != len(set(ids)):
            raise ValueError("item ids are unique in a form")
        if any(i.points <= 0 or i.weight <= 0 for s in self.sections for i in s.items):
            raise ValueError("an item's points and weight are positive")

    def items(self) -> dict[str, Item]:
        return {i.item_id: i for s in self.sections for i in s.items}


@dataclass(frozen=True, slots=True)
class Result:
    score: float  # 0..100
    critical_failed: tuple[str, ...]
    sections: Mapping[str, float]  # each section's own 0..100
    items: Mapping[str, float]  # each item's share of its points, 0..1


def score(form: Form, given: Mapping[str, int]) -> Result:
    """The inspection's score; every item of the form is scored, none other."""
    items = form.items()
    missing, unknown = sorted(set(items) - set(given)), sorted(set(given) - set(items))
    if missing or unknown:
        raise ValueError(f"score every item of the form: missing {missing}, unknown {unknown}")
    shares: dict[str, float] = {}
    for item_id, points in given.items():
        item = items[item_id]
        if not 0 <= points <= item.points:
            raise ValueError(f"{item_id} scores 0 to {item.points}, not {points}")
        shares[item_id] = points / item.points
    critical = tuple(i for i, item in items.items() if item.critical and shares[i] == 0.0)

    def weighted(ids: Iterable[str]) -> float:
        ids = list(ids)
        total = sum(items[i].weight for i in ids)
        return 100.0 * sum(items[i].weight * shares[i] for i in ids) / total

    sections = {s.name: weighted(i.item_id for i in s.items) for s in form.sections}
    overall = 0.0 if critical else weighted(items)
    return Result(round(overall, 2), critical, sections, shares)


def weakest(results: Iterable[Result], top: int = 5) -> list[tuple[str, float, int]]:
    """(item id, mean share of its points, inspections) of the items scored lowest across
    ``results`` (a team's, a period's): where coaching helps most."""
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for r in results:
        for item_id, share in r.items.items():
            sums[item_id] += share
            counts[item_id] += 1
    means = sorted(((i, sums[i] / counts[i], counts[i]) for i in sums), key=lambda x: (x[1], x[0]))
    return means[:top]


# The inspection's path: sampled (pending), scored by an inspector, then the agent's
# reply: acknowledged (the end) or disputed, which a supervisor resolves (upheld or
# scored again).
STATUSES = ("pending", "scored", "acknowledged", "disputed", "resolved")
_NEXT = (("pending", "scored"), ("scored", "acknowledged"), ("scored", "disputed"), ("disputed", "resolved"))
REASONS = (*TRIGGERS, "sample", "manual")


class BadStep(ValueError):
    """A step the inspection's status does not allow."""


def next_status(current: str, wanted: str) -> str:
    if (current, wanted) not in _NEXT:
        raise BadStep(f"an inspection {current} cannot become {wanted}")
    return wanted


@dataclass(frozen=True, slots=True)
class AgentQuality:
    agent_id: str
    inspections: int  # scored in the period (the final score: a resolved dispute's)
    mean_score: float | None  # 0..100, None without one
    critical_failures: int  # inspections with a critical item failed
    disputed: int


def per_agent(scored: Iterable[tuple[str, Result, bool]]) -> list[AgentQuality]:
    """Each agent's figures from (agent, result, disputed) of the scored inspections."""
    by: dict[str, list[tuple[Result, bool]]] = defaultdict(list)
    for agent, result, disputed in scored:
        by[agent].append((result, disputed))
    return [AgentQuality(agent, len(rs), round(sum(r.score for r, _ in rs) / len(rs), 2) if rs else None,
                         sum(1 for r, _ in rs if r.critical_failed), sum(1 for _, d in rs if d))
            for agent, rs in sorted(by.items())]


def period_of(at: float, period: str, zone: str) -> tuple[float, float]:
    """[since, until) of the sampling period (day, week from Monday, month) holding
    ``at``, in the site's time zone."""
    tz = ZoneInfo(zone)
    day = datetime.fromtimestamp(at, tz).date()
    if period == "day":
        first, last = day, day + timedelta(days=1)
    elif period == "week":
        first = day - timedelta(days=day.weekday())
        last = first + timedelta(days=7)
    elif period == "month":
        first = day.replace(day=1)
        last = (first + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"a period is day, week or month, not {period!r}")
    return (datetime.combine(first, time(0, 0), tz).timestamp(), datetime.combine(last, time(0, 0), tz).timestamp())
