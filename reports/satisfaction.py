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
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

SCORES = range(1, 6)


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
