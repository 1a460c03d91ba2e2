"""R17 satisfaction without I/O: the definitions every report uses.

A survey offered to a caller (or a return visit's question) is answered with a score
from 1 to 5, or not at all (no key pressed in time, hung up, not reached):

- responses / offered = the response rate;
- CSAT = the share of 4 and 5 among the responses;
- the mean score of the responses;
- for return visits, the share solved among those that said.

A figure with nothing under it is None (shown "—"), as for R13's figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from reports.intervals import Filter, period_of
from reports.query import Query, parse_query

SCORES = range(1, 6)
BY = ("agent", "queue", "kind", "department", "source", "all")
SOURCES = ("call", "visit")  # the keypad survey after a call; a return visit's question


@dataclass(frozen=True, slots=True)
class Answer:
    """One survey offered: its score (None: no answer) and, from a return visit, whether
    the problem was solved (None: not asked or not said)."""

    score: int | None
    solved: bool | None = None

    def __post_init__(self) -> None:
        if self.score is not None and self.score not in SCORES:
            raise ValueError(f"a score is 1 to 5, not {self.score}")


def figures(answers: Iterable[Answer]) -> dict[str, float | int | None]:
    offered = responses = satisfied = total = said = solved = 0
    for a in answers:
        offered += 1
        if a.score is not None:
            responses += 1
            total += a.score
            satisfied += a.score >= 4
        if a.solved is not None:
            said += 1
            solved += a.solved
    return {
        "offered": offered, "responses": responses,
        "response_rate": responses / offered if offered else None,
        "csat": satisfied / responses if responses else None,
        "mean_score": total / responses if responses else None,
        "solved_rate": solved / said if said else None,
    }


def by(answers: Iterable[tuple[Hashable, Answer]], key: Callable[[Hashable], str] = str
       ) -> dict[str, dict[str, float | int | None]]:
    """The figures per group (an agent, a queue, a kind, a department, a period)."""
    groups: dict[str, list[Answer]] = defaultdict(list)
    for group, answer in answers:
        groups[key(group)].append(answer)
    return {g: figures(items) for g, items in sorted(groups.items())}


@dataclass(frozen=True, slots=True)
class Survey:
    """One survey as the store keeps it (R17): after a call (``source`` "call") or on a
    return visit ("visit"); ``department``: its work order's, "" when none."""

    call_id: str
    at: float
    agent_id: str
    queue: str
    kind: str
    source: str
    answer: Answer
    department: str = ""
    comment: str = ""


def _group(s: Survey, key: str) -> str:
    return {"agent": s.agent_id, "queue": s.queue, "kind": s.kind, "department": s.department,
            "source": s.source}.get(key, "")


def satisfaction_report(surveys: Iterable[Survey], interval: str, zone: str, key: str = "queue",
                        where: Filter = Filter()) -> list[dict[str, object]]:
    """Rows per period (of the survey's end, in the site's time zone) and agent, queue,
    kind, department or source (``key``; "all": one row per period), oldest first, each
    with ``figures``."""
    if key not in BY:
        raise ValueError(f"by {key!r}")
    tz = ZoneInfo(zone)
    groups: dict[tuple[datetime, str], list[Answer]] = defaultdict(list)
    for s in surveys:
        local = datetime.fromtimestamp(s.at, tz)
        if where.takes(local):
            groups[(period_of(local, interval), _group(s, key))].append(s.answer)
    rows: list[dict[str, object]] = []
    for (period, name), answers in sorted(groups.items()):
        row: dict[str, object] = {"period": period.isoformat()}
        if key != "all":
            row[key] = name
        rows.append({**row, **figures(answers)})
    return rows


def parse_satisfaction(params: Mapping[str, str], zone: str, today: date) -> tuple[Query, str, str]:
    """The report's query (``reports.query.parse_query``), its ``by`` (agent, queue
    (default), kind, department, source, all) and ``source`` (call, visit; "" both);
    ``ValueError`` with a clear message."""
    rest = {k: v for k, v in params.items() if k not in ("by", "source")}
    key, source = params.get("by", "queue"), params.get("source", "")
    if key not in BY:
        raise ValueError(f"by is one of {', '.join(BY)}")
    if source not in ("", *SOURCES):
        raise ValueError(f"source is one of {', '.join(SOURCES)}")
    return parse_query(rest, zone, today), key, source
