"""R19's knowledge base through the engine's HTTP API on the real store (SQLite and
PostgreSQL): the search in Chinese (one-, two- and longer queries inside longer
phrases; a phrase whose pairs are there but not together is not found), Latin words in
any case, validity dates (agents never find an expired or not yet valid article,
supervisors list it), edits with their history and a stale edit refused, retiring,
cases from closed work orders (numbers masked), the opens counted and reported, the
suggestions by kind, and every bad input refused with a 400 naming the field."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cti.knowledge import http as knowledge_http
from tests.integration.world import World, world

DAY = 86400.0
NOW = 1_790_000_000.0  # 2026-09-21 (UTC), a Monday
TODAY, YESTERDAY, TOMORROW = "2026-09-21", "2026-09-20", "2026-09-22"
LEAK = {"question": "天然氣表漏氣怎麼辦", "answer": "立即關閉總閥，開窗通風，切勿開關電器，到戶外報修。",
        "kind": "fault-report", "tags": ["燃氣", "安全"]}
FEE = {"question": "燃氣費怎麼繳", "answer": "可在營業廳或網上繳費。", "kind": "consultation"}
METER = {"question": "Gas meter reading", "answer": "We read the METER every month; a photo of it is fine too.",
         "kind": "consultation", "tags": ["Billing"]}


@contextlib.asynccontextmanager
async def kb_world(store_url: str, tmp: Path, clock: list[float]) -> AsyncIterator[World]:
    """The leader's app (``world``), the knowledge base's clock at ``clock[0]``."""
    async with world(store_url, tmp) as w:
        w.http.server.app[knowledge_http.KNOWLEDGE].get().clock = lambda: clock[0]
        yield w


async def call(w: World, method: str, path: str, role: str, body: Any = None, status: int = 200) -> Any:
    resp = await w.http.request(method, path, headers=w.as_role(role), json=body)
    assert resp.status == status, (method, path, role, resp.status, await resp.text())
    return await resp.json()


async def add(w: World, article: dict[str, Any]) -> str:
    return str((await call(w, "POST", "/knowledge/articles", "supervisor", article, 201))["article_id"])


async def questions(w: World, query: str, role: str = "agent:1001", **more: str) -> list[str]:
    found = await call(w, "GET", "/knowledge/search?" + "&".join(f"{k}={v}" for k, v in {"q": query, **more}.items()),
                       role)
    return [a["question"] for a in found]


async def test_R19_a_chinese_search_finds_one_two_and_longer_words_inside_phrases_and_latin_words_in_any_case(
        store_url: str, tmp_path: Path) -> None:
    async with kb_world(store_url, tmp_path, [NOW]) as w:
        for article in (LEAK, FEE, METER):
            await add(w, article)
        # Two characters inside a longer phrase (most Chinese words): a trigram index misses these.
        assert await questions(w, "漏氣") == [LEAK["question"]]
        assert sorted(await questions(w, "怎麼")) == sorted([FEE["question"], LEAK["question"]])
        # One character: every article that has it, the one with more in its question first.
        assert await questions(w, "氣") == [LEAK["question"], FEE["question"]]
        # Three and more: every pair required, and the phrase itself.
        assert await questions(w, "氣表漏氣") == [LEAK["question"]]
        assert await questions(w, "開窗通風") == [LEAK["question"]]  # in the answer
        assert await questions(w, "漏氣表") == []  # its pairs are in LEAK, but not as this phrase
        assert await questions(w, "停電") == [] and await questions(w, "水") == []  # in no article
        # Latin words: whole, in any case; two pieces each found.
        assert await questions(w, "gas") == [METER["question"]] == await questions(w, "METER")
        assert await questions(w, "Meter%20photo") == [METER["question"]]
        assert await questions(w, "billing") == [METER["question"]]  # a tag
        assert await questions(w, "met") == []  # no prefix of a word
        # A tag is searched as the question is; a kind narrows the search.
        assert await questions(w, "安全") == [LEAK["question"]]
        assert await questions(w, "氣", kind="consultation") == [FEE["question"]]
        # What a search lists: the question, not the answer (opening it counts).
        (listed,) = await call(w, "GET", "/knowledge/search?q=%E6%BC%8F%E6%B0%A3", "agent:1001")
        assert "answer" not in listed and listed["current"] is True and listed["source"] == "article"


async def test_R19_an_expired_or_not_yet_valid_article_is_not_found_by_agents_and_supervisors_list_it(
        store_url: str, tmp_path: Path) -> None:
    clock = [NOW]
    async with kb_world(store_url, tmp_path, clock) as w:
        expired = await add(w, {**LEAK, "valid_to": YESTERDAY})
        coming = await add(w, {**LEAK, "question": "新版天然氣表漏氣處理", "valid_from": TOMORROW})
        today = await add(w, {**LEAK, "question": "今天有效的漏氣說明", "valid_from": TODAY, "valid_to": TODAY})
        assert await questions(w, "漏氣") == ["今天有效的漏氣說明"]
        for role in ("supervisor", "reader"):
            found = await call(w, "GET", "/knowledge/search?q=%E6%BC%8F%E6%B0%A3", role)
            assert {a["article_id"]: a["current"] for a in found} == {expired: False, coming: False, today: True}
        await call(w, "GET", f"/knowledge/articles/{expired}", "agent:1001", status=404)
        await call(w, "GET", f"/knowledge/articles/{coming}", "agent:1001", status=404)
        assert (await call(w, "GET", f"/knowledge/articles/{expired}", "supervisor"))["current"] is False
        assert [a["article_id"] for a in await call(w, "GET", "/knowledge/suggested?kind=fault-report",
                                                    "agent:1001")] == [today]
        clock[0] = NOW + DAY  # tomorrow: the coming one is valid, today's is not any more
        assert await questions(w, "漏氣") == ["新版天然氣表漏氣處理"]


async def test_R19_supervisors_edit_and_retire_articles_with_their_history_and_a_stale_edit_is_refused(
        store_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = [NOW]
    caplog.set_level(logging.INFO, logger="cti.audit")
    async with kb_world(store_url, tmp_path, clock) as w:
        article_id = await add(w, LEAK)
        for role in ("agent:1001", "reader"):  # only supervisors write
            await call(w, "POST", "/knowledge/articles", role, LEAK, 403)
            await call(w, "PUT", f"/knowledge/articles/{article_id}", role, LEAK, 403)
            await call(w, "DELETE", f"/knowledge/articles/{article_id}", role, None, 403)
        clock[0] = NOW + 60
        edited = await call(w, "PUT", f"/knowledge/articles/{article_id}", "supervisor",
                            {**LEAK, "question": "燃氣表有異味怎麼辦", "version": 1})
        assert edited["version"] == 2 and edited["updated_by"] == "token:floor"
        assert await questions(w, "漏氣表") == [] and await questions(w, "異味") == ["燃氣表有異味怎麼辦"]
        assert await questions(w, "漏氣") == []  # the old question is no longer indexed
        # Someone else's edit from version 1: refused, nothing overwritten.
        await call(w, "PUT", f"/knowledge/articles/{article_id}", "supervisor", {**LEAK, "version": 1}, 409)
        got = await call(w, "GET", f"/knowledge/articles/{article_id}", "supervisor")
        assert got["question"] == "燃氣表有異味怎麼辦"
        assert [(h["version"], h["action"], h["question"]) for h in got["history"]] == [
            (2, "edited", "燃氣表有異味怎麼辦"), (1, "created", LEAK["question"])]
        assert "history" not in await call(w, "GET", f"/knowledge/articles/{article_id}", "agent:1001")
        # Retired: nobody finds it, an agent cannot open it, it is not edited any more.
        retired = await call(w, "DELETE", f"/knowledge/articles/{article_id}", "supervisor")
        assert retired["retired_by"] == "token:floor"
        assert await questions(w, "異味") == [] == await questions(w, "異味", role="supervisor")
        await call(w, "GET", f"/knowledge/articles/{article_id}", "agent:1001", status=404)
        await call(w, "PUT", f"/knowledge/articles/{article_id}", "supervisor", LEAK, 404)
        await call(w, "DELETE", f"/knowledge/articles/{article_id}", "supervisor", None, 404)
        kept = await call(w, "GET", f"/knowledge/articles/{article_id}", "supervisor")
        assert [h["action"] for h in kept["history"]] == ["retired", "edited", "created"]
    audited = [r.getMessage() for r in caplog.records if r.name == "cti.audit" and " knowledge article " in r.getMessage()
               and "refused" not in r.getMessage()]
    assert [m.split(" knowledge ")[0] for m in audited] == ["token:floor created", "token:floor edited",
                                                             "token:floor retired"]


async def test_R19_a_closed_order_becomes_a_case_without_the_customers_numbers(
        store_url: str, tmp_path: Path) -> None:
    async with kb_world(store_url, tmp_path, [NOW]) as w:
        call_ = {"call_id": "k1", "caller": "13812345678", "arrived_at": NOW - 120}
        _, order = await w.orders.dispose(call_, "1001", "fault-report", {
            "customer_name": "王小明", "address": "北區 1 號", "contact_number": "13812345678",
            "content": "燃氣表漏氣，請回電 13812345678", "occurred_at": "今晨", "urgency": "normal",
            "region": "south"}, "agent:1001")
        assert order is not None
        await call(w, "POST", "/knowledge/cases", "supervisor", {"order_id": order.order_id}, 409)  # still open
        await w.orders.progress(order.order_id, "accepted", "", "token:service")
        await w.orders.progress(order.order_id, "done", "更換表前閥，已告知客戶 139-1234-5678 試用", "token:service")
        await call(w, "POST", "/knowledge/cases", "agent:1001", {"order_id": order.order_id}, 403)
        case = await call(w, "POST", "/knowledge/cases", "supervisor",
                          {"order_id": order.order_id, "tags": ["表前閥"]}, 201)
        assert case["source"] == "case" and case["order_id"] == order.order_id and case["kind"] == "fault-report"
        assert case["question"] == "燃氣表漏氣，請回電 138****5678"
        assert case["answer"] == "done: 更換表前閥，已告知客戶 139****5678 試用"
        kept = json.dumps(await call(w, "GET", f"/knowledge/articles/{case['article_id']}", "reader"),
                          ensure_ascii=False)  # a reader sees numbers in full: none are kept
        assert "13812345678" not in kept and "1234-5678" not in kept
        assert await questions(w, "表前閥") == [case["question"]]
        await call(w, "POST", "/knowledge/cases", "supervisor", {"order_id": order.order_id}, 409)  # once
        await call(w, "POST", "/knowledge/cases", "supervisor", {"order_id": "wo-none"}, 404)


async def test_R19_agents_opens_are_counted_reported_and_order_the_suggestions(
        store_url: str, tmp_path: Path) -> None:
    clock = [NOW]
    async with kb_world(store_url, tmp_path, clock) as w:
        leak = await add(w, LEAK)
        clock[0] += 1
        smell = await add(w, {**LEAK, "question": "燃氣有異味怎麼辦"})
        fee = await add(w, FEE)
        # The newest first while nothing is opened.
        assert [a["article_id"] for a in await call(w, "GET", "/knowledge/suggested?kind=fault-report",
                                                    "agent:1001")] == [smell, leak]
        for agent, article in (("1001", leak), ("1001", leak), ("1002", leak), ("1002", fee)):
            opened = await call(w, "GET", f"/knowledge/articles/{article}", f"agent:{agent}")
            assert opened["answer"]  # the answer comes with the open
        await call(w, "GET", f"/knowledge/articles/{smell}", "supervisor")  # not an agent's: not counted
        clock[0] = NOW + DAY
        await call(w, "GET", f"/knowledge/articles/{smell}", "agent:1001")  # tomorrow
        suggested = await call(w, "GET", "/knowledge/suggested?kind=fault-report", "agent:1002")
        assert [(a["article_id"], a["opens"]) for a in suggested] == [(leak, 3), (smell, 1)]
        report = await call(w, "GET", f"/knowledge/report?from={TODAY}&to={TODAY}", "supervisor")
        assert [(a["article_id"], a["opens"], a["agents"]) for a in report["articles"]] == [(leak, 3, 2), (fee, 1, 1)]
        assert [(a["agent_id"], a["opens"], a["articles"]) for a in report["agents"]] == [("1001", 2, 1),
                                                                                          ("1002", 2, 2)]
        both = await call(w, "GET", f"/knowledge/report?from={TODAY}&to={TOMORROW}", "reader")
        assert {a["article_id"]: a["opens"] for a in both["articles"]} == {leak: 3, fee: 1, smell: 1}
        await call(w, "GET", "/knowledge/report", "agent:1001", status=403)
        await call(w, "GET", f"/knowledge/report?from={TOMORROW}&to={TODAY}", "supervisor", status=400)
        await call(w, "GET", "/knowledge/report?from=2026-9-1", "supervisor", status=400)


async def test_R19_every_bad_input_is_refused_with_a_400_naming_the_field(store_url: str, tmp_path: Path) -> None:
    async with kb_world(store_url, tmp_path, [NOW]) as w:
        article_id = await add(w, LEAK)
        for body, field in (({**LEAK, "answers": "x"}, "answers"), ({**LEAK, "question": "  "}, "question"),
                            ({**LEAK, "question": "問" * 501}, "question"), ({**LEAK, "answer": ["x"]}, "answer"),
                            ({**LEAK, "answer": "答" * 20_001}, "answer"), ({**LEAK, "tags": ["x"] * 21}, "tags"),
                            ({**LEAK, "tags": ["標" * 41]}, "tags"), ({**LEAK, "tags": [1]}, "tags"),
                            ({**LEAK, "kind": "k" * 65}, "kind"), ({**LEAK, "kind": 3}, "kind"),
                            ({**LEAK, "valid_from": "21/09/2026"}, "valid_from"),
                            ({**LEAK, "valid_from": TODAY, "valid_to": YESTERDAY}, "valid_to")):
            refused = await call(w, "POST", "/knowledge/articles", "supervisor", body, 400)
            assert list(refused["fields"]) == [field], (body, refused)
        refused = await call(w, "PUT", f"/knowledge/articles/{article_id}", "supervisor", {**LEAK, "version": "2"}, 400)
        assert refused["fields"] == {"version": "invalid"}
        assert (await call(w, "POST", "/knowledge/articles", "supervisor", {**LEAK, "answer": "關\u0000閥"},
                           400))["error"] == "bad-request"
        for body in ({}, {"order_id": 7}, {"order_id": "x", "note": "y"}, {"order_id": "x" * 129}):
            await call(w, "POST", "/knowledge/cases", "supervisor", body, 400)
        for query in ("q=" + "漏" * 101, "q=x&limit=0", "q=x&limit=101", "q=x&limit=ten", "kind=" + "k" * 65):
            await call(w, "GET", f"/knowledge/search?{query}", "agent:1001", status=400)
        await call(w, "GET", "/knowledge/suggested", "agent:1001", status=400)  # the kind is required
        await call(w, "GET", "/knowledge/search?q=%00", "agent:1001", status=400)
        # Nothing of the refused requests was written.
        assert [a["article_id"] for a in await call(w, "GET", "/knowledge/search", "supervisor")] == [article_id]
