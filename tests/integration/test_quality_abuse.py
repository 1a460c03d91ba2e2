"""R18 under misuse, on the real store (SQLite and PostgreSQL): scores, replies and
resolutions sent many times at once are written once; numbers written in comments,
replies and resolutions are masked for inspectors, supervisors and the agent (R14);
bad marks and comments are refused with 400 and change nothing; odd call ids on the
recording route play nothing; an inspector reaches only its own routes."""

from __future__ import annotations

import asyncio
import logging
import json
from pathlib import Path

import pytest

from tests.integration.test_quality import FULL, calls
from tests.integration.world import World, world

NUMBER_IN_TEXT = "the caller asked to be called on 139 8765 4321"


async def _scored(w: World, call_id: str) -> None:
    resp = await w.http.post(f"/quality/inspections/{call_id}/score", headers=w.as_role("inspector"),
                             json={"marks": FULL, "comments": {"": NUMBER_IN_TEXT}})
    assert resp.status == 200, await resp.text()


async def test_R18_steps_sent_at_once_are_written_once(store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        await calls(w, ("q1", "1001"))
        assert await w.quality.sample() == ["q1"]
        url = "/quality/inspections/q1"
        marks = [{**FULL, "greeting": n} for n in range(6)]
        burst = await asyncio.gather(*(w.http.post(f"{url}/score", headers=w.as_role("inspector"),
                                                   json={"marks": m}) for m in marks))
        assert sorted(r.status for r in burst) == [200] + [409] * 5
        (won,) = [await r.json() for r in burst if r.status == 200]
        stored = await w.quality.get("q1")
        assert (stored["marks"], stored["score"]) == (won["marks"], won["score"])
        # The agent acknowledges and disputes at once: one of them, never both.
        replies = await asyncio.gather(*(w.http.post(f"{url}/reply", headers=w.as_role("agent:1001"), json=body)
                                         for body in ({"reply": "acknowledged"},
                                                      {"reply": "disputed", "comment": "wrong"}) * 2))
        assert sorted(r.status for r in replies) == [200, 409, 409, 409]
        status = (await w.quality.get("q1"))["status"]
        assert status in ("acknowledged", "disputed")
        if status == "disputed":
            resolutions = await asyncio.gather(*(w.http.post(f"{url}/resolve", headers=w.as_role("supervisor"),
                                                             json={"decision": "upheld", "comment": f"r{n}"})
                                                 for n in range(4)))
            assert sorted(r.status for r in resolutions) == [200, 409, 409, 409]


async def test_R14_R18_numbers_in_comments_replies_and_resolutions_are_masked(
        store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        await calls(w, ("q2", "1001"))
        await w.quality.sample()
        await _scored(w, "q2")
        resp = await w.http.post("/quality/inspections/q2/reply", headers=w.as_role("agent:1001"),
                                 json={"reply": "disputed", "comment": "I only repeated 13812345678 back"})
        assert resp.status == 200
        resp = await w.http.post("/quality/inspections/q2/resolve", headers=w.as_role("supervisor"), json={
            "decision": "upheld", "comment": "reading back 138-1234-5678 in full is a failure"})
        assert resp.status == 200
        for role, path in (("inspector", "/quality/inspections/q2"), ("inspector", "/quality/inspections"),
                           ("supervisor", "/quality/inspections/q2"), ("agent:1001", "/quality/mine")):
            text = await (await w.http.get(path, headers=w.as_role(role))).text()
            for whole in ("13987654321", "139 8765 4321", "13812345678", "138-1234-5678"):
                assert whole not in text, (role, path, whole)
            assert "139****4321" in text and "138****5678" in text, (role, path)
        stored = await w.quality.get("q2")  # stored as written: only the answers are masked
        assert stored["reply"] == "I only repeated 13812345678 back"


@pytest.mark.parametrize("body", [
    {"marks": {**FULL, "greeting": 11}}, {"marks": {**FULL, "greeting": -1}}, {"marks": {**FULL, "greeting": 1.5}},
    {"marks": {**FULL, "greeting": True}}, {"marks": {**FULL, "greeting": "10"}}, {"marks": [10, 20, 10]},
    {"marks": {**FULL, "extra": 1}}, {"marks": FULL, "comments": {"": "x" * 2001}},
    {"marks": FULL, "comments": {"nope": "x"}}, {"marks": FULL, "comments": ["x"]}, {"marks": FULL, "comments": {"": 5}},
    {"marks": {**FULL, "greeting": 10 ** 40}}, {"marks": FULL, "comments": {"": "a\u0000b"}},
    {"marks": FULL, "comments": {"\u0000": "x"}}])
async def test_R18_bad_marks_or_comments_are_refused_and_the_inspection_stays_pending(
        body: dict[str, object], store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        await calls(w, ("q3", "1001"))
        await w.quality.sample()
        resp = await w.http.post("/quality/inspections/q3/score", headers=w.as_role("inspector"), json=body)
        assert resp.status == 400, (resp.status, await resp.text())
        assert (await resp.json())["message"]
        broken = await w.http.post("/quality/inspections/q3/score", data=b'{"marks": {"greeting": NaN',
                                   headers={**w.as_role("inspector"), "Content-Type": "application/json"})
        assert broken.status == 400
        assert (await w.quality.get("q3"))["status"] == "pending"
        await _scored(w, "q3")  # and it is still scored after


async def test_R18_odd_call_ids_on_the_recording_route_play_nothing(store_url: str, tmp_path: Path) -> None:
    asked: list[str] = []

    async def play(call_id: str, who: str) -> bytes:
        asked.append(call_id)
        return b"RIFF"

    async with world(store_url, tmp_path, play=play) as w:
        await calls(w, ("q4", "1001"))
        await w.quality.sample()
        for path in ("..%2F..%2Fetc%2Fpasswd", "q4%00", "q4%2F..", "%2E%2E", "q4'%20OR%20'1'='1", "Q4"):
            resp = await w.http.get(f"/quality/inspections/{path}/recording", headers=w.as_role("inspector"))
            assert resp.status in (400, 404), (path, resp.status)  # 400: a NUL (no store keeps it)
        assert asked == []
        resp = await w.http.get("/quality/inspections/q4/recording", headers=w.as_role("inspector"))
        assert resp.status == 200 and asked == ["q4"]


async def test_R18_an_inspector_reaches_only_its_own_routes(store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        await calls(w, ("q5", "1001"))
        for method, path in (("GET", "/workorders"), ("GET", "/complaints"), ("GET", "/reports/agents"),
                             ("GET", "/reports/appraisal"), ("GET", "/reports/satisfaction"),
                             ("POST", "/calls/q5/disposition"), ("GET", "/quality/mine"),
                             ("POST", "/quality/inspections/q5/reply"), ("POST", "/quality/inspections/q5/resolve")):
            resp = await w.http.request(method, path, headers=w.as_role("inspector"), json={"agent_id": "1001"})
            assert resp.status in (403, 404), (method, path, resp.status)
            if resp.status == 404:  # never the data: only "no such thing" before the role is asked
                assert "error" in json.loads(await resp.text()), (method, path)


async def test_R18_every_recording_access_is_audited_with_who_asked_even_when_refused(
        store_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def play(call_id: str, who: str) -> bytes:
        return b"RIFF"

    async with world(store_url, tmp_path, play=play) as w:
        await calls(w, ("q6", "1001"), ("q7", "1001"))
        await w.quality.pick("q6", "test")
        with caplog.at_level(logging.INFO, logger="cti.audit"):
            assert (await w.http.get("/quality/inspections/q6/recording", headers=w.as_role("inspector"))).status == 200
            assert (await w.http.get("/quality/inspections/q7/recording",
                                     headers=w.as_role("supervisor"))).status == 404  # not under inspection
            assert (await w.http.get("/quality/inspections/q6/recording",
                                     headers=w.as_role("agent:1001"))).status == 403
        said = [r.getMessage() for r in caplog.records if r.name == "cti.audit"]
        assert any("token:zhao (inspector)" in m and "played the recording of call q6" in m for m in said), said
        assert any("token:floor (supervisor)" in m and "refused the recording of call q7" in m for m in said), said
        assert any("agent:1001 (agent) refused GET /quality/inspections/q6/recording" in m for m in said), said
