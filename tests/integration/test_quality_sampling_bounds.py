"""R18 sampling on the real store (SQLite and PostgreSQL) reads the survey scores of the
period's calls only: other calls' surveys (many, or taken later) never push a low score
out of what it reads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

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
