"""Indexes that keep one routing decision at O(G log n).

Agents with the same skills form a *profile*; calls with the same (current) skill
requirement form a *requirement group*. Both are few (set by configuration, not by
traffic), so G below is small. Per queue:

- ``ReadyAgents``: ready agents, per profile a sorted list of (strategy key, agent id).
  The best agent for a call: the head of each profile that satisfies the requirement,
  compared across profiles: O(G + log n).
- ``WaitingCalls``: waiting calls, per requirement group a heap of (order, call id),
  order = (-priority, enqueue time, arrival number). Removal is lazy (a ``live`` map
  says what is still there); the heaps are rebuilt when dead entries outnumber live
  ones, so memory stays O(n). The best call for an agent: the head of each group its
  profile satisfies: O(G log n) amortised.
"""

from __future__ import annotations

import bisect
import heapq
from functools import lru_cache

from acd.model import Skills, Strategy

Order = tuple[int, float, int]  # (-priority, enqueued at, arrival number)
Key = tuple[float, ...]


@lru_cache(maxsize=65536)
def satisfies(profile: Skills, requirement: Skills) -> bool:
    """Whether an agent with ``profile`` has every required skill at the minimum level."""
    have = dict(profile)
    return all(have.get(name, 0) >= level for name, level in requirement)


@lru_cache(maxsize=65536)
def skill_score(profile: Skills, requirement: Skills) -> int:
    """How well a profile covers a requirement: the sum of its levels on those skills."""
    have = dict(profile)
    return sum(have.get(name, 0) for name, _ in requirement)


class ReadyAgents:
    def __init__(self) -> None:
        self._groups: dict[Skills, list[tuple[Key, str]]] = {}
        self._entries: dict[str, tuple[Skills, tuple[Key, str]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._entries

    def add(self, agent_id: str, profile: Skills, key: Key) -> None:
        entry = (key, agent_id)
        bisect.insort(self._groups.setdefault(profile, []), entry)
        self._entries[agent_id] = (profile, entry)

    def remove(self, agent_id: str) -> None:
        profile, entry = self._entries.pop(agent_id)
        group = self._groups[profile]
        del group[bisect.bisect_left(group, entry)]
        if not group:
            del self._groups[profile]

    def best(self, requirement: Skills, strategy: Strategy, rr_last: float) -> str | None:
        best_rank: tuple[object, ...] | None = None
        best_id: str | None = None
        for profile, group in self._groups.items():
            if not satisfies(profile, requirement):
                continue
            rank: tuple[object, ...]
            if strategy is Strategy.ROUND_ROBIN:
                # The first position after the last one offered, wrapping around
                # (positions are whole numbers).
                i = bisect.bisect_left(group, ((rr_last + 0.5,), ""))
                wrapped = i >= len(group)
                entry = group[0] if wrapped else group[i]
                rank = (wrapped, entry)
            elif strategy is Strategy.BEST_SKILL:
                entry = group[0]
                rank = (-skill_score(profile, requirement), entry)
            else:
                entry = group[0]
                rank = (entry,)
            if best_rank is None or rank < best_rank:
                best_rank, best_id = rank, entry[1]
        return best_id

    def all_matching(self, requirement: Skills) -> list[str]:
        return [
            agent_id
            for profile, group in self._groups.items()
            if satisfies(profile, requirement)
            for _, agent_id in group
        ]


class WaitingCalls:
    def __init__(self) -> None:
        self._groups: dict[Skills, list[tuple[Order, str]]] = {}
        self._live: dict[str, tuple[Skills, Order]] = {}
        self._dead = 0

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._live

    def add(self, call_id: str, requirement: Skills, order: Order) -> None:
        heapq.heappush(self._groups.setdefault(requirement, []), (order, call_id))
        self._live[call_id] = (requirement, order)

    def remove(self, call_id: str) -> None:
        if self._live.pop(call_id, None) is not None:
            self._dead += 1
            if self._dead > 2 * len(self._live) + 64:
                self._compact()

    def _head(self, requirement: Skills) -> tuple[Order, str] | None:
        heap = self._groups[requirement]
        while heap:
            order, call_id = heap[0]
            if self._live.get(call_id) == (requirement, order):
                return heap[0]
            heapq.heappop(heap)
            self._dead -= 1
        return None

    def best_for(self, profile: Skills) -> tuple[Order, str] | None:
        best: tuple[Order, str] | None = None
        for requirement in list(self._groups):
            if not satisfies(profile, requirement):
                continue
            head = self._head(requirement)
            if head is None:
                del self._groups[requirement]
            elif best is None or head < best:
                best = head
        return best

    def ahead_of(self, call_id: str) -> int:
        """How many waiting calls come before this one (O(n): for announcements only)."""
        entry = self._live.get(call_id)
        if entry is None:
            return 0
        order = entry[1]
        return sum(1 for _, o in self._live.values() if o < order)

    def _compact(self) -> None:
        self._groups = {}
        for call_id, (requirement, order) in self._live.items():
            self._groups.setdefault(requirement, []).append((order, call_id))
        for heap in self._groups.values():
            heapq.heapify(heap)
        self._dead = 0
