"""R13: the engine's side of the record: follow the core's notices, write what ended
to the store every ``FLUSH_S``, and after a restart or a take-over refill the live
windows from it (a supervisor never sees today's figures start again from zero).

Writing runs on the store's worker thread; a store that is away delays the record
(kept in memory, at most ``MAX_PENDING`` rows, the oldest dropped and counted) and
never the calls. A failed step is logged, counted and tried again.

Reports are read, built and encoded in ``BUILDERS`` report processes
(``cti.reports.builder``, ``build``), never in the engine's process.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from zoneinfo import ZoneInfo

from acd import commands as c
from acd.metrics import WINDOWS, MetricsBook
from cti.background import repeat
from cti.reports import builder
from cti.reports.builder import Job, Rendered
from cti.reports.store import HistoryStore
from cti.store.sql import StoreUnavailable
from cti.reports.surveys import of_notice
from reports.records import AgentSpan, CallRecord, RecordBuilder
from reports.satisfaction import Answer, Survey, figures

log = logging.getLogger("cti.history")

FLUSH_S = 0.5
MAX_PENDING = 200_000
BUILDERS = 2  # report processes: reports built at once; more wait their turn


class History:
    def __init__(self, store: HistoryStore, clock: Callable[[], float] = time.time, timezone: str = "UTC",
                 keep_months: int = 6) -> None:
        self.store = store
        self.keep_months = keep_months  # R5: the record is kept as long as the calls' other records
        self._purged = 0.0
        self.timezone = timezone  # the site's: reports' days
        self.builder = RecordBuilder(clock)
        self.clock = clock
        self._tz = ZoneInfo(timezone)
        self.day = ""  # the site's local date that answered_today counts
        self.answered_today: dict[str, int] = {}  # agent -> calls answered today (the wallboard's)
        # R17: queue -> today's survey scores counted (None: no response), at most 6 keys
        self._surveyed_today: dict[str, Counter[int | None]] = {}
        self._survey_day = ""
        self._calls: list[CallRecord] = []
        self._spans: list[AgentSpan] = []
        self._surveys: list[Survey] = []  # R17: surveys not yet written
        self.written = 0
        self.dropped = 0
        self.errors = 0
        self._builders: ProcessPoolExecutor | None = None  # started at the first report

    async def build(self, job: Job) -> Rendered:
        """A report, read, built and encoded in a report process. Its reads are cancelled
        at ``job.read_timeout_s`` there; a process that does not answer within twice
        that (and a minute) fails the request."""
        if self._builders is None:
            self._builders = ProcessPoolExecutor(BUILDERS, multiprocessing.get_context("spawn"))
        try:
            async with asyncio.timeout(2 * job.read_timeout_s + 60):
                return await asyncio.get_running_loop().run_in_executor(self._builders, builder.run, job)
        except TimeoutError:
            raise StoreUnavailable("the report process did not answer in time") from None
        except BrokenProcessPool:
            self._builders = None  # a report process died: new ones for the next report
            raise StoreUnavailable("the report process ended unexpectedly") from None

    def observe(self, cmd: c.Command) -> None:
        if isinstance(cmd, c.SurveyAnswered):
            self._surveys.append(of_notice(cmd))
            self._surveyed(cmd.queue, Answer(cmd.score), cmd.at)
            return
        self.builder.observe(cmd)
        if isinstance(cmd, c.CallEnded) and cmd.outcome == "handled" and cmd.agent_id is not None:
            day = datetime.fromtimestamp(cmd.at, self._tz).date().isoformat()
            if day != self.day:  # a new day in the site's time zone
                self.day, self.answered_today = day, {}
            self.answered_today[cmd.agent_id] = self.answered_today.get(cmd.agent_id, 0) + 1

    def add(self, record: CallRecord) -> None:
        """A call the core never saw (R4/R13: the dialplan's fallback queue while no
        engine led), written with the next flush (a call id already stored adds nothing)."""
        self._calls.append(record)

    def _surveyed(self, queue: str, answer: Answer, at: float) -> None:
        day = datetime.fromtimestamp(at, self._tz).date().isoformat()
        if day != self._survey_day:
            if day < self._survey_day:
                return  # (yesterday's, written late)
            self._survey_day, self._surveyed_today = day, {}
        self._surveyed_today.setdefault(queue, Counter())[answer.score] += 1

    def satisfaction_today(self) -> dict[str, dict[str, float | int | None]]:
        """R17 for the wallboard: today's surveys after calls per queue (the site's day)."""
        today = datetime.fromtimestamp(self.clock(), self._tz).date().isoformat()
        if today != self._survey_day:
            return {}
        return {q: figures(Answer(score) for score, n in scores.items() for _ in range(n))
                for q, scores in sorted(self._surveyed_today.items())}

    def seed(self, agents: list[tuple[str, str, str | None, float]]) -> None:
        """The agents' states as the core has them at start (their spans go on)."""
        for agent_id, state, reason, since in agents:
            self.builder.observe(c.AgentStateChanged(agent_id, state, reason, since))

    async def restore(self, book: MetricsBook) -> int:
        """Refill the live windows with the calls and wrap-ups that ended in the last
        day, and each agent's calls answered today."""
        now = self.clock()
        local = datetime.fromtimestamp(now, self._tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        _, sums = await self.store.agent_buckets(midnight, now + 900)  # (local midnights are quarter hours)
        self.day, self.answered_today = local.date().isoformat(), {}
        for agent, _, part in sums:
            self.answered_today[agent] = self.answered_today.get(agent, 0) + part.answered
        self._survey_day, self._surveyed_today = local.date().isoformat(), {}
        for s in await self.store.surveys_between(midnight, now + 1, departments=False):
            if s.source == "call":
                self._surveyed(s.queue, s.answer, s.at)
        records = await self.store.calls_since(now - WINDOWS["day"])
        spans = await self.store.spans_between(now - WINDOWS["day"], now + 1)
        wraps = [(s.queue, s.ended_at, s.ended_at - s.started_at) for s in spans if s.state == "wrap-up" and s.queue]
        added = book.restore([r.ended() for r in records], now, wraps)
        log.info("R13: live windows refilled from the record: %d calls of the last day", added)
        return added

    async def flush(self) -> int:
        calls, spans = self.builder.take()
        self._calls += calls
        self._spans += spans
        excess = len(self._calls) + len(self._spans) + len(self._surveys) - MAX_PENDING
        if excess > 0:  # the store has been away long: the oldest go first (surveys last)
            self.dropped += excess
            log.error("R13: the store is away; %d records dropped", excess)
            from_calls = min(excess, len(self._calls))
            from_spans = min(excess - from_calls, len(self._spans))
            self._calls = self._calls[from_calls:]
            self._spans = self._spans[from_spans:]
            self._surveys = self._surveys[excess - from_calls - from_spans:]
        if not self._calls and not self._spans and not self._surveys:
            return 0
        new = await self.store.write(self._calls, self._spans, self._surveys)
        self._calls, self._spans, self._surveys = [], [], []
        self.written += new
        return new

    async def purge(self) -> int:
        """Forget what ended more than ``keep_months`` ago (at most once an hour)."""
        now = self.clock()
        if now - self._purged < 3600:
            return 0
        self._purged = now
        gone = await self.store.purge(now - self.keep_months * 31 * 86400)
        if gone:
            log.info("R13: %d records older than %d months purged", gone, self.keep_months)
        return gone

    async def run(self) -> None:
        await repeat(self._round, FLUSH_S, self._failed)

    async def _round(self) -> None:
        await self.flush()
        await self.purge()

    def _failed(self, exc: Exception) -> None:
        self.errors += 1
        log.error("R13: writing the record failed (tried again): %s", exc)

    async def stop(self) -> None:
        """At a clean stop: what ended last goes to the store too."""
        try:
            await self.flush()
        except Exception as exc:
            log.error("R13: the last records could not be written: %s", exc)
        finally:
            if self._builders is not None:
                self._builders.shutdown(wait=False, cancel_futures=True)
