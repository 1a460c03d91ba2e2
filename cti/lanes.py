"""Per-call lanes: what is done on Asterisk for one call runs in order, and no call
ever waits for another call's work.

A lane is created when its first job arrives and disappears when it has nothing left
to do, so there are only as many as calls with work in flight. Each job has a
deadline: one that does not finish in time is abandoned, logged and counted, and its
``on_deadline`` tells whoever must know (the core, for an offer), so the call moves
on. The lanes' tasks belong to ``run``, a supervised task of the engine: cancelling it
cancels them all.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cti.health import Faults

log = logging.getLogger("cti.lanes")

Job = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class _Job:
    what: str
    run: Job
    on_deadline: Callable[[], None] | None


class Lanes:
    def __init__(self, deadline_s: float, faults: Faults | None = None) -> None:
        self.deadline_s = deadline_s
        self.faults = faults or Faults()
        self._lanes: dict[str, collections.deque[_Job]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        """Lanes with work in flight."""
        return len(self._lanes)

    def put(self, key: str, what: str, job: Job, on_deadline: Callable[[], None] | None = None) -> None:
        """Run ``job`` after the jobs already in lane ``key``; never waits."""
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = collections.deque()
            task = asyncio.get_running_loop().create_task(self._drain(key, lane))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        lane.append(_Job(what, job, on_deadline))

    async def _drain(self, key: str, lane: collections.deque[_Job]) -> None:
        try:
            while lane:
                job = lane.popleft()
                try:
                    async with asyncio.timeout(self.deadline_s):
                        await job.run()
                except TimeoutError:
                    self.faults.count("deadline", job.what)
                    log.error("%s for %s did not finish within %g s: abandoned", job.what, key, self.deadline_s)
                    if job.on_deadline is not None:
                        job.on_deadline()
                except Exception:  # one failed step must not stop the lane
                    self.faults.count("failed", job.what)
                    log.exception("%s for %s failed", job.what, key)
        finally:
            if self._lanes.get(key) is lane:
                del self._lanes[key]

    async def run(self) -> None:
        """Own the lanes' tasks until cancelled (then cancel them all)."""
        try:
            await asyncio.Event().wait()
        finally:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def drained(self) -> None:
        """Wait until every lane is empty (for tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
