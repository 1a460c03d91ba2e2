"""The agent desk and the supervisor wallboard in a real browser (Debian's headless
Chromium through Selenium) against the engine on the sandbox, with SIPp callers and
agents: R12 end to end (disposition -> work order -> the department's receiver ->
progress back on the order), the screen pop with the R10 previous contact and R14
masking per role, the live wallboard and the R9 plan confirmation."""

from __future__ import annotations

import json
import re
from typing import Any

from argon2 import PasswordHasher
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.support.ui import Select

from cti.web.accounts import token_digest
from tests.e2e.harness import ADMIN_TOKEN, Sandbox, Webhook, keys_scenario, wait_for
from tests.e2e.harness.browser import Page
from tests.e2e.harness.sipp import sandbox_root, write_scenario
from tests.e2e.test_auth import basic, call

FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
NUMBER = "13812345678"
SUPERVISOR = ("li", "li-password-for-tests")
DEPARTMENT_TOKEN = "north-repair-token-for-tests-only"


def supervisor_account() -> str:
    """The supervisor li's account (and cookies over plain HTTP: the tests' loopback)."""
    return (f'[[auth.accounts]]\nname = "{SUPERVISOR[0]}"\nrole = "supervisor"\n'
            f'password_hash = "{FAST.hash(SUPERVISOR[1])}"\n[auth]\ncookie_secure = false\n')


def desk_config(department_url: str, more: str = "") -> str:
    """``more``: TOML put before the work-order rules (an emergency rule, routes)."""
    return f"""{more}
[[queues]]
name = "support"
wrap_up_s = 120
wrap_up_ends = "first"
sticky_window_s = 7200
announce_agent_id = false

[[agents]]
id = "1001"
endpoint = "PJSIP/agent1001"
queues = ["support"]
pin_hash = "{FAST.hash('432109')}"

[ivr]
extensions = ["100"]
language = "en"
greeting = ["greeting"]
start = "main"
[[ivr.menus]]
name = "main"
prompts = ["main-menu"]
timeout_s = 3
max_attempts = 3
[ivr.menus.default]
queue = "support"
kind = "consultation"
[[ivr.menus.options]]
digit = "3"
queue = "support"
kind = "fault-report"

[[workorders.departments]]
name = "north-repair"
webhook_url = "{department_url}"
[[workorders.departments]]
name = "service-desk"
webhook_url = "{department_url}"
[[workorders.rules]]
kind = "fault-report"
region = "north"
department = "north-repair"
due_h = 4
[[workorders.rules]]
department = "service-desk"
due_h = 24

[[auth.accounts]]
name = "{SUPERVISOR[0]}"
role = "supervisor"
password_hash = "{FAST.hash(SUPERVISOR[1])}"
[[auth.tokens]]
name = "north-repair"
role = "department"
sha256 = "{token_digest(DEPARTMENT_TOKEN)}"
[auth]
cookie_secure = false
"""


def mobile_caller(sandbox: Sandbox, keys: str, talk_ms: int) -> Any:
    """A caller from 13812345678 who presses ``keys`` in the IVR, then talks."""
    name = keys_scenario(keys, 2500)
    mobile = write_scenario(name.replace(".xml", "-mobile.xml"), (sandbox_root() / "opt/cti-sipp" / name)
                            .read_text().replace("sip:caller@", f"sip:{NUMBER}@"))
    return sandbox.call_scenario(mobile, "100", talk_ms)


def test_R12_R10_R14_agent_desk_screen_pop_disposition_work_order_and_progress(
        sandbox: Sandbox, start_engine, browser) -> None:  # type: ignore[no-untyped-def]
    department = Webhook()
    try:
        agent = sandbox.agent("1001", "agent_answer.xml", "-set", "ring_ms", "3000")
        engine = start_engine(agents=[], extra=desk_config(department.url))
        page = Page(browser, f"http://127.0.0.1:{engine.port}")
        page.open("/agent")
        page.sign_in("1001", "432109")
        assert page.text("agent-id") == "1001"
        page.until(lambda: "Logged out" in page.text("state"), 10, "the agent shown logged out")
        page.click("btn-ready")
        page.until(lambda: "Ready" in page.text("state"), 5, "the agent ready (live)")

        # First call: 13812345678 presses 3 (fault report). Screen pop on the offer.
        first = mobile_caller(sandbox, "3", 6000)
        page.until(lambda: "Ringing" in page.text("call-state"), 30, "the screen pop on the offer")
        assert page.text("call-number") == NUMBER  # the agent's own call: the full number
        assert page.text("call-kind") == "Fault report"  # the kind in words (the English page)
        page.until(lambda: "Connected" in page.text("call-state"), 10, "the pop on the answer")
        assert Select(page.el("f-kind")).first_selected_option.get_attribute("value") == "fault-report"
        assert page.el("f-contact_number").get_attribute("value") == NUMBER
        assert first.wait(40) == 0, first.output()
        agent.leg_with(first.outcome(5).hung_up_itself(6000))
        page.until(lambda: page.visible("wrap-countdown"), 10, "the wrap-up countdown")
        assert ":" in page.text("wrap-left")
        for field, value in (("customer_name", "王小明"), ("address", "北區和平路 1 號"), ("content", "燃氣表漏氣"),
                             ("occurred_at", "今晨 7 時"), ("region", "north")):
            page.fill(f"f-{field}", value)
        Select(page.el("f-urgency")).select_by_value("high")
        page.click("btn-dispose")
        if page.visible("read-back"):  # R20: an order's facts read back first
            page.click("btn-read-confirmed")
        page.until(lambda: "WO-" in page.text("dispose-result"), 10, "the work order made from the disposition")
        order_id = next(w for w in page.text("dispose-result").split() if w.startswith("WO-"))
        assert "north-repair" in page.text("dispose-result")
        # wrap_up_ends = "first": the disposition ended wrap-up long before its 120 s.
        page.until(lambda: "Ready" in page.text("state"), 5, "ready after the disposition")
        assert engine.agent("1001")["state"] == "ready"

        # The department's system receives it (signed outbox webhook) ...
        got = wait_for(lambda: [d for d in department.received if d.get("order_id") == order_id], 15,
                       "the work order at the department's receiver")
        order = got[0]
        assert order["department"] == "north-repair" and order["kind"] == "fault-report"
        assert order["fields"]["address"] == "北區和平路 1 號" and order["fields"]["contact_number"] == NUMBER
        wait_for(lambda: call(engine.port, "GET", f"/workorders/{order_id}", f"Bearer {ADMIN_TOKEN}")[1]["status"]
                 == "dispatched", 10, "the order dispatched once the receiver took it")
        # ... and reports progress with its own token.
        dept = f"Bearer {DEPARTMENT_TOKEN}"
        status, body = call(engine.port, "POST", f"/workorders/{order_id}/progress", dept,
                            {"status": "accepted", "note": "crew 7 on the way"})
        assert status == 200 and body["status"] == "accepted", body
        assert call(engine.port, "POST", f"/workorders/{order_id}/progress", dept, {"status": "new"})[0] == 400

        # Second call from the same number: R10, the desk shows the previous contact
        # (this agent, minutes ago) and the open order with the department's progress.
        second = mobile_caller(sandbox, "3", 15000)
        page.until(lambda: "Connected" in page.text("call-state"), 40, "the second call answered")
        page.until(lambda: "You" in page.text("contacts"), 5, "the R10 previous contact on the pop")
        assert "min ago" in page.text("contacts")
        page.until(lambda: order_id in page.text("open-orders"), 5, "the open work order on the pop")
        assert "Accepted" in page.text("open-orders")
        page.shot("agent-desk")
        # R14: the same desk read by a supervisor shows the number masked; by the admin, whole.
        status, seen = call(engine.port, "GET", "/desk/1001", basic(*SUPERVISOR))
        assert status == 200 and seen["call"]["caller"] == "138****5678", seen["call"]
        assert NUMBER not in json.dumps(seen)
        assert call(engine.port, "GET", "/desk/1001", f"Bearer {ADMIN_TOKEN}")[1]["call"]["caller"] == NUMBER
        assert call(engine.port, "GET", "/desk/1001", "Bearer " + DEPARTMENT_TOKEN)[0] == 403
        assert second.wait(40) == 0, second.output()
        agent.leg_with(second.outcome(5).hung_up_itself(15000))
        # The order's history, as a supervisor reads it: masked number, every step.
        status, kept = call(engine.port, "GET", f"/workorders/{order_id}", basic(*SUPERVISOR))
        assert [h["status"] for h in kept["history"]] == ["new", "dispatched", "accepted"]
        assert kept["caller"] == "138****5678" and kept["fields"]["contact_number"] == "138****5678"
        assert kept["history"][-1]["who"] == "token:north-repair"
        # The engine restarts (same port): the page reconnects by itself, the session and
        # its CSRF token still hold (kept in the store), and the agent gets ready again.
        assert engine.stop() == 0
        page.until(lambda: "Reconnecting" in page.text("connection"), 10, "the page noticing the engine gone")
        engine = start_engine(agents=[], extra=desk_config(department.url), port=engine.port)
        page.until(lambda: "Logged out" in page.text("state") and not page.text("connection"), 20,
                   "the page back on the restarted engine, still signed in")
        page.click("btn-ready")
        page.until(lambda: "Ready" in page.text("state"), 5, "ready on the restarted engine")
        assert engine.agent("1001")["state"] == "ready"
        # Signing out ends the session: the page asks to sign in again.
        page.click("btn-signout")
        page.until(lambda: page.visible("signin"), 5, "the sign-in form after signing out")
        assert NUMBER not in engine.log()
    finally:
        department.close()


WALL_CONFIG = f"""
[[queues]]
name = "support"
wrap_up_s = 0
announce_agent_id = false

[thresholds.queues.support]
longest_wait_s = {{ amber = 2, red = 6 }}

[[agents]]
id = "1001"
endpoint = "PJSIP/agent1001"
queues = ["support"]
login_at_start = true

[plan]
queue = "support"
mode = "confirm"
min_time_s = 1
[plan.levels.III]
enter = {{ waiting_at_least = 1 }}
leave = {{ waiting_at_most = 0 }}

{supervisor_account()}"""


def test_R13_R9_wallboard_follows_calls_and_agents_live_and_confirms_a_plan_level(
        sandbox: Sandbox, start_engine, browser) -> None:  # type: ignore[no-untyped-def]
    sandbox.agent("1001")
    engine = start_engine(agents=[], extra=WALL_CONFIG)
    engine.post("/agents/1001/pause", {"reason": "meeting"})
    page = Page(browser, f"http://127.0.0.1:{engine.port}")
    page.open("/wallboard")
    page.sign_in(*SUPERVISOR)
    page.until(lambda: "Paused" in page.text("agent-1001"), 5, "agent 1001 shown paused")
    assert "Meeting" in page.text("agent-1001")  # the pause reason, in words
    page.until(lambda: page.visible("queue-support"), 5, "the support queue's tile")

    caller = sandbox.call(talk_ms=30000)  # from the engine's answer: covers the wait
    wait_for(lambda: [k for k in engine.get("/calls") if k["state"] == "waiting"], 20, "a caller waiting")
    page.until(lambda: page.text("waiting"), 1.0, "the waiting call on the wallboard within 1 s")
    # R13 thresholds: the caller waits with nobody staffed (waiting per agent: red at
    # once), past 2 s, then 6 s (the queue's longest_wait_s thresholds): the figure turns
    # amber, then red, the tile is red, and red alert lines name the queue and the figures.
    def classes(selector: str) -> str:  # read in one script: the tiles are drawn anew on every update
        return str(page.driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.className : '';", selector))
    longest = lambda: classes("#queue-support .fig-longest")  # noqa: E731
    page.until(lambda: "state-amber" in longest() or "state-red" in longest(), 10, "the longest wait amber")
    page.until(lambda: "state-red" in longest(), 10, "the longest wait red")
    assert "state-red" in classes("#queue-support")
    page.until(lambda: "RED support" in page.text("alerts") and "Longest wait" in page.text("alerts")
               and "Waiting per agent" in page.text("alerts"), 5, "the red alerts on the wallboard")
    assert engine.lines(r"R13 queue support: longest_wait_s (ok|amber) -> red")
    # The plan proposes level III (one waiting, confirm mode): the supervisor confirms it.
    page.until(lambda: page.el("btn-plan-confirm").is_enabled(), 10, "the proposed plan level")
    assert page.text("plan-proposed") == "III"
    # Its reason in the page's words, from the figures and thresholds the core gave.
    page.until(lambda: "proposed III: 1 waiting (entry at 1)" in page.text("plan-why"), 5, "the plan's reason")
    # The trend (uPlot) has a time axis (24-hour clock) and the waiting calls' scale from 0.
    page.until(lambda: json.loads(page.el("trend").get_attribute("data-x-labels") or "[]"), 35, "the trend's time axis")
    times = json.loads(page.el("trend").get_attribute("data-x-labels"))
    assert len(set(times)) == len(times) >= 3 and all(re.fullmatch(r"\d\d:\d\d", t) for t in times), times
    assert json.loads(page.el("trend").get_attribute("data-y-labels"))[0] == "0"
    page.shot("wallboard")
    page.click("btn-plan-confirm")
    page.until(lambda: page.text("plan-level") == "III", 5, "the plan at level III")
    plan = engine.get("/plan")
    assert plan["level"] == "III"
    assert [c for c in plan["changes"] if c["type"] == "PlanChanged" and c.get("by") == "account:li"], plan["changes"]
    assert engine.lines(r"R9 plan .*PlanChanged.* by account:li")

    # The agent gets ready: the wallboard shows it, and the call leaves the waiting list.
    engine.post("/agents/1001/ready")
    wait_for(lambda: not [k for k in engine.get("/calls") if k["state"] == "waiting"], 10, "the call offered")
    page.until(lambda: not page.text("waiting"), 1.0, "the call gone from the waiting list within 1 s")
    page.until(lambda: "On call" in page.text("agent-1001") or "Ringing" in page.text("agent-1001"), 5,
               "agent 1001 shown on the call")
    (on_call,) = wait_for(lambda: [k for k in engine.get("/calls") if k["state"] == "connected"], 10, "the call answered")
    sandbox.ari("DELETE", f"/channels/{on_call['call_id']}")  # the caller's call ends (from the PBX's side)
    assert caller.wait(20) == 0, caller.output()
    caller.outcome(5).cut_off()
    page.until(lambda: "Ready" in page.text("agent-1001"), 10, "agent 1001 ready again")
    status, figures = call(engine.port, "GET", "/wallboard/live", basic(*SUPERVISOR))
    assert status == 200 and figures["queues"]["support"]["windows"]["day"]["answered"] == 1
    # R13 one definition: once the trend takes its next point (every 30 s) after the call,
    # the point it draws for the service level is the figure the queue's tile shows.
    drawn_sl = ("const u = document.getElementById('trend')._chart; if (!u) return null;"
                " const sl = u.data[2]; return sl.length ? sl[sl.length - 1] : null;")
    page.until(lambda: page.driver.execute_script(drawn_sl) is not None, 40, "a trend point with a service level")
    tile = page.driver.execute_script("return document.querySelector('#queue-support .fig-sl b').textContent")
    assert f"{round(page.driver.execute_script(drawn_sl))}%" == tile, (page.driver.execute_script(drawn_sl), tile)


def test_R8_R12_emergency_call_shows_the_safety_script_and_a_one_click_order(
        sandbox: Sandbox, start_engine, browser) -> None:  # type: ignore[no-untyped-def]
    """An emergency caller (R8: route with emergency = true) pops with the flag and the
    safety script to read; one click makes an emergency work order, due in the
    emergency rule's time, stamped with the time the customer reported it."""
    department = Webhook()
    try:
        sandbox.agent("1001")
        config = desk_config(department.url, """
[[routes]]
exten = "119"
queue = "support"
kind = "gas-leak"
emergency = true
[[workorders.rules]]
kind = "emergency"
department = "north-repair"
due_h = 0.5
""")
        engine = start_engine(agents=[], extra=config)
        engine.post("/agents/1001/login")
        page = Page(browser, f"http://127.0.0.1:{engine.port}")
        page.open("/agent")
        page.sign_in("1001", "432109")
        caller = sandbox.call(exten="119", talk_ms=15000)
        page.until(lambda: page.visible("safety"), 20, "the safety script on the emergency pop")
        assert page.visible("emergency-flag")
        assert "關閉燃氣總閥" in page.text("safety-script") and "main gas valve" in page.text("safety-script")
        arrived = engine.get("/calls")[0]["arrived_at"]
        page.until(lambda: "Connected" in page.text("call-state"), 10, "the emergency call answered")
        # R20: never without the incident's location: refused, the field named, nothing made.
        page.click("btn-emergency-order")
        page.until(lambda: "Required" in page.driver.execute_script(
            "return document.getElementById('f-address').parentElement.textContent"), 5, "the location asked for")
        status, none = call(engine.port, "GET", "/workorders", f"Bearer {ADMIN_TOKEN}")
        assert (status, none) == (200, []), none
        page.fill("f-address", "東路 5 號 3 樓")
        page.click("btn-emergency-order")
        page.until(lambda: "WO-" in page.text("dispose-result"), 10, "the one-click emergency order")
        order_id = next(w for w in page.text("dispose-result").split() if w.startswith("WO-"))
        status, order = call(engine.port, "GET", f"/workorders/{order_id}", f"Bearer {ADMIN_TOKEN}")
        assert status == 200 and order["kind"] == "emergency" and order["urgency"] == "emergency"
        assert order["department"] == "north-repair" and abs(order["reported_at"] - arrived) < 0.001
        assert abs(order["due_at"] - order["created_at"] - 1800) < 0.001
        wait_for(lambda: [d for d in department.received if d.get("order_id") == order_id], 15,
                 "the emergency order at the department")
        assert caller.wait(40) == 0, caller.output()
        caller.outcome(5).hung_up_itself(15000)
    finally:
        department.close()


def test_R13_reports_page_shows_the_day_by_hour_and_downloads_csv(
        sandbox: Sandbox, start_engine, browser) -> None:  # type: ignore[no-untyped-def]
    """After two answered calls the supervisor's reports page shows today's hour with
    two offered and answered, a bar per figure in the chart, the agent's row, and links
    that download the same report as CSV."""
    agent = sandbox.agent("1001")
    engine = start_engine(agents=[], extra=WALL_CONFIG)
    for _ in range(2):
        served = sandbox.call(talk_ms=1200)
        assert served.wait(30) == 0
        agent.leg_with(served.outcome(5).hung_up_itself(1200))  # two calls really answered by 1001
    wait_for(lambda: engine.get("/reports/queues?by=all")["rows"], 10, "the calls in the record")
    page = Page(browser, f"http://127.0.0.1:{engine.port}")
    page.open("/reports")
    page.sign_in(*SUPERVISOR)
    page.until(lambda: page.text("report-rows"), 5, "the report's rows")
    cells = [td.text for td in page.el("report-rows").find_elements("css selector", "td")]
    assert cells[2:5] == ["2", "2", "0"], cells  # offered, answered, abandoned
    # The chart (uPlot, on canvas) drew its axes: the hour as the period label, calls from 0
    # on the y axis, and a legend naming both series.
    hour = page.driver.execute_script("return document.querySelector('#report-rows td').textContent")[5:16]
    page.until(lambda: json.loads(page.el("chart").get_attribute("data-x-labels") or "[]"), 5, "the chart's x axis")
    assert json.loads(page.el("chart").get_attribute("data-x-labels")) == [hour], hour
    y_labels = json.loads(page.el("chart").get_attribute("data-y-labels"))
    assert y_labels[0] == "0" and "2" in y_labels, y_labels
    assert page.el("chart").find_elements("css selector", "canvas")
    legend = page.el("chart").find_element("css selector", ".u-legend").text
    assert "Offered" in legend and "Answered" in legend, legend
    page.until(lambda: "1001" in page.text("agent-rows"), 5, "the agent's row")
    href = page.el("dl-queues").get_attribute("href")
    assert "format=csv" in href
    page.shot("reports")
    status, text = call(engine.port, "GET", href.split(str(engine.port), 1)[1], basic(*SUPERVISOR))
    assert status == 200 and text.splitlines()[0].startswith("period,") and ",2," in text.splitlines()[1]
    # No script error (the 401 of /auth/me before signing in is the page asking who it is).
    assert not [m for m in page.console() if m.get("level") == "SEVERE" and m.get("source") != "network"]


def click_listed(page: Page, selector: str, what: str) -> None:
    """Click a button of a list the desk draws again at each refresh (a button found
    may be replaced before the click: found and clicked again)."""
    def click() -> bool:
        try:
            page.driver.find_element("css selector", selector).click()
        except StaleElementReferenceException:
            return False
        return True
    page.until(click, 5, what)


def test_R12_a_half_typed_disposition_survives_wrap_up_the_next_call_and_a_reload(
        sandbox: Sandbox, start_engine, browser) -> None:  # type: ignore[no-untyped-def]
    """R12: the agent types half a complaint and does not submit it; wrap-up ends by its
    timer and the next call pops: the next form is empty, the first call's form is kept
    as a draft (back after a reload, and from the server after signing out and in: the
    browser forgets it at sign-out), and submitting it later records that call; R16: the
    complaint is then on its owner's desk."""
    department = Webhook()
    try:
        agent = sandbox.agent("1001")
        config = desk_config(department.url).replace("wrap_up_s = 120", "wrap_up_s = 4")
        engine = start_engine(agents=[], extra=config)
        page = Page(browser, f"http://127.0.0.1:{engine.port}")
        page.open("/agent")
        page.sign_in("1001", "432109")
        page.until(lambda: "Logged out" in page.text("state"), 10, "the agent shown logged out")
        # The buttons follow the agent's state: logged out, it can log in, not pause.
        assert "Log in" in page.text("btn-ready") and not page.el("btn-pause").is_enabled()
        assert not page.el("btn-logout").is_enabled() and page.el("btn-signout").is_enabled()
        page.click("btn-ready")
        page.until(lambda: "Ready" in page.text("state"), 5, "the agent ready")
        assert not page.el("btn-ready").is_enabled() and page.el("btn-pause").is_enabled()

        first = mobile_caller(sandbox, "3", 4000)
        page.until(lambda: "Connected" in page.text("call-state"), 30, "the first call answered")
        (first_id,) = [k["call_id"] for k in engine.get("/calls")]
        Select(page.el("f-kind")).select_by_value("complaint")
        page.fill("f-customer_name", "王小明")
        page.fill("f-content", "投訴：維修人員遲到兩小時")  # half a complaint, not submitted
        assert first.wait(40) == 0, first.output()
        agent.leg_with(first.outcome(5).hung_up_itself(4000))
        page.until(lambda: page.visible("draft-warning"), 5, "the warning that wrap-up ends with the form unsent")
        page.until(lambda: "Ready" in page.text("state"), 15, "wrap-up ended by its 4 s timer")

        second = mobile_caller(sandbox, "3", 20000)
        page.until(lambda: "Connected" in page.text("call-state"), 40, "the second call answered")
        assert engine.get("/calls")[0]["call_id"] != first_id
        # The new call's form is empty; the first call's is kept, listed as unsubmitted.
        assert page.el("f-customer_name").get_attribute("value") == ""
        assert page.el("f-content").get_attribute("value") == ""
        page.until(lambda: page.visible("drafts-box"), 5, "the unsubmitted disposition listed")
        assert "Complaint" in page.text("drafts")
        # A reload (or the browser closed and opened again): the draft is still there.
        page.driver.refresh()
        page.until(lambda: "Connected" in page.text("call-state"), 10, "the desk back after the reload")
        page.until(lambda: page.visible("drafts-box"), 5, "the draft back after the reload")
        # Signing out leaves nothing of it in this browser (a shared desk), but it is kept
        # on the server: signed in again, it is back.
        page.click("btn-signout")
        page.until(lambda: page.visible("signin"), 5, "the sign-in form after signing out")
        assert page.driver.execute_script("return localStorage.getItem('cti-drafts-1001')") is None
        page.sign_in("1001", "432109")
        page.until(lambda: page.visible("drafts-box"), 10, "the draft back from the server")
        # Resumed and submitted: it records the first call, not the one on screen.
        click_listed(page, "#drafts button", "the draft resumed")
        assert page.el("f-customer_name").get_attribute("value") == "王小明"
        assert page.visible("form-for")
        page.click("btn-dispose")
        if page.visible("read-back"):  # R20: an order's facts read back first
            page.click("btn-read-confirmed")
        page.until(lambda: "WO-" in page.text("dispose-result"), 10, "the earlier call's work order")
        order_id = next(w for w in page.text("dispose-result").split() if w.startswith("WO-"))
        status, order = call(engine.port, "GET", f"/workorders/{order_id}", f"Bearer {ADMIN_TOKEN}")
        assert status == 200 and order["call_id"] == first_id, order
        assert order["fields"]["customer_name"] == "王小明" and "遲到" in order["fields"]["content"]
        page.until(lambda: not page.visible("drafts-box"), 5, "no draft left")
        # R16: the complaint is the agent's own, on its desk with its feedback due time.
        page.until(lambda: order_id in page.text("my-complaints"), 10, "the complaint on its owner's desk")
        assert "Received" in page.text("my-complaints")
        # Its owner acts on it from the desk: the next step with a note, then the feedback
        # call (queued for this agent's phone first; it is on a call now, so it waits).
        click_listed(page, f"#complaint-{order_id}", "the complaint chosen")
        page.until(lambda: page.visible("complaint-act"), 5, "the complaint's actions")
        page.fill("complaint-note", "asked the crew's dispatcher")
        page.click("complaint-step-investigating")
        page.until(lambda: "Investigating" in page.text("my-complaints"), 10, "the step taken from the desk")
        status, kept = call(engine.port, "GET", f"/complaints/{order_id}", f"Bearer {ADMIN_TOKEN}")
        assert kept["status"] == "investigating" and kept["history"][-1]["note"] == "asked the crew's dispatcher"
        assert kept["history"][-1]["who"].endswith("1001")
        page.until(lambda: page.visible("complaint-channel-label"), 5, "how the result is given, next")
        page.click("btn-feedback-call")
        page.until(lambda: "rings first" in page.text("complaint-result"), 10, "the feedback call placed")
        assert [k["kind"] for k in engine.get("/calls") if k["call_id"].startswith("fb")] == ["complaint-feedback"]
        assert page.el("f-customer_name").get_attribute("value") == ""  # back to the call on screen
        assert not page.visible("form-for")
        # Spaces are not a customer's name: named next to the field, nothing sent.
        page.fill("f-customer_name", "   ")
        page.click("btn-dispose")
        if page.visible("read-back"):  # R20: an order's facts read back first
            page.click("btn-read-confirmed")
        page.until(lambda: "Required" in page.driver.execute_script(
            "return document.getElementById('f-customer_name').parentElement.textContent"), 5, "the field's error")
        assert engine.get("/desk/1001").get("disposition") is None
        # A pause asked for during the call waits for its end, and the desk says so.
        page.click("btn-pause")
        page.until(lambda: "Pause after this call" in page.text("pending"), 5, "the pending pause shown")
        assert engine.agent("1001")["state"] == "on-call" and engine.agent("1001")["pending"] == "not-ready"
    finally:
        department.close()
