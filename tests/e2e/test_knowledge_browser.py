"""R19's knowledge base end to end in a real browser (Debian's headless Chromium through
Selenium) against the engine on the sandbox: a supervisor writes articles on the
/knowledge page; the agent, on its desk, searches in Chinese and finds the article by a
two-character word inside its longer question, opens it (the answer shown, the open
counted in the report), and a word that is in no article finds nothing; an article
the supervisor retires is found no more."""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any

from argon2 import PasswordHasher
from selenium.webdriver.common.by import By

from tests.e2e.harness.browser import Page

FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
SUPERVISOR = ("li", "li-writes-the-knowledge-base")
PIN = "432109"
QUESTION = "天然氣表漏氣怎麼辦"
ANSWER = "立即關閉總閥，開窗通風，切勿開關電器，到戶外報修。"

CONFIG = f"""
[[queues]]
name = "support"
wrap_up_s = 0
announce_agent_id = false

[[agents]]
id = "1001"
endpoint = "PJSIP/agent1001"
queues = ["support"]
login_at_start = true
pin_hash = "{FAST.hash(PIN)}"

[[auth.accounts]]
name = "{SUPERVISOR[0]}"
role = "supervisor"
password_hash = "{FAST.hash(SUPERVISOR[1])}"
[auth]
cookie_secure = false
"""


def as_supervisor(port: int, method: str, path: str, body: Any = None) -> Any:
    token = base64.b64encode(f"{SUPERVISOR[0]}:{SUPERVISOR[1]}".encode()).decode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=None if body is None else json.dumps(body, ensure_ascii=False).encode(),
                                 headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def search(page: Page, query: str) -> None:
    page.fill("kb-q", query)
    page.click("btn-kb-search")


def found(page: Page) -> list[str]:
    """The questions listed, read in one step (the list may be redrawn while it is read)."""
    return list(page.driver.execute_script(
        "return Array.from(document.querySelectorAll('#kb-results button.kb-open')).map((b) => b.textContent)"))


def test_R19_an_agent_finds_an_article_by_a_two_character_chinese_word_on_the_desk(
        start_engine, browser) -> None:  # type: ignore[no-untyped-def]
    engine = start_engine(agents=[], extra=CONFIG)
    page = Page(browser, f"http://127.0.0.1:{engine.port}")

    # The supervisor writes the article on the knowledge base's page.
    page.open("/knowledge")
    page.sign_in(*SUPERVISOR)
    page.click("btn-kb-new")
    page.until(lambda: page.visible("kb-editor"), 5, "the editor open")
    page.fill("a-question", QUESTION)
    page.fill("a-answer", ANSWER)
    page.fill("a-kind", "fault-report")
    page.fill("a-tags", "燃氣, 安全")
    page.click("btn-kb-save")
    page.until(lambda: "Saved (version 1)" in page.text("kb-saved"), 10, "the article saved")
    page.until(lambda: QUESTION in page.text("kb-articles"), 10, "the article listed")
    page.shot("knowledge-page")
    other = as_supervisor(engine.port, "POST", "/knowledge/articles",
                          {"question": "燃氣費怎麼繳", "answer": "可在營業廳或網上繳費。", "kind": "consultation"})

    # The agent, on its desk: 「漏氣」 is found inside the longer question.
    page.driver.delete_all_cookies()
    page.open("/agent")
    page.sign_in("1001", PIN)
    page.until(lambda: page.visible("knowledge-box"), 10, "the knowledge base beside the call")
    search(page, "漏氣")
    page.until(lambda: found(page) == [QUESTION], 10, "the article found by a two-character word")
    page.driver.find_element(By.CSS_SELECTOR, "#kb-results button.kb-open").click()
    page.until(lambda: page.visible("kb-article") and page.text("kb-question") == QUESTION, 10, "the article open")
    assert "開窗通風" in page.text("kb-answer")
    page.shot("agent-desk-knowledge")
    # A word in no article finds nothing, and the page says so.
    search(page, "停電")
    page.until(lambda: page.visible("kb-none") and found(page) == [], 10, "nothing found")
    # One character finds both articles; the one with it twice in its question first.
    search(page, "氣")
    page.until(lambda: found(page) == [QUESTION, "燃氣費怎麼繳"], 10, "a one-character search")

    # The open was counted: the agent's, in the report.
    report = as_supervisor(engine.port, "GET", "/knowledge/report")
    assert [(a["question"], a["opens"]) for a in report["articles"]] == [(QUESTION, 1)]
    assert [(a["agent_id"], a["opens"]) for a in report["agents"]] == [("1001", 1)]

    # Retired by the supervisor: the desk finds it no more.
    search(page, "繳費")  # in its answer
    page.until(lambda: found(page) == ["燃氣費怎麼繳"], 10, "found by a word of its answer")
    as_supervisor(engine.port, "DELETE", f"/knowledge/articles/{other['article_id']}")
    search(page, "繳費")
    page.until(lambda: page.visible("kb-none") and found(page) == [], 10, "a retired article not found")
