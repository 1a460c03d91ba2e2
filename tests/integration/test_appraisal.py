"""R13 with R17 and R18 on the real store (SQLite and PostgreSQL): the agent appraisal
report reads the record of calls, the surveys and the scored inspections in a report
process and joins them per agent, as JSON and CSV, for supervisors and readers only."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tests.integration.test_quality import FULL, calls
from tests.integration.world import world


async def test_R13_R17_R18_the_appraisal_report_joins_calls_surveys_and_inspections(
        store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        await calls(w, ("k1", "1001"), ("k2", "1001"), ("k3", "1002"))
        for call_id, agent, score in (("k1", "1001", 5), ("k2", "1001", 2), ("k3", "1002", None)):
            await w.db.do(lambda sql, k=call_id, a=agent, n=score: sql.run(
                "INSERT INTO surveys (call_id, source, at, agent_id, queue, kind, score, solved, comment, order_id) "
                "VALUES (?, 'call', ?, ?, 'support', '', ?, NULL, '', NULL)", (k, w.runtime.clock(), a, n)))
        resp = await w.http.post("/quality/picks", headers=w.as_role("inspector"), json={"call_id": "k1"})
        assert resp.status == 200, await resp.text()
        resp = await w.http.post("/quality/inspections/k1/score", headers=w.as_role("inspector"),
                                 json={"marks": {**FULL, "privacy": 0}})  # the critical item failed: 0
        assert resp.status == 200, await resp.text()

        resp = await w.http.get("/reports/appraisal", headers=w.as_role("supervisor"))
        assert resp.status == 200, await resp.text()
        rows = {r["agent"]: r for r in (await resp.json())["rows"]}
        a, b = rows["1001"], rows["1002"]
        assert (a["answered"], a["surveys"], a["csat"], a["mean_score"]) == (2, 2, 0.5, 3.5)
        assert (a["inspections"], a["quality_score"], a["critical_failures"]) == (1, 0.0, 1)
        assert (b["answered"], b["surveys"], b["survey_response_rate"], b["csat"]) == (1, 1, 0.0, None)
        assert (b["inspections"], b["quality_score"]) == (0, None)
        resp = await w.http.get("/reports/appraisal?format=csv", headers=w.as_role("reader"))
        table = list(csv.DictReader(io.StringIO(await resp.text())))
        assert [(r["agent"], r["answered"], r["csat"]) for r in table] == [("1001", "2", "0.500"), ("1002", "1", "")]
        assert (await w.http.get("/reports/appraisal", headers=w.as_role("agent:1001"))).status == 403


async def test_R13_R18_the_appraisal_counts_disputes_keeps_to_its_range_and_its_roles(
        store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        await calls(w, ("d1", "1001"))
        await w.quality.pick("d1", "test")
        assert (await w.http.post("/quality/inspections/d1/score", headers=w.as_role("inspector"),
                                  json={"marks": FULL})).status == 200
        assert (await w.http.post("/quality/inspections/d1/reply", headers=w.as_role("agent:1001"),
                                  json={"reply": "disputed", "comment": "unfair"})).status == 200
        (row,) = (await (await w.http.get("/reports/appraisal", headers=w.as_role("reader"))).json())["rows"]
        assert (row["agent"], row["inspections"], row["quality_score"], row["disputes"]) == ("1001", 1, 100.0, 1)
        old = await w.http.get("/reports/appraisal?from=2001-01-01&to=2001-01-31", headers=w.as_role("reader"))
        assert old.status == 200 and (await old.json())["rows"] == []  # nothing of today in another range
        for query in ("format=xml", "from=yesterday", "from=2026-02-30"):
            bad = await w.http.get(f"/reports/appraisal?{query}", headers=w.as_role("supervisor"))
            assert bad.status == 400, (query, bad.status)
        for role in ("inspector", "agent:1001", "department"):  # an agent's, an inspector's: never the team's
            assert (await w.http.get("/reports/appraisal", headers=w.as_role(role))).status == 403, role
