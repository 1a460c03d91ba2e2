"""R19 customer records through the engine's HTTP API on the real store (SQLite and
PostgreSQL): created and matched from dispositions (by the caller, the contact number,
the account id; one record from a burst of dispositions), edited by an agent with the
history kept, merged by a supervisor, searched with numbers masked per role (R14),
every read audited with who asked (but the call's agent's own screen pop), purged by
the retention rules unless an order is open."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from acd import events as e
from cti.customers.service import MONTH_S, Customers
from tests.integration.world import World, answered_call, world

FIRST, SECOND, OTHER = "13812345678", "13998765432", "13700001111"
ADDRESS = {"customer_name": "王小明", "address": "北區 1 號", "region": "north", "account_id": "M-20931"}


@contextlib.asynccontextmanager
async def customers_world(store_url: str, tmp: Path) -> AsyncIterator[tuple[World, Customers]]:
    """The leader's app (R19 wired as the leader wires it: the records learn from each
    disposition; a record's refusal reaches the do-not-call list)."""
    async with world(store_url, tmp) as w:
        yield w, w.customers


async def dispose(w: World, call_id: str, caller: str, kind: str, fields: dict[str, str],
                  agent: str = "1001") -> dict[str, Any]:
    if w.runtime.engine.agent(agent).state == "wrap-up":
        w.runtime.apply(e.AgentReady(agent, w.runtime.clock()))
    answered_call(w.runtime, call_id, caller, agent)
    await w.history.flush()
    resp = await w.http.post(f"/calls/{call_id}/disposition", headers=w.as_role(f"agent:{agent}"),
                             json={"kind": kind, "fields": fields})
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def found(w: World, role: str, **query: str) -> list[dict[str, Any]]:
    resp = await w.http.get("/customers", headers=w.as_role(role), params=query)
    assert resp.status == 200, await resp.text()
    return list(await resp.json())


async def test_R19_records_are_created_and_matched_from_dispositions_by_number_or_account(
        store_url: str, tmp_path: Path) -> None:
    async with customers_world(store_url, tmp_path) as (w, customers):
        # A first disposition makes the record: name, address with region, both numbers, account.
        await dispose(w, "k1", FIRST, "fault-report", {**ADDRESS, "contact_number": SECOND, "content": "漏氣", "occurred_at": "7:00",
                                                        "urgency": "high"})
        [record] = await found(w, "reader", number=FIRST)
        assert record["name"] == "王小明" and record["account_id"] == "M-20931"
        assert record["addresses"] == [{"address": "北區 1 號", "region": "north"}]
        assert [n["number"] for n in record["numbers"]] == [FIRST, SECOND]
        # Matched by the caller (the second number, written as the trunk may: +86 ...).
        await dispose(w, "k2", "+86 139-9876-5432", "consultation", {"content": "bill"})
        # Matched by the contact number (a hidden caller).
        await dispose(w, "k3", "anonymous", "consultation", {"contact_number": "0086 13812345678", "content": "again"})
        # Matched by the account id alone (a new number: added to the record).
        await dispose(w, "k4", OTHER, "consultation", {"account_id": "M-20931", "content": "meter"})
        [again] = await found(w, "reader", name="王小明")
        assert again["customer_id"] == record["customer_id"]
        assert {n["number"] for n in again["numbers"]} == {FIRST, SECOND, OTHER}
        whole = await customers.whole(record["customer_id"])
        assert {c["call_id"] for c in whole["calls"]} >= {"k1", "k2", "k3", "k4"}
        assert [o["kind"] for o in whole["orders"]] == ["fault-report"]
        # A disposition naming no number and no account makes no record.
        await dispose(w, "k5", "anonymous", "consultation", {"content": "who?"})
        assert len(await found(w, "reader", address="北區")) == 1
        rows = await w.db.do(lambda sql: sql.rows("SELECT COUNT(*) AS n FROM customers"))
        assert rows[0]["n"] == 1


async def test_R19_a_burst_of_parallel_dispositions_of_one_customer_makes_one_record(
        store_url: str, tmp_path: Path) -> None:
    async with customers_world(store_url, tmp_path) as (w, customers):
        calls = [f"b{i}" for i in range(8)]
        for call_id in calls:  # ended calls of one caller, each waiting for its disposition
            if w.runtime.engine.agent("1001").state == "wrap-up":
                w.runtime.apply(e.AgentReady("1001", w.runtime.clock()))
            answered_call(w.runtime, call_id, FIRST, "1001")
        await w.history.flush()
        signed = await (await w.http.post("/auth/login", json={"name": "1001", "secret": "123456"})).json()
        bearer = {"Authorization": f"Bearer {signed['token']}"}  # (a PIN is checked one at a time)
        answers = await asyncio.gather(*(w.http.post(
            f"/calls/{k}/disposition", headers=bearer,
            json={"kind": "consultation", "fields": {"customer_name": "李四", "contact_number": SECOND,
                                                     "content": "x"}}) for k in calls))
        assert [a.status for a in answers] == [201] * len(calls), [await a.text() for a in answers]
        rows = await w.db.do(lambda sql: sql.rows("SELECT customer_id FROM customers"))
        assert len(rows) == 1
        links = await w.db.do(lambda sql: sql.rows("SELECT call_id FROM customer_links"))
        assert sorted(r["call_id"] for r in links) == sorted(calls)


async def test_R19_an_agent_edits_a_record_and_its_history_is_kept_and_consent_reaches_do_not_call(
        store_url: str, tmp_path: Path) -> None:
    async with customers_world(store_url, tmp_path) as (w, customers):
        await dispose(w, "k1", FIRST, "consultation", {**ADDRESS, "content": "hello"})
        [record] = await found(w, "reader", number=FIRST)
        path = f"/customers/{record['customer_id']}"
        change = {"name": "王曉明", "numbers": [FIRST, "139 9876 5432"], "notes": "prefers mornings",
                  "addresses": [{"address": "南區 2 號", "region": "south"}], "calls_allowed": False}
        resp = await w.http.patch(path, headers=w.as_role("agent:1001"), json=change)
        assert resp.status == 200, await resp.text()
        got = await (await w.http.get(path, headers=w.as_role("admin"))).json()
        assert got["name"] == "王曉明" and got["calls_allowed"] is False
        assert [n["number"] for n in got["numbers"]] == [FIRST, SECOND]
        edited = next(h for h in got["history"] if h["what"] == "edited")
        assert edited["who"] == "agent:1001" and edited["changes"]["name"] == ["王小明", "王曉明"]
        assert edited["changes"]["addresses"][0] == [{"address": "北區 1 號", "region": "north"}]
        # The refusal takes effect: both numbers on the do-not-call list; allowed again, off it.
        assert w.visits.blocked(FIRST) and w.visits.blocked(SECOND)
        assert (await w.http.patch(path, headers=w.as_role("agent:1001"), json={"calls_allowed": True})).status == 200
        assert not w.visits.blocked(FIRST) and not w.visits.blocked(SECOND)
        # Refused inputs: a clear 400 each; a number of another record: 409.
        for bad in ({"nickname": "x"}, {"name": 5}, {"name": "x" * 201}, {"notes": "a\u0000b"},
                    {"numbers": ["not a number"]}, {"numbers": "13812345678"}, {"calls_allowed": "no"},
                    {"addresses": [{"address": "x", "floor": "3"}]}, {}):
            resp = await w.http.patch(path, headers=w.as_role("agent:1001"), json=bad)
            assert resp.status == 400, (bad, resp.status)
        await dispose(w, "k2", OTHER, "consultation", {"customer_name": "張三", "content": "x"})
        resp = await w.http.patch(path, headers=w.as_role("agent:1001"), json={"numbers": [FIRST, OTHER]})
        assert resp.status == 409 and "merge" in (await resp.json())["message"]
        assert (await w.http.patch(path, headers=w.as_role("reader"), json={"name": "x"})).status == 403
        assert (await w.http.patch("/customers/c-nope", headers=w.as_role("agent:1001"),
                                   json={"name": "x"})).status == 404


async def test_R19_a_supervisor_merges_two_records_of_one_person_and_an_agent_cannot(
        store_url: str, tmp_path: Path) -> None:
    async with customers_world(store_url, tmp_path) as (w, customers):
        await dispose(w, "k1", FIRST, "fault-report", {**ADDRESS, "contact_number": FIRST, "content": "漏氣", "occurred_at": "7:00",
                                                        "urgency": "high"})
        await dispose(w, "k2", SECOND, "consultation", {"customer_name": "王小明", "address": "南區 2 號",
                                                        "region": "south", "content": "x"})
        [kept] = await found(w, "reader", number=FIRST)
        [gone] = await found(w, "reader", number=SECOND)
        assert kept["customer_id"] != gone["customer_id"]
        await w.http.patch(f"/customers/{gone['customer_id']}", headers=w.as_role("agent:1002"),
                           json={"notes": "second phone"})
        url = f"/customers/{gone['customer_id']}/merge"
        assert (await w.http.post(url, headers=w.as_role("agent:1001"),
                                  json={"into": kept["customer_id"]})).status == 403
        assert (await w.http.post(url, headers=w.as_role("supervisor"), json={"to": "x"})).status == 400
        resp = await w.http.post(url, headers=w.as_role("supervisor"), json={"into": kept["customer_id"]})
        assert resp.status == 200, await resp.text()
        whole = await customers.whole(kept["customer_id"])
        assert [n["number"] for n in whole["numbers"]] == [FIRST, SECOND]
        assert {a["address"] for a in whole["addresses"]} == {"北區 1 號", "南區 2 號"}
        assert whole["notes"] == "second phone"
        assert {c["call_id"] for c in whole["calls"]} >= {"k1", "k2"}
        assert {h["what"] for h in whole["history"]} >= {"created", "edited", "merged"}
        # The merged one answers with where it went; a search finds only the one kept.
        resp = await w.http.get(f"/customers/{gone['customer_id']}", headers=w.as_role("reader"),
                                allow_redirects=False)
        assert resp.status == 301 and resp.headers["Location"] == f"/customers/{kept['customer_id']}"
        assert (await resp.json())["merged_into"] == kept["customer_id"]
        assert [c["customer_id"] for c in await found(w, "reader", name="王小明")] == [kept["customer_id"]]
        assert (await w.http.patch(f"/customers/{gone['customer_id']}", headers=w.as_role("agent:1001"),
                                   json={"name": "x"})).status == 409
        assert (await w.http.post(url, headers=w.as_role("supervisor"),
                                  json={"into": kept["customer_id"]})).status == 409


async def test_R19_search_masks_numbers_per_role_and_every_read_is_audited(
        store_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with customers_world(store_url, tmp_path) as (w, customers):
        await dispose(w, "k1", FIRST, "consultation", {**ADDRESS, "contact_number": SECOND, "content": "x"})
        [record] = await found(w, "reader", number=FIRST)
        await w.http.patch(f"/customers/{record['customer_id']}", headers=w.as_role("agent:1001"),
                           json={"notes": f"call back on {OTHER} after 6", "name": f"王小明 {OTHER}"})
        for role in ("reader", "admin"):
            text = json.dumps(await found(w, role, name="王"), ensure_ascii=False)
            assert FIRST in text and SECOND in text and OTHER in text
        for role in ("supervisor", "agent:1002"):
            for query in ({"number": "5678"}, {"name": "王小明"}, {"address": "北區"}, {"account": "M-209"}):
                hits = await found(w, role, **query)
                assert [h["customer_id"] for h in hits] == [record["customer_id"]], (role, query)
                text = json.dumps(hits, ensure_ascii=False)
                for number in (FIRST, SECOND, OTHER):
                    assert number not in text, (role, query, number)
                assert "138****5678" in text and "137****1111" in text
            got = await (await w.http.get(f"/customers/{record['customer_id']}", headers=w.as_role(role))).json()
            assert FIRST not in json.dumps(got) and got["calls"][0]["caller"] == "138****5678"
        assert await found(w, "reader", number="0000") == []
        for bad in ({}, {"number": "12"}, {"nick": "x"}, {"name": "x" * 201}, {"name": "a", "limit": "0"},
                    {"name": "a", "limit": "x"}):
            resp = await w.http.get("/customers", headers=w.as_role("reader"), params=bad)
            assert resp.status == 400, bad
        for role in ("department", "inspector"):
            assert (await w.http.get("/customers", headers=w.as_role(role), params={"name": "王"})).status == 403

        # Audit: a search and a read name who asked; the call's own agent's screen pop is not audited,
        # a supervisor reading that agent's desk is.
        if w.runtime.engine.agent("1001").state == "wrap-up":
            w.runtime.apply(e.AgentReady("1001", w.runtime.clock()))
        answered_call(w.runtime, "k9", SECOND, "1001", hang_up=False)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="cti.audit"):
            own = await (await w.http.get("/desk/1001", headers=w.as_role("agent:1001"))).json()
            assert not [r for r in caplog.records if "customer record" in r.getMessage()]
            assert own["customer"]["customer_id"] == record["customer_id"]
            assert own["customer"]["matched"] == SECOND and SECOND in json.dumps(own["customer"])
            watched = await (await w.http.get("/desk/1001", headers=w.as_role("supervisor"))).json()
            assert SECOND not in json.dumps(watched["customer"])
            await found(w, "agent:1002", account="M-20931")
            await w.http.get(f"/customers/{record['customer_id']}", headers=w.as_role("reader"))
        lines = [r.getMessage() for r in caplog.records if r.name == "cti.audit" and " read " in r.getMessage()]
        assert any(line.startswith("token:floor (supervisor)") and "desk of agent 1001" in line for line in lines), lines
        assert any(line.startswith("agent:1002 (agent)") and "customer records found" in line for line in lines)
        assert any(line.startswith("token:quality (reader)") and record["customer_id"] in line for line in lines)


async def test_R19_retention_purges_old_records_with_their_history_but_keeps_one_with_an_open_order(
        store_url: str, tmp_path: Path) -> None:
    async with customers_world(store_url, tmp_path) as (w, customers):
        await dispose(w, "k1", FIRST, "fault-report", {**ADDRESS, "contact_number": FIRST, "content": "漏氣", "occurred_at": "7:00",
                                                        "urgency": "high"})
        await dispose(w, "k2", OTHER, "consultation", {"customer_name": "張三", "content": "x"})
        [open_one] = await found(w, "reader", number=FIRST)
        [old_one] = await found(w, "reader", number=OTHER)
        later = w.runtime.clock() + 7 * MONTH_S  # past the 6 months
        assert await customers.purge(w.runtime.clock()) == 0  # nothing old yet
        # The call records are purged by their own retention first (as the orders' loop does).
        await w.db.do(lambda sql: sql.run("DELETE FROM call_records"))
        assert await customers.purge(later) == 1
        assert await found(w, "reader", number=OTHER) == []
        left = await w.db.do(lambda sql: sql.rows(
            "SELECT COUNT(*) AS n FROM customer_history WHERE customer_id = ?", (old_one["customer_id"],)))
        assert left[0]["n"] == 0
        # The one with an open work order stays; once closed and old, it goes too.
        assert [c["customer_id"] for c in await found(w, "reader", number=FIRST)] == [open_one["customer_id"]]
        await w.db.do(lambda sql: sql.run("UPDATE work_orders SET status = 'closed'"))
        assert await customers.purge(later + 1) == 1
        assert await found(w, "reader", number=FIRST) == []


async def test_R19_a_number_searched_for_is_masked_in_the_audit_line(
        store_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with customers_world(store_url, tmp_path) as (w, _):
        with caplog.at_level(logging.INFO, logger="cti.audit"):
            assert await found(w, "reader", number=FIRST) == []
        lines = [r.getMessage() for r in caplog.records if r.name == "cti.audit"]
        assert any("138****5678" in line for line in lines) and not any(FIRST in line for line in lines), lines
