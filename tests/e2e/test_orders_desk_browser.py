"""R20 on the agent desk in a real browser (Debian's headless Chromium through Selenium)
against the engine on the sandbox: an order taken at the service hall with no call (the
walk-in button), read back to the customer before it is recorded (the facts listed
follow the form, a correction is required to say "corrected"), stored with the
channel, the agent, and what the customer corrected; then the department delays that
order, and its owner's desk shows the task to tell the customer, live, until the agent
records it done."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.support.ui import Select

from tests.e2e.harness import ADMIN_TOKEN, Engine, Webhook
from tests.e2e.harness.browser import Page
from tests.e2e.test_auth import basic, call
from tests.e2e.test_desk_browser import DEPARTMENT_TOKEN, desk_config

PIN = "432109"
ADMIN = f"Bearer {ADMIN_TOKEN}"
FIRST_ADDRESS = "北區和平路 1 號"
ADDRESS = "北區和平路 11 號 2 樓"  # what the customer corrected it to
CONTACT = "0223456789"
CORRECTION = "門牌是 11 號 2 樓，不是 1 號"


def read_back_facts(page: Page) -> dict[str, str]:
    """The read-back panel's facts (label -> value), read in one script (redrawn on input)."""
    pairs = page.driver.execute_script(
        "return [...document.querySelectorAll('#read-back-facts dt')]"
        ".map((dt) => [dt.textContent, dt.nextElementSibling ? dt.nextElementSibling.textContent : null]);")
    return {str(k): str(v) for k, v in pairs}


def is_stale(element: Any) -> bool:
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    return False


def click_fresh(page: Page, selector: str) -> bool:
    """Click what ``selector`` finds now; False when the live desk redrew it between
    the find and the click (a whole run's flake: a stale element)."""
    try:
        page.driver.find_element("css selector", selector).click()
    except StaleElementReferenceException:
        return False
    return True


def outcome_typed(page: Page, row: str) -> str:
    return str(page.driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.value : null;", f"#{row} .task-outcome"))


def order_of(page: Page) -> str:
    return next(w for w in page.text("dispose-result").split() if w.startswith("WO-"))


def walk_in_fault_report(page: Page, address: str) -> None:
    """The agent starts an order without a call at the service hall: a fault report."""
    page.until(lambda: page.el("btn-walkin").is_enabled(), 10, "the walk-in button enabled (no call)")
    page.click("btn-walkin")
    page.until(lambda: page.visible("walkin-bar"), 5, "the walk-in bar")
    Select(page.el("walkin-channel")).select_by_value("hall")
    Select(page.el("f-kind")).select_by_value("fault-report")
    for field, value in (("customer_name", "陳大文"), ("address", address), ("contact_number", CONTACT),
                         ("content", "熱水器點不著火，有焦味"), ("occurred_at", "昨晚 9 時"), ("region", "north")):
        page.fill(f"f-{field}", value)
    Select(page.el("f-urgency")).select_by_value("high")


def signed_in_desk(browser: Any, port: int) -> Page:
    page = Page(browser, f"http://127.0.0.1:{port}")
    page.open("/agent")
    page.sign_in("1001", PIN)
    page.until(lambda: "Logged out" in page.text("state"), 10, "the agent's desk, no call")
    assert page.visible("no-call")
    return page


def test_R20_a_walk_in_order_is_read_back_corrected_and_stored_without_a_call(
        start_engine: Callable[..., Engine], browser: Any) -> None:
    department = Webhook()
    try:
        engine = start_engine(agents=[], extra=desk_config(department.url))
        page = signed_in_desk(browser, engine.port)
        walk_in_fault_report(page, FIRST_ADDRESS)
        page.click("btn-dispose")
        # The first submit sends nothing: it shows the key facts to read to the customer.
        page.until(lambda: page.visible("read-back"), 5, "the read-back panel")
        facts = read_back_facts(page)
        assert facts.get("Address") == FIRST_ADDRESS and facts.get("Contact number") == CONTACT, facts
        assert facts.get("Customer name") == "陳大文", facts
        assert call(engine.port, "GET", "/workorders", ADMIN) == (200, [])
        # The customer says the address is wrong: changed while the panel is shown, the
        # facts listed follow the form (they are read again).
        page.fill("f-address", ADDRESS)
        page.until(lambda: read_back_facts(page).get("Address") == ADDRESS, 5, "the corrected address listed")
        assert FIRST_ADDRESS not in read_back_facts(page).values()
        assert page.visible("read-back")
        # "Corrected" needs what was corrected: the box is marked, nothing is sent.
        page.click("btn-read-corrected")
        page.until(lambda: "invalid" in (page.el("f-corrections").get_attribute("class") or ""), 5,
                   "the empty corrections box marked")
        assert page.visible("read-back") and "WO-" not in page.text("dispose-result")
        assert call(engine.port, "GET", "/workorders", ADMIN) == (200, [])
        page.fill("f-corrections", CORRECTION)
        page.click("btn-read-corrected")
        page.until(lambda: "WO-" in page.text("dispose-result"), 10, "the walk-in's work order")
        order_id = order_of(page)
        assert "north-repair" in page.text("dispose-result")
        assert not page.visible("read-back") and not page.visible("walkin-bar")
        assert page.el("f-address").get_attribute("value") == ""  # the form is clear for the next one

        status, order = call(engine.port, "GET", f"/workorders/{order_id}", ADMIN)
        assert status == 200, order
        assert order["channel"] == "hall" and order["agent_id"] == "1001" and order["call_id"] == "", order
        assert order["kind"] == "fault-report" and order["department"] == "north-repair", order
        fields = order["fields"]
        assert fields["read_back"] == "corrected" and fields["corrections"] == CORRECTION, fields
        assert fields["address"] == ADDRESS and fields["contact_number"] == CONTACT, fields
        assert fields["customer_name"] == "陳大文" and fields["urgency"] == "high", fields
        assert [o["order_id"] for o in call(engine.port, "GET", "/workorders", ADMIN)[1]] == [order_id]
        page.shot("desk-walk-in-order")
    finally:
        department.close()


def test_R20_a_delay_gives_the_owner_a_task_on_the_desk_live_recorded_done(
        start_engine: Callable[..., Engine], browser: Any, tmp_path: Path) -> None:
    department = Webhook()
    try:
        engine = start_engine(agents=[], extra=desk_config(department.url))
        page = signed_in_desk(browser, engine.port)
        assert not page.visible("tasks-box")
        # A walk-in order, read back and confirmed as it was typed.
        walk_in_fault_report(page, ADDRESS)
        page.click("btn-dispose")
        page.until(lambda: page.visible("read-back"), 5, "the read-back panel")
        page.click("btn-read-confirmed")
        page.until(lambda: "WO-" in page.text("dispose-result"), 10, "the walk-in's work order")
        order_id = order_of(page)
        order = call(engine.port, "GET", f"/workorders/{order_id}", ADMIN)[1]
        assert order["fields"]["read_back"] == "confirmed" and "corrections" not in order["fields"], order
        assert order["agent_id"] == "1001" and order["channel"] == "hall", order

        # The department (its own token) reports a delay: the owner is to tell the customer.
        due = (datetime.now(timezone.utc) + timedelta(days=1)).replace(microsecond=0).isoformat()
        assert due.endswith("+00:00")
        status, delayed = call(engine.port, "POST", f"/workorders/{order_id}/steps", f"Bearer {DEPARTMENT_TOKEN}",
                               {"step": "delay", "reason": "零件缺貨", "due_at": due})
        assert status == 200, delayed
        (task,) = call(engine.port, "GET", "/tasks", basic("1001", PIN))[1]
        assert task["order_id"] == order_id and task["agent_id"] == "1001", task
        # On the desk, with no reload: the live stream brings it.
        row = f"task-{task['task_id']}"
        page.until(lambda: page.visible(row), 10, "the task on the owner's desk, live")
        assert page.visible("tasks-box")
        assert order_id in page.text(row) and "零件缺貨" in page.text(row), page.text(row)

        # What the customer said, then done: the task leaves the desk and the agent's list.
        outcome = "已致電告知客戶，客戶同意改期"
        field = page.driver.find_element("css selector", f"#{row} .task-outcome")
        field.send_keys(outcome)
        # Meanwhile the desk reads its data again (the agent logs in; the department
        # accepts the order): what the agent typed is still there when it clicks done.
        page.click("btn-ready")
        status, _ = call(engine.port, "POST", f"/workorders/{order_id}/steps", f"Bearer {DEPARTMENT_TOKEN}",
                         {"step": "accept"})
        assert status == 200
        page.until(lambda: "Ready" in page.text("state"), 5, "the agent logged in")
        page.until(lambda: is_stale(field), 5, "the task list drawn again")
        page.until(lambda: outcome_typed(page, row) == outcome, 5, "the typed outcome kept")
        page.until(lambda: click_fresh(page, f"#{row} .task-done"), 5, "done clicked")  # (the list may be redrawn)
        page.until(lambda: not page.driver.find_elements("id", row), 10, "the task gone from the desk")
        page.until(lambda: not page.visible("tasks-box"), 5, "no task left on the desk")
        assert call(engine.port, "GET", "/tasks", basic("1001", PIN)) == (200, [])
        # Recorded with what the customer was told (the store of the engine's records).
        with sqlite3.connect(f"file:{tmp_path / 'cti.sqlite'}?mode=ro", uri=True) as db:
            kept = db.execute("SELECT done_by, outcome FROM order_tasks WHERE task_id = ?",
                              (task["task_id"],)).fetchall()
        assert kept == [("agent:1001", outcome)], kept
    finally:
        department.close()
