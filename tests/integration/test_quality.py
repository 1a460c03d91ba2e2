"""R18 quality inspection through the engine's HTTP API on the real store (SQLite and
PostgreSQL), the real record of calls and a real recordings archive with its keyed
audit log: sampling (each agent's share, the triggers read from the record, the
dispositions and R17's surveys), the inspection's path with
its illegal steps refused, a dispute resolved by a supervisor, an agent seeing only its
own results, the roles refused, and every recording access in the audit log."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from acd import events as e
from cti.audit import AuditSettings, open_log, trail
from cti.recording import services
from recording.archive import Archive
from reports.quality import SamplingRules
from tests.integration.test_workorders import REPAIR
from tests.integration.world import World, answered_call, quality_settings, world
from tests.unit.test_recording import archived

NUMBER = "13812345678"
FULL = {"greeting": 10, "accuracy": 20, "privacy": 10}


async def calls(w: World, *which: tuple[str, str]) -> None:
    """Answered calls (call id, agent), ended and written to the record."""
    for call_id, agent in which:
        if w.runtime.engine.agent(agent).state == "wrap-up":
            w.runtime.apply(e.AgentReady(agent, w.runtime.clock()))  # wrap-up ended: ready for this one
        answered_call(w.runtime, call_id, NUMBER, agent)
    await w.history.flush()


async def test_R18_sampling_takes_each_agents_share_and_the_triggered_calls_from_the_record(
        store_url: str, tmp_path: Path) -> None:
    rules = SamplingRules(share=0.0, triggers=frozenset({"complaint", "low-score", "rona", "hold-overrun"}))
    async with world(store_url, tmp_path, quality=dataclasses.replace(quality_settings(), rules=rules)) as w:
        await calls(w, ("k1", "1001"), ("k2", "1001"), ("k3", "1002"))
        resp = await w.http.post("/calls/k2/disposition", headers=w.as_role("agent:1001"), json={
            "kind": "complaint", "fields": {"customer_name": "王小明", "contact_number": NUMBER, "content": "late"}})
        assert resp.status == 201, await resp.text()
        # No survey answered yet: no scores, so no low-score trigger; the complaint only.
        resp = await w.http.post("/quality/sample", headers=w.as_role("inspector"), json={})
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["sampled"] == ["k2"]
        # R17: k3's caller keyed 1 after the call, which triggers it; k1's keyed nothing.
        for call_id, agent, score in (("k3", "1002", 1), ("k1", "1001", None)):
            await w.db.do(lambda sql, k=call_id, a=agent, n=score: sql.run(
                "INSERT INTO surveys (call_id, source, at, agent_id, queue, kind, score, solved, comment, order_id) "
                "VALUES (?, 'call', ?, ?, 'support', '', ?, NULL, '', NULL)", (k, w.runtime.clock(), a, n)))
        assert await w.quality.sample() == ["k3"]
        assert await w.quality.sample() == []  # sampled once
        listed = await (await w.http.get("/quality/inspections", headers=w.as_role("inspector"))).json()
        assert {(i["call_id"], i["reason"], i["status"]) for i in listed} == {
            ("k2", "complaint", "pending"), ("k3", "low-score", "pending")}
        # Each agent's share: half of 1001's calls (k2, sampled already, counts towards it).
        w.quality._settings = dataclasses.replace(quality_settings(), rules=SamplingRules(share=0.5))  # noqa: SLF001
        assert await w.quality.sample() == []
        # A call picked by hand; an unknown one, or one inspected already, refused.
        resp = await w.http.post("/quality/picks", headers=w.as_role("inspector"), json={"call_id": "k1"})
        assert resp.status == 200 and (await resp.json())["reason"] == "manual"
        assert (await w.http.post("/quality/picks", headers=w.as_role("inspector"),
                                  json={"call_id": "k1"})).status == 409
        assert (await w.http.post("/quality/picks", headers=w.as_role("inspector"),
                                  json={"call_id": "nope"})).status == 404


async def test_R18_an_inspection_is_scored_acknowledged_or_disputed_and_a_supervisor_resolves_it(
        store_url: str, tmp_path: Path) -> None:
    settings = AuditSettings(tmp_path / "audit" / "audit.log", tmp_path / "keys" / "audit.key")
    log = open_log(settings)
    archive = Archive(tmp_path / "archive", log)

    async def play(call_id: str, who: str) -> bytes:
        return services.fetch(archive, call_id, who)

    async with world(store_url, tmp_path, play=play) as w:
        with trail(log):
            await calls(w, ("k1", "1001"), ("k2", "1002"))
            archived(archive, tmp_path, "k1", datetime.now(timezone.utc))
            resp = await w.http.post("/calls/k1/disposition", headers=w.as_role("agent:1001"), json={
                "kind": "fault-report", "fields": {**REPAIR, "contact_number": NUMBER}})
            assert resp.status == 201, await resp.text()
            order_id = (await resp.json())["order"]["order_id"]
            assert sorted(await w.quality.sample()) == ["k1", "k2"]  # share 1.0: every call

            # Roles: an agent has no business on the inspectors' routes.
            for method, path in (("GET", "/quality/inspections"), ("GET", "/quality/inspections/k1"),
                                 ("GET", "/quality/inspections/k1/recording"), ("POST", "/quality/sample"),
                                 ("POST", "/quality/inspections/k1/score"), ("GET", "/quality/report"),
                                 ("POST", "/quality/inspections/k1/resolve")):
                resp = await w.http.request(method, path, headers=w.as_role("agent:1001"), json={})
                assert resp.status == 403, (method, path, resp.status)
            # A supervisor without [quality] supervisors_inspect does not score.
            assert (await w.http.post("/quality/inspections/k1/score", headers=w.as_role("supervisor"),
                                      json={"marks": FULL})).status == 403

            # The inspector's view: the record, the work order, the number masked (R14).
            got = await (await w.http.get("/quality/inspections/k1", headers=w.as_role("inspector"))).json()
            assert got["record"]["agent_id"] == "1001" and got["record"]["caller"] == "138****5678"
            assert [o["order_id"] for o in got["work_orders"]] == [order_id]
            assert NUMBER not in json.dumps(got, ensure_ascii=False)
            # The recording, played: a WAV with samples, and the access audited with who asked.
            resp = await w.http.get("/quality/inspections/k1/recording", headers=w.as_role("inspector"))
            assert resp.status == 200 and resp.content_type == "audio/wav"
            audio = await resp.read()
            assert audio[:4] == b"RIFF" and audio[8:12] == b"WAVE" and len(audio) > 8000
            assert (await w.http.get("/quality/inspections/k9/recording",
                                     headers=w.as_role("inspector"))).status == 404  # not under inspection

            # Scored with the critical item failed: 0, whatever the rest.
            bad = {"marks": {**FULL, "privacy": 0}, "comments": {"privacy": "read the number in full", "": "ok"}}
            assert (await w.http.post("/quality/inspections/k1/score", headers=w.as_role("inspector"),
                                      json={"marks": {"greeting": 10}})).status == 400  # every item
            resp = await w.http.post("/quality/inspections/k1/score", headers=w.as_role("inspector"), json=bad)
            assert resp.status == 200, await resp.text()
            scored = await resp.json()
            assert scored["score"] == 0.0 and scored["critical_failed"] == ["privacy"]
            assert scored["status"] == "scored" and scored["inspector"] == "token:zhao"
            assert (await w.http.post("/quality/inspections/k1/score", headers=w.as_role("inspector"),
                                      json=bad)).status == 409  # scored once
            resp = await w.http.post("/quality/inspections/k2/score", headers=w.as_role("inspector"),
                                     json={"marks": {**FULL, "accuracy": 10}})
            assert (await resp.json())["score"] == 70.0  # (10/10*1 + 10/20*3 + 10/10*1) / 5

            # Each agent sees its own results only.
            mine = await (await w.http.get("/quality/mine", headers=w.as_role("agent:1002"))).json()
            assert [r["call_id"] for r in mine["results"]] == ["k2"]
            assert (await w.http.post("/quality/inspections/k1/reply", headers=w.as_role("agent:1002"),
                                      json={"reply": "acknowledged"})).status == 404
            assert (await w.http.post("/quality/inspections/k1/reply", headers=w.as_role("supervisor"),
                                      json={"reply": "acknowledged"})).status == 403
            assert (await w.http.get("/quality/mine", headers=w.as_role("supervisor"))).status == 403
            # 1002 acknowledges; 1001 disputes (with a reason), and cannot acknowledge after.
            resp = await w.http.post("/quality/inspections/k2/reply", headers=w.as_role("agent:1002"),
                                     json={"reply": "acknowledged"})
            assert (await resp.json())["status"] == "acknowledged"
            assert (await w.http.post("/quality/inspections/k1/reply", headers=w.as_role("agent:1001"),
                                      json={"reply": "disputed"})).status == 400
            resp = await w.http.post("/quality/inspections/k1/reply", headers=w.as_role("agent:1001"),
                                     json={"reply": "disputed", "comment": "I read the last four digits only"})
            assert (await resp.json())["status"] == "disputed"
            assert (await w.http.post("/quality/inspections/k1/reply", headers=w.as_role("agent:1001"),
                                      json={"reply": "acknowledged"})).status == 409

            # The dispute goes to the supervisors; one resolves it (scored again).
            disputes = await (await w.http.get("/quality/inspections?status=disputed",
                                               headers=w.as_role("supervisor"))).json()
            assert [d["call_id"] for d in disputes] == ["k1"]
            assert (await w.http.post("/quality/inspections/k1/resolve", headers=w.as_role("inspector"), json={
                "decision": "upheld", "comment": "no"})).status == 403
            resp = await w.http.post("/quality/inspections/k1/resolve", headers=w.as_role("supervisor"), json={
                "decision": "rescored", "marks": FULL, "comment": "the recording has the last four only"})
            resolved = await resp.json()
            assert resolved["status"] == "resolved" and resolved["score"] == 100.0 and not resolved["critical_failed"]
            assert (await w.http.post("/quality/inspections/k1/resolve", headers=w.as_role("supervisor"), json={
                "decision": "upheld", "comment": "again"})).status == 409

            # The report: per agent and the weakest items.
            report: dict[str, Any] = await (await w.http.get("/quality/report",
                                                             headers=w.as_role("supervisor"))).json()
            assert {a["agent"]: (a["inspections"], a["mean_score"], a["critical_failures"], a["disputed"])
                    for a in report["agents"]} == {"1001": (1, 100.0, 0, 1), "1002": (1, 70.0, 0, 0)}
            assert report["weakest_items"][0]["item"] == "accuracy"
            csv_text = await (await w.http.get("/quality/report?format=csv",
                                               headers=w.as_role("supervisor"))).text()
            assert csv_text.splitlines()[0].startswith("from,to,agent,inspections,mean_score")
    lines = [json.loads(x) for x in settings.log.read_bytes().splitlines()]
    retrieved = [x for x in lines if x.get("action") == "retrieve" and x.get("call_id") == "k1"]
    assert len(retrieved) == 1 and retrieved[0]["who"].startswith("token:zhao@")
    messages = [x.get("message", "") for x in lines]
    for expected in ("R18 inspection of call k1 (agent 1001) scored 0.00 with a critical item failed by token:zhao",
                     "R18 inspection of call k1 disputed by agent 1001",
                     "R18 dispute on the inspection of call k1 resolved (rescored, score 100.00) by token:floor",
                     "agent:1001 (agent) refused GET /quality/inspections/k1/recording"):
        assert any(expected in m for m in messages), (expected, messages)
    assert log.verify().ok


async def test_R18_R14_inspectors_see_numbers_whole_only_where_configured_and_the_view_is_audited(
        store_url: str, tmp_path: Path) -> None:
    settings = AuditSettings(tmp_path / "audit" / "audit.log", tmp_path / "keys" / "audit.key")
    log = open_log(settings)
    whole = dataclasses.replace(quality_settings(), inspector_sees_numbers=True)
    async with world(store_url, tmp_path, quality=whole) as w:
        with trail(log):
            await calls(w, ("k1", "1001"))
            assert await w.quality.sample() == ["k1"]
            got = await (await w.http.get("/quality/inspections/k1", headers=w.as_role("inspector"))).json()
            assert got["record"]["caller"] == NUMBER
            seen = await (await w.http.get("/quality/inspections/k1", headers=w.as_role("supervisor"))).json()
            assert seen["record"]["caller"] == "138****5678"  # the setting is the inspectors' only
    messages = [json.loads(x).get("message", "") for x in settings.log.read_bytes().splitlines()]
    assert any("token:zhao (inspector) shown full numbers: GET /quality/inspections/k1" in m for m in messages)
