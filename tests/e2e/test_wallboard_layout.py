"""R13 the wallboard on a real screen (Debian's headless Chromium): four queues, twenty
agents in every state and callers waiting through the sandbox, at 1366x768 and at
1920x1080, in the supervisor's view and in the wall display. Nothing needs scrolling and
nothing is cut: asserted from the rendered elements' boxes, not from the CSS."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.e2e.harness import Sandbox, wait_for
from tests.e2e.harness.browser import Page
from tests.e2e.test_desk_browser import SUPERVISOR, supervisor_account

QUEUES = ("support", "billing", "gas", "water")
AGENTS = [f"{1001 + i}" for i in range(20)]


def layout_config() -> str:
    queues = "".join(f'\n[[queues]]\nname = "{q}"\nwrap_up_s = 0\nannounce_agent_id = false\n' for q in QUEUES)
    agents = "".join(f'\n[[agents]]\nid = "{a}"\nendpoint = "PJSIP/agent{a}"\nqueues = {json.dumps(sorted({QUEUES[i % 4], "support"}))}\n'
                     f"login_at_start = true\n" for i, a in enumerate(AGENTS))
    return f"""{queues}
[thresholds]
longest_wait_s = {{ amber = 1, red = 3 }}
{agents}
{supervisor_account()}"""


# Every box the board is made of: the page, and each panel with what is in it.
MEASURE = """
const doc = document.scrollingElement, out = {page: [doc.scrollWidth, doc.scrollHeight, innerWidth, innerHeight]};
out.cut = [...document.querySelectorAll('#alerts, #queues, .board .panel, #agents, #plan-card, .tile')]
  .filter((e) => e.offsetParent !== null && (e.scrollHeight > e.clientHeight + 1 || e.scrollWidth > e.clientWidth + 1))
  .map((e) => [e.id || e.className, e.scrollWidth, e.clientWidth, e.scrollHeight, e.clientHeight]);
const inside = (e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.top >= 0
  && r.right <= innerWidth + 0.5 && r.bottom <= innerHeight + 0.5; };
out.agents = [...document.querySelectorAll('#agents .agent')].filter(inside).length;
out.tiles = [...document.querySelectorAll('#queues .tile')].filter(inside).length;
out.trend = inside(document.getElementById('trend'));
return out;
"""


def at_size(page: Page, width: int, height: int) -> dict[str, Any]:
    """The board's boxes once the page has laid itself out at ``width`` x ``height``."""
    page.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    page.until(lambda: page.driver.execute_script("return [innerWidth, innerHeight]") == [width, height], 5,
               f"the viewport at {width}x{height}")
    page.driver.execute_script("return new Promise((done) => setTimeout(done, 500))")  # a figures update, a resize
    return dict(page.driver.execute_script(MEASURE))


@pytest.mark.parametrize("display", ["", "?display=wall"])
def test_R13_four_queues_and_twenty_agents_fit_1366x768_and_1920x1080_without_scrolling(
        sandbox: Sandbox, start_engine, browser, display: str) -> None:  # type: ignore[no-untyped-def]
    engine = start_engine(agents=[], extra=layout_config())
    for i, agent in enumerate(AGENTS):  # every state but talking: paused with reasons, ready, logged out
        if i % 3 == 0:
            engine.post(f"/agents/{agent}/pause", {"reason": ("meeting", "lunch", "training")[i % 9 // 3]})
        elif i % 7 == 0:
            engine.post(f"/agents/{agent}/logout")
    callers = sandbox.call(talk_ms=40000, calls=9, rate=20)  # more callers than the list has rows for
    page = Page(browser, f"http://127.0.0.1:{engine.port}")
    page.open("/wallboard" + display)
    page.sign_in(*SUPERVISOR)
    page.until(lambda: len(page.driver.find_elements("css selector", "#agents .agent")) == 20, 10, "20 agents")
    wait_for(lambda: len([k for k in engine.get("/calls") if k["state"] == "waiting"]) >= 7, 30,
             "callers waiting (the ready agents' phones are not registered)")
    page.until(lambda: "RED" in page.text("alerts"), 15, "the queues' alerts")
    page.until(lambda: "more" in page.text("waiting-more"), 10, "the longest waits listed, the rest counted")
    # The waits tick every second from one clock, between the figures' updates (which
    # came in 5-second steps): over 3.3 s the longest wait changes at least twice.
    first_wait = "return document.querySelector('#waiting tr td:last-child').textContent"
    page.until(lambda: page.driver.execute_script(first_wait) >= "0:02", 10, "callers waiting a while")
    seen = []
    for _ in range(4):
        seen.append(page.driver.execute_script(first_wait))
        time.sleep(1.1)
    assert sum(a != b for a, b in zip(seen, seen[1:])) >= 2 and seen[-1] > seen[0], seen
    for width, height in ((1366, 768), (1920, 1080)):
        got = at_size(page, width, height)
        assert got["page"][0] <= width and got["page"][1] <= height, (width, height, got)  # no page scroll
        assert got["cut"] == [], (width, height, got["cut"])  # no panel cuts its content
        assert (got["tiles"], got["agents"], got["trend"]) == (4, 20, True), (width, height, got)
        page.shot(f"wallboard-{width}x{height}{'-wall' if display else ''}")
    if display:  # the wall display shows no controls
        assert not page.visible("btn-plan-set") and not page.visible("btn-signout")
    else:
        assert page.visible("btn-signout") and page.visible("wall-mode")
    assert callers.proc.poll() is None  # the callers were still waiting while measured
