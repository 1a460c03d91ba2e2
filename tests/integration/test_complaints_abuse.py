"""R16 complaints under misuse, on the real store (SQLite and PostgreSQL): feedback
calls asked twice (at once, or again while the first still rings) place one call to the
customer; a feedback call the core refuses leaves no "feedback call" in the history; a
complaint's history is bounded; numbers in its notes are masked for those who may not
see them (R14); bad steps are refused with 400 and change nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cti.orders import complaints as complaints_module
from tests.integration.test_complaints_flow import COMPLAINT, NUMBER, settings
from tests.integration.world import World, answered_call, world


async def _complaint(w: World, call_id: str) -> str:
    answered_call(w.runtime, call_id, NUMBER, "1001")
    done = await w.http.post(f"/calls/{call_id}/disposition", headers=w.as_role("agent:1001"),
                             json={"kind": "complaint", "fields": COMPLAINT})
    assert done.status == 201, await done.text()
    order_id: str = (await done.json())["order"]["order_id"]
    return order_id


async def _history(w: World, order_id: str) -> list[dict[str, object]]:
    got = await (await w.http.get(f"/complaints/{order_id}", headers=w.as_role("reader"))).json()
    history: list[dict[str, object]] = got["history"]
    return history


def _feedback_calls(w: World) -> list[str]:
    return [k.call_id for k in w.runtime.engine.calls() if k.kind == "complaint-feedback"]


async def test_R16_feedback_calls_asked_at_once_or_again_while_one_rings_place_one_call(
        store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path, orders=settings()) as w:  # type: ignore[arg-type]
        order_id = await _complaint(w, "d1")
        url = f"/complaints/{order_id}/feedback-call"
        burst = await asyncio.gather(*(w.http.post(url, headers=w.as_role("agent:1001"), json={})
                                       for _ in range(4)))
        assert sorted(r.status for r in burst) == [202, 409, 409, 409]
        (placed,) = _feedback_calls(w)
        again = await w.http.post(url, headers=w.as_role("agent:1001"), json={})  # a double click, later
        assert again.status == 409 and "under way" in (await again.json())["message"]
        assert _feedback_calls(w) == [placed]  # the customer is called once
        assert [h["call_id"] for h in await _history(w, order_id) if "call_id" in h] == [placed]


async def test_R16_a_feedback_call_the_core_refuses_is_not_in_the_history(store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path, orders=settings()) as w:  # type: ignore[arg-type]
        order_id = await _complaint(w, "d2")
        book = w.orders.complaints
        assert book is not None
        before = await _history(w, order_id)
        book._dial = lambda call_id, number, agent_id: f"agent {agent_id} is in no queue"
        refused = await w.http.post(f"/complaints/{order_id}/feedback-call", headers=w.as_role("agent:1001"),
                                    json={})
        assert refused.status == 409 and "no queue" in (await refused.json())["message"]
        assert await _history(w, order_id) == before and _feedback_calls(w) == []
        # ... and the complaint still takes steps (its step count was put back)
        step = await w.http.post(f"/complaints/{order_id}/steps", headers=w.as_role("agent:1001"),
                                 json={"status": "investigating"})
        assert step.status == 200, await step.text()


async def test_R16_a_complaints_history_is_bounded_and_it_can_still_be_closed(
        store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(complaints_module, "MAX_STEPS", 4)
    async with world(store_url, tmp_path, orders=settings()) as w:  # type: ignore[arg-type]
        order_id = await _complaint(w, "d3")  # 1 step: received
        url = f"/complaints/{order_id}/steps"
        for status, note in (("investigating", ""), ("result-given", "apology"), ("not-satisfied", "no")):
            resp = await w.http.post(url, headers=w.as_role("agent:1001"),
                                     json={"status": status, "note": note, "channel": "phone"})
            assert resp.status == 200, await resp.text()
        full = await w.http.post(url, headers=w.as_role("admin"), json={"status": "investigating"})
        assert full.status == 409 and "steps already" in (await full.json())["message"]
        fb = await w.http.post(f"/complaints/{order_id}/feedback-call", headers=w.as_role("agent:1001"), json={})
        assert fb.status in (403, 409) and _feedback_calls(w) == []
        assert len(await _history(w, order_id)) == 4
        closed = await w.http.post(url, headers=w.as_role("admin"), json={"status": "closed", "note": "ended"})
        assert closed.status == 200, await closed.text()


async def test_R14_R16_numbers_in_a_complaints_notes_are_masked_but_for_readers(
        store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path, orders=settings()) as w:  # type: ignore[arg-type]
        order_id = await _complaint(w, "d4")
        note = "customer asks to be called on 139-8765-4321 or 13812345678"
        resp = await w.http.post(f"/complaints/{order_id}/steps", headers=w.as_role("agent:1001"),
                                 json={"status": "investigating", "note": note})
        assert resp.status == 200
        assert "13987654321" not in await resp.text() and "139-8765-4321" not in await resp.text()
        for role in ("supervisor", "agent:1001"):
            for path in (f"/complaints/{order_id}", "/complaints"):
                text = await (await w.http.get(path, headers=w.as_role(role))).text()
                assert NUMBER not in text and "8765-4321" not in text, (role, path)
                assert "138****5678" in text and "139****4321" in text, (role, path)
        whole = await _history(w, order_id)
        assert whole[-1]["note"] == note  # a reader sees them whole (audited)


@pytest.mark.parametrize("body", [
    {"status": 5}, {"status": "investigating", "note": "x" * 2001}, {"status": "investigating", "note": ["a"]},
    {"status": "result-given", "note": "ok", "channel": {"a": 1}}, {"status": "no-such-step"},
    {"status": "result-given", "note": "ok", "channel": "pigeon"}, {"status": "investigating", "note": "a\u0000b"},
    {"status": "result-given", "note": "ok", "channel": "phone\u0000"}])
async def test_R16_a_bad_step_is_refused_and_changes_nothing(body: dict[str, object], store_url: str,
                                                              tmp_path: Path) -> None:
    async with world(store_url, tmp_path, orders=settings()) as w:  # type: ignore[arg-type]
        order_id = await _complaint(w, "d5")
        before = await _history(w, order_id)
        resp = await w.http.post(f"/complaints/{order_id}/steps", headers=w.as_role("agent:1001"), json=body)
        assert resp.status in (400, 409), (resp.status, await resp.text())
        assert (await resp.json())["message"]
        broken = await w.http.post(f"/complaints/{order_id}/steps", headers={
            **w.as_role("agent:1001"), "Content-Type": "application/json"}, data=b'{"status": ')
        assert broken.status == 400
        assert await _history(w, order_id) == before
        ok = await w.http.post(f"/complaints/{order_id}/steps", headers=w.as_role("agent:1001"),
                               json={"status": "investigating"})
        assert ok.status == 200
