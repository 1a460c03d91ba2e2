"""The pages in each locale (zh-CN, zh-TW, en) in Chromium with calls flowing: the page's
<html lang> and its words from the locale's catalogue, the language selector keeping the
choice, and a screenshot of each page in each locale (var/artifacts/; with
CTI_DOCS_SCREENSHOTS=1 also docs/img/<page>-<locale>.png, the pictures the docs show)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from selenium.webdriver.support.ui import Select

from cti.web.i18n import LOCALES, Messages
from tests.e2e.harness import Sandbox, stop_group, wait_for
from tests.e2e.harness.browser import Page
from tests.e2e.test_desk_browser import FAST, SUPERVISOR, supervisor_account

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
OTHERS = ("1002", "1003", "1004", "1005")

CONFIG = f"""
[[queues]]
name = "support"
wrap_up_s = 0
announce_agent_id = false

[thresholds]
longest_wait_s = {{ amber = 2, red = 6 }}

[[agents]]
id = "1001"
endpoint = "PJSIP/agent1001"
queues = ["support"]
pin_hash = "{FAST.hash('432109')}"
login_at_start = true
""" + "".join(f"""
[[agents]]
id = "{a}"
endpoint = "PJSIP/agent{a}"
queues = ["support"]
login_at_start = true
""" for a in OTHERS) + f"""
{supervisor_account()}"""


def shoot(page: Page, name: str) -> None:
    path = page.shot(name)
    if os.environ.get("CTI_DOCS_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMG / f"{name}.png")


def test_every_page_in_each_locale_with_calls_flowing(
        sandbox: Sandbox, start_engine, browser) -> None:  # type: ignore[no-untyped-def]
    catalogues = Messages.load().catalogues
    agent = sandbox.agent("1001")
    engine = start_engine(agents=[], extra=CONFIG)
    for i, other in enumerate(OTHERS):  # paused for a reason, or out: 1001 alone takes calls
        if i == 3:
            engine.post(f"/agents/{other}/logout")
        else:
            engine.post(f"/agents/{other}/pause", {"reason": ("meeting", "lunch", "training")[i]})
    served = sandbox.call(talk_ms=1500)  # one call answered and ended: the reports have a row
    assert served.wait(30) == 0
    agent.leg_with(served.outcome(5).hung_up_itself(1500))
    wait_for(lambda: engine.get("/reports/queues?by=all")["rows"], 10, "the call in the record")
    talking = sandbox.call(talk_ms=90000)  # 1001 on a call meanwhile
    waiting = None
    try:
        wait_for(lambda: engine.agent("1001")["state"] == "on-call", 30, "agent 1001 on a call")
        waiting = sandbox.call(talk_ms=90000, calls=3, rate=5)  # callers waiting for 1001
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                {"width": 1366, "height": 768, "deviceScaleFactor": 1, "mobile": False})
        signed_in = False
        for path, name in (("/wallboard", "wallboard"), ("/reports", "reports")):
            for locale in LOCALES:
                page = Page(browser, f"http://127.0.0.1:{engine.port}", lang=locale)
                page.open(path)
                if not signed_in:
                    page.sign_in(*SUPERVISOR)
                    signed_in = True
                page.until(lambda: page.visible("app"), 10, f"{path} in {locale}")
                words = catalogues[locale]
                assert page.driver.execute_script("return document.documentElement.lang") == locale
                assert page.text("btn-signout") == words["Sign out"]
                assert page.el("me").text == SUPERVISOR[0]  # the display name, no "account:"
                if name == "wallboard":
                    page.until(lambda: words["Meeting"] in page.text("agent-1002")
                               and words["Paused"] in page.text("agent-1002"), 10, f"the pause reason in {locale}")
                    page.until(lambda: page.text("waiting"), 15, "the waiting callers")
                    page.until(lambda: words["RED"] in page.text("alerts"), 15, f"the alerts in {locale}")
                else:
                    page.until(lambda: page.text("report-rows"), 10, "the report's rows")
                    page.until(lambda: page.el("chart").get_attribute("data-x-labels"), 10, "the chart drawn")
                    legend = page.el("chart").find_element("css selector", ".u-legend").text
                    assert words["Offered"] in legend and words["Answered"] in legend, legend
                time.sleep(1.0)  # the clocks ticked, the chart settled
                shoot(page, f"{name}-{locale}")
        # The selector: the choice kept (its cookie) for the next page opened without ?lang=.
        Select(page.el("lang")).select_by_value("zh-TW")
        page.until(lambda: page.driver.execute_script("return document.documentElement.lang") == "zh-TW", 10,
                   "the page again in zh-TW")
        page.driver.get(f"http://127.0.0.1:{engine.port}/wallboard")
        page.until(lambda: page.driver.execute_script("return document.documentElement.lang") == "zh-TW", 10,
                   "the choice kept for the next page")
        page.until(lambda: page.visible("btn-signout"), 15, "the wallboard signed in (its session checked)")
        page.click("btn-signout")
        page.until(lambda: page.visible("signin"), 5, "signed out")
        # The agent's desk, on its call, in each locale.
        for n, locale in enumerate(LOCALES):
            page = Page(browser, f"http://127.0.0.1:{engine.port}", lang=locale)
            page.open("/agent")
            if n == 0:
                page.sign_in("1001", "432109")
            page.until(lambda: page.visible("app"), 10, f"the desk in {locale}")
            words = catalogues[locale]
            assert page.driver.execute_script("return document.documentElement.lang") == locale
            page.until(lambda: words["Connected"] in page.text("call-state"), 10, f"the call shown in {locale}")
            assert page.text("state") == words["On call"]
            assert page.text("btn-logout") == words["Leave queues"]
            time.sleep(1.0)
            shoot(page, f"agent-{locale}")
    finally:
        for sipp in (talking, waiting):
            if sipp is not None:
                stop_group(sipp.proc)
