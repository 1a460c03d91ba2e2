"""R18's use cases: sample the calls of the current and the previous period (the
leader's maintenance loop every ``sample_every_s``, or on demand), pick a call by
hand, score an inspection on the form, the agent's acknowledgement or dispute, a
supervisor's resolution of a dispute, and the reports per agent and period. The rules
are pure (``reports.quality``); every step is written to the audit log with who took it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from cti.background import repeat
from cti.errors import BadRequest, Conflict, Missing, NotConfigured
from cti.quality.settings import QualitySettings
from cti.quality.store import Picked, QualityStore
from reports.quality import (BadStep, Result, next_status, per_agent, period_of, sample, score, weakest)

log = logging.getLogger("cti.quality")
audit = logging.getLogger("cti.audit")
MONTH_S = 30.44 * 86400
Play = Callable[[str, str], Awaitable[bytes]]  # (call id, who) -> the recording's bytes (audited by the archive)


def result_of(doc: Mapping[str, Any]) -> Result:
    """The stored score of a scored inspection, as ``reports.quality`` has it."""
    return Result(float(doc["score"]), tuple(doc["critical_failed"] or ()), doc["sections"] or {},
                  doc["items"] or {})


class Quality:
    def __init__(self, settings: QualitySettings | None, store: QualityStore, clock: Callable[[], float] = time.time,
                 timezone: str = "UTC", play: Play | None = None) -> None:
        self._settings = settings
        self.store = store
        self.clock = clock
        self.timezone = timezone
        self.play = play
        self.errors = 0  # sampling rounds that failed (logged, tried again)
        self.last_sampled: list[str] = []
        self._sampling = asyncio.Lock()  # one sampling round at a time
        self._outcome: list[str] | Exception = []  # the last round's, for the requests that waited for it

    @property
    def settings(self) -> QualitySettings:
        if self._settings is None:
            raise NotConfigured("quality inspection is not configured on this site ([quality])")
        return self._settings

    @property
    def enabled(self) -> bool:
        return self._settings is not None

    # ------------------------------------------------------------ sampling

    async def sample(self, who: str = "engine") -> list[str]:
        """The calls of the previous and the current period the rules pick that are not
        inspected yet, stored pending; answers their ids. One sampling at a time: asked
        while one runs (a burst of requests, the leader's loop), the caller has its
        result instead of reading the periods' calls again."""
        under_way = self._sampling.locked()
        async with self._sampling:
            if not under_way:  # else the round that was under way answers this request too
                try:
                    self._outcome = await self._sample(who)
                except Exception as exc:
                    self._outcome = exc
                    raise
            if isinstance(self._outcome, Exception):
                raise self._outcome
            return list(self._outcome)

    async def _sample(self, who: str) -> list[str]:
        rules, key = self.settings.rules, await self.store.key()
        now = self.clock()
        current = period_of(now, self.settings.period, self.timezone)
        previous = period_of(current[0] - 1.0, self.settings.period, self.timezone)
        added: list[str] = []
        for since, until in (previous, current):
            facts = await self.store.facts(since, until)
            about = {f.call_id: (f, queue, ended) for f, queue, ended in facts}
            chosen = sample((f for f, _, _ in facts), rules, key, await self.store.sampled_between(since, until))
            added += await self.store.add([Picked(k, about[k][0].agent_id, about[k][1], about[k][0].kind,
                                                  about[k][2], why) for k, why in chosen], now, who)
        if added:
            log.info("R18: %d calls sampled for inspection", len(added))
            audit.info("R18 %d calls sampled for inspection by %s", len(added), who)
        self.last_sampled = added
        return added

    async def pick(self, call_id: str, who: str) -> dict[str, Any]:
        """An answered call of the record inspected by hand."""
        self.settings  # noqa: B018 (not configured: refused)
        found = await self.store.call(call_id)
        if found is None:
            raise Missing(f"no answered call {call_id} in the record")
        if not await self.store.add([found], self.clock(), who):
            raise Conflict(f"call {call_id} is inspected already")
        audit.info("R18 call %s picked for inspection by %s", call_id, who)
        return await self.get(call_id)

    # ------------------------------------------------------------ steps

    async def get(self, call_id: str) -> dict[str, Any]:
        self.settings  # noqa: B018
        found = await self.store.get(call_id)
        if found is None:
            raise Missing(f"no inspection of call {call_id}")
        return found

    async def _step(self, call_id: str, expected: str, changes: dict[str, Any]) -> dict[str, Any]:
        if not await self.store.step(call_id, expected, {**changes, "updated_at": self.clock()}):
            raise Conflict(f"the inspection of call {call_id} changed meanwhile; read it again")
        return await self.get(call_id)

    def _scored(self, marks: Any, comments: Any) -> dict[str, Any]:
        form = self.settings.form
        if not isinstance(marks, dict) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                  for v in marks.values()):
            raise BadRequest("marks are {item id: points (an integer)}")
        if not isinstance(comments, dict) or not all(isinstance(k, str) and isinstance(v, str) and len(v) <= 2000
                                                     for k, v in comments.items()) or len(comments) > 200:
            raise BadRequest("comments are {item id or \"\" (the whole): text (2000 at most)}")
        unknown = sorted(set(comments) - set(form.items()) - {""})
        if unknown:
            raise BadRequest(f"comments on items not on the form: {unknown}")
        try:
            result = score(form, marks)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return {"form": form.name, "marks": marks, "score": result.score, "critical_failed": list(result.critical_failed),
                "items": dict(result.items), "sections": dict(result.sections),
                "comments": {k: v for k, v in comments.items() if v.strip()}}

    async def score(self, call_id: str, marks: Any, comments: Any, who: str) -> dict[str, Any]:
        """The inspector's marks (every item of the form) and comments: pending -> scored."""
        found = await self.get(call_id)
        try:
            status = next_status(found["status"], "scored")
        except BadStep as exc:
            raise Conflict(str(exc)) from None
        done = await self._step(call_id, found["status"], {
            **self._scored(marks, comments), "status": status, "inspector": who, "scored_at": self.clock()})
        audit.info("R18 inspection of call %s (agent %s) scored %.2f%s by %s", call_id, found["agent_id"],
                   done["score"], " with a critical item failed" if done["critical_failed"] else "", who)
        return done

    async def reply(self, call_id: str, agent_id: str, answer: str, comment: str) -> dict[str, Any]:
        """The agent's own result acknowledged, or disputed (with why): a supervisor
        resolves a dispute."""
        found = await self.get(call_id)
        if found["agent_id"] != agent_id or found["status"] == "pending":
            raise Missing(f"no inspection of call {call_id} for agent {agent_id}")
        if answer not in ("acknowledged", "disputed") or len(comment) > 2000:
            raise BadRequest("a reply is {'reply': acknowledged | disputed, 'comment': text (2000 at most)}")
        if answer == "disputed" and not comment.strip():
            raise BadRequest("a dispute says why (comment)")
        try:
            status = next_status(found["status"], answer)
        except BadStep as exc:
            raise Conflict(str(exc)) from None
        done = await self._step(call_id, found["status"], {"status": status, "reply": comment.strip(),
                                                           "replied_at": self.clock()})
        audit.info("R18 inspection of call %s %s by agent %s", call_id, answer, agent_id)
        return done

    async def resolve(self, call_id: str, decision: str, marks: Any, comment: str, who: str) -> dict[str, Any]:
        """A supervisor's answer to a dispute: the score upheld, or scored again
        (``marks``: every item again); disputed -> resolved."""
        found = await self.get(call_id)
        if decision not in ("upheld", "rescored") or len(comment) > 2000 or not comment.strip():
            raise BadRequest("a resolution is {'decision': upheld | rescored, 'marks' (rescored), 'comment': text}")
        try:
            status = next_status(found["status"], "resolved")
        except BadStep as exc:
            raise Conflict(str(exc)) from None
        changes: dict[str, Any] = {"status": status, "resolution": f"{decision}: {comment.strip()}",
                                   "resolved_by": who, "resolved_at": self.clock()}
        if decision == "rescored":
            scored = self._scored(marks, found["comments"] or {})
            changes.update({k: scored[k] for k in ("marks", "score", "critical_failed", "items", "sections")})
        done = await self._step(call_id, found["status"], changes)
        audit.info("R18 dispute on the inspection of call %s resolved (%s, score %.2f) by %s", call_id, decision,
                   done["score"], who)
        return done

    async def mine(self, agent_id: str) -> list[dict[str, Any]]:
        self.settings  # noqa: B018
        return await self.store.of_agent(agent_id)

    # ------------------------------------------------------------ reports

    async def report(self, since: float, until: float) -> dict[str, Any]:
        """Per agent (inspections scored in [since, until)): how many, the mean score,
        the critical failures, the disputes; and the weakest items across the team."""
        form = self.settings.form
        scored = await self.store.scored_between(since, until)
        results = [(d["agent_id"], result_of(d), d["reply"] is not None and d["status"] in ("disputed", "resolved"))
                   for d in scored]
        labels = {i.item_id: i.label for i in form.items().values()}
        return {
            "since": since, "until": until,
            "agents": [{"agent": a.agent_id, "inspections": a.inspections, "mean_score": a.mean_score,
                        "critical_failures": a.critical_failures, "disputed": a.disputed}
                       for a in per_agent(results)],
            "weakest_items": [{"item": item, "label": labels.get(item, item), "mean_share": round(share, 4),
                               "inspections": n} for item, share, n in weakest(r for _, r, _ in results)],
        }

    # ------------------------------------------------------------ the leader's loop

    async def run(self) -> None:
        """Sample every ``sample_every_s``; purge with the call's record (R5)."""
        if self._settings is None:
            return
        last_purge = 0.0

        async def step() -> None:
            nonlocal last_purge
            await self.sample()
            now = self.clock()
            if now - last_purge >= 3600:
                last_purge = now
                gone = await self.store.purge(now - self.settings.retention_months * MONTH_S)
                if gone:
                    log.info("R5 retention: %d old inspections purged", gone)

        def failed(exc: Exception) -> None:
            self.errors += 1
            log.error("R18 sampling failed (tried again): %s", exc)

        await repeat(step, self.settings.sample_every_s, failed)

