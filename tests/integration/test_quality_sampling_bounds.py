"""R18 sampling on the real store (SQLite and PostgreSQL) reads the survey scores of the
period's calls only: other calls' surveys (many, or taken later) never push a low score
out of what it reads."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from cti.quality import store as quality_store
from reports.quality import SamplingRules
from tests.integration.test_quality import calls
from tests.integration.world import quality_settings, world


async def test_R17_R18_a_low_score_triggers_its_call_however_many_other_surveys_there_are(
        store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quality_store, "MAX_READ_ROWS", 3)  # the read's bound, small
    rules = SamplingRules(share=0.0, triggers=frozenset({"low-score"}))
    async with world(store_url, tmp_path, quality=dataclasses.replace(quality_settings(), rules=rules)) as w:
        await calls(w, ("k1", "1001"))
        now = w.runtime.clock()
        for call_id, score in (*((f"a{n}", 5) for n in range(6)), ("k1", 1)):  # surveys of calls not in the record
            await w.db.do(lambda sql, k=call_id, n=score: sql.run(
                "INSERT INTO surveys (call_id, source, at, agent_id, queue, kind, score, solved, comment, order_id) "
                "VALUES (?, 'call', ?, '1002', 'support', '', ?, NULL, '', NULL)", (k, now, n)))
        assert await w.quality.sample() == ["k1"]
        assert (await w.quality.get("k1"))["reason"] == "low-score"


async def test_R18_a_burst_of_sampling_requests_reads_the_record_once(store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        await calls(w, ("k1", "1001"), ("k2", "1002"))
        reads = 0
        facts = w.quality.store.facts

        async def counted(since: float, until: float) -> list[Any]:
            nonlocal reads
            reads += 1
            await asyncio.sleep(0.05)  # a long read: the other requests come meanwhile
            return await facts(since, until)

        w.quality.store.facts = counted  # type: ignore[method-assign]
        burst = await asyncio.gather(*(w.http.post("/quality/sample", headers=w.as_role("inspector"), json={})
                                       for _ in range(8)))
        assert [r.status for r in burst] == [200] * 8
        assert {tuple(sorted((await r.json())["sampled"])) for r in burst} == {("k1", "k2")}
        assert reads == 2  # the previous and the current period, once
        assert sorted(await w.quality.sample()) == [] and reads == 4  # a later one reads again
