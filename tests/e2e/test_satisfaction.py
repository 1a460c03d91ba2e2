"""R17 on real calls: the queue's survey after the agent hangs up first. SIPp callers
(real G.711 audio, RFC 2833 DTMF from sip-tester's pcaps) reach agent 1001; the agent's
leg is hung up by Asterisk (what the engine sees when an agent's phone hangs up); the
caller stays on the line, hears the survey prompt and presses 4, or presses nothing.
The score reaches the record: /reports/satisfaction (JSON and CSV) and the wallboard's
today's figures; the recording of the call goes on through the survey (R4)."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import time
from typing import Any

from tests.e2e.harness import ROOT, Sandbox, call_with_keys, wait_for
from selenium.webdriver.support.ui import Select

from tests.e2e.harness.browser import Page
from tests.e2e.harness.sipp import Sipp
from tests.e2e.test_desk_browser import SUPERVISOR, supervisor_account

CONFIG = """
[[queues]]
name = "support"
wrap_up_s = 1
announce_agent_id = false
survey = true
survey_timeout_s = 3

[[agents]]
id = "1001"
endpoint = "PJSIP/agent1001"
queues = ["support"]
login_at_start = true
"""


def agent_leg(sandbox: Sandbox) -> dict[str, Any] | None:
    return next((ch for ch in sandbox.channels() if str(ch.get("name", "")).startswith("PJSIP/agent1001-")
                 and ch.get("state") == "Up"), None)


def hang_up_the_agent(sandbox: Sandbox, phone: Sipp, calls_before: int) -> float:
    """Once the agent talks with the caller, its leg is hung up; returns when."""
    wait_for(lambda: len(phone.answered()) > calls_before, 20, "the agent to answer")
    leg = wait_for(lambda: agent_leg(sandbox), 10, "the agent's leg to be up")
    time.sleep(1.0)  # they talk a moment (bridged)
    sandbox.ari("DELETE", f"/channels/{leg['id']}")
    return time.time()


def report(engine: Any, query: str = "") -> dict[str, Any]:
    return dict(engine.get(f"/reports/satisfaction{query}"))


def test_R17_the_agent_hangs_up_the_caller_presses_4_or_nothing_both_counted(
        sandbox: Sandbox, start_engine, browser) -> None:  # type: ignore[no-untyped-def]
    phone = sandbox.agent("1001")
    engine = start_engine(agents=[], extra=CONFIG + supervisor_account(), recording=True)

    # 1: the caller presses 4 about 11 s after its answer, within the survey's prompt.
    rater = call_with_keys(sandbox, "4", talk_ms=40000, exten="100", gap_ms=11000)
    left = hang_up_the_agent(sandbox, phone, 0)
    leg = rater.outcome(60)
    assert leg.hung_up_by == "pbx", f"the survey should end the call: {leg}"  # thanked, then hung up
    assert leg.ended is not None and leg.ended > left + 5, leg  # it stayed on the line after the agent left
    (scored,) = engine.lines(r"R17: call (\S+): survey score 4", wait=10)
    assert [m.group(0) for m in engine.lines(r"R17: call \S+: survey (score \d|no response)")] == [
        m.group(0) for m in engine.lines(r"R17: call \S+: survey score 4")]

    # 2: the next caller presses nothing: no response once the timeout runs out.
    silent = sandbox.call(talk_ms=60000)
    hang_up_the_agent(sandbox, phone, 1)
    quiet = silent.outcome(60)
    assert quiet.hung_up_by == "pbx", quiet
    assert engine.lines(r"R17: call \S+: survey no response", wait=10)

    # The record: offered 2, one response (4): CSAT 1.0, mean 4.0, response rate 0.5.
    def figures() -> dict[str, Any] | None:
        rows = report(engine)["rows"]
        return rows[0] if rows and rows[0]["offered"] == 2 else None
    row = wait_for(figures, 10, "both surveys in the report")
    assert (row["queue"], row["responses"], row["response_rate"], row["csat"], row["mean_score"]) == (
        "support", 1, 0.5, 1.0, 4.0)
    (agent_row,) = report(engine, "?by=agent")["rows"]
    assert (agent_row["agent"], agent_row["offered"], agent_row["mean_score"]) == ("1001", 2, 4.0)
    table = list(csv.DictReader(io.StringIO(engine.text("/reports/satisfaction?format=csv"))))
    assert [(r["queue"], r["offered"], r["responses"], r["mean_score"], r["csat"]) for r in table] == [
        ("support", "2", "1", "4.000", "1.000")]
    # From the command line, reading the store the running engine writes.
    out = subprocess.run([sys.executable, "-m", "cti.cli", "report", "satisfaction", "--config",
                          str(engine.config_path), "--by", "agent", "--format", "json"],
                         capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [agent_row]
    # The agent appraisal joins them with the agent's own figures (R13, R18): the route and
    # the command line agree.
    def appraised() -> dict[str, Any] | None:
        rows = engine.get("/reports/appraisal")["rows"]
        return rows[0] if len(rows) == 1 and rows[0]["answered"] == 2 else None
    mine = wait_for(appraised, 10, "the agent's two calls in the appraisal")
    assert (mine["agent"], mine["surveys"], mine["survey_response_rate"], mine["csat"], mine["mean_score"]) == (
        "1001", 2, 0.5, 1.0, 4.0)
    assert (mine["inspections"], mine["quality_score"]) == (0, None)
    out = subprocess.run([sys.executable, "-m", "cti.cli", "report", "appraisal", "--config",
                          str(engine.config_path), "--format", "json"], capture_output=True, text=True, timeout=30,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [mine]
    # The wallboard: today's figures per queue.
    today = engine.get("/wallboard.json")["satisfaction"]["support"]
    assert (today["offered"], today["responses"], today["csat"], today["mean_score"], today["response_rate"]) == (
        2, 1, 1.0, 4.0, 0.5)

    # The pages: the reports page's satisfaction table, the queue's wallboard tile.
    page = Page(browser, f"http://127.0.0.1:{engine.port}")
    page.open("/reports")
    page.sign_in(*SUPERVISOR)
    page.until(lambda: page.text("satisfaction-rows"), 10, "the satisfaction rows")
    cells = [td.text for td in page.el("satisfaction-rows").find_elements("css selector", "td")]
    assert cells[1:] == ["support", "2", "1", "50%", "100%", "4.00", "—"], cells
    page.until(lambda: page.text("appraisal-rows"), 10, "the appraisal rows")
    cells = [td.text for td in page.el("appraisal-rows").find_elements("css selector", "td")]
    assert cells[:2] + cells[3:] == ["1001", "2", "0", "0", "2", "100%", "4.00", "0", "—", "0"], cells
    assert "/reports/satisfaction?" in page.el("dl-satisfaction").get_attribute("href")
    Select(page.el("sat-by")).select_by_value("agent")
    page.until(lambda: "1001" in page.text("satisfaction-rows"), 5, "the rows per agent")
    page.shot("reports-satisfaction")
    page.open("/wallboard")
    page.until(lambda: "100% / 4.0 / 50%" in page.text("queue-support"), 10, "today's satisfaction on the tile")
    assert not [m for m in page.console() if m.get("level") == "SEVERE" and m.get("source") != "network"]

    # R4: the rater's recording covers the survey, after the agent left.
    recordings = wait_for(lambda: (r := engine.recordings()) and len(r) >= 2 and r, 60, "two recordings")
    assert leg.answered is not None and leg.ended is not None
    (meta,) = [m for m in recordings if m["call_id"] == scored.group(1)]
    agent_part = left - leg.answered
    assert meta["duration_s"] >= agent_part + 5, (meta, agent_part)
    assert abs(meta["duration_s"] - (leg.ended - leg.answered)) <= 1.5, (meta, leg)  # to the caller's hang-up
    assert (meta["queue"], meta["agent_id"]) == ("support", "1001")


def test_R17_a_wrong_key_hears_the_question_again_and_a_caller_who_leaves_is_no_response(
        sandbox: Sandbox, start_engine) -> None:
    phone = sandbox.agent("1001")
    engine = start_engine(agents=[], extra=CONFIG)
    # A wrong key (9) during the question: "invalid", the question again, then 5.
    caller = call_with_keys(sandbox, "95", talk_ms=40000, exten="100", gap_ms=6000, then_ms=5000)
    hang_up_the_agent(sandbox, phone, 0)
    assert caller.outcome(60).hung_up_by == "pbx"
    (scored,) = engine.lines(r"R17: call (\S+): survey score 5", wait=10)
    (again,) = engine.lines(r"R17: call (\S+): key 9 is no score; the question again")
    assert again.group(1) == scored.group(1)
    assert engine.log().index(again.group(0)) < engine.log().index(scored.group(0))
    # The caller hangs up during the question: no response, counted.
    leaving = sandbox.call(talk_ms=7000)
    hang_up_the_agent(sandbox, phone, 1)
    left = leaving.outcome(60)
    assert left.hung_up_by == "caller", left
    (silent,) = engine.lines(r"R17: call (\S+): survey no response", wait=10)
    assert silent.group(1) != scored.group(1)

    def figures() -> dict[str, Any] | None:
        rows = report(engine, "?by=all")["rows"]
        return rows[0] if rows and rows[0]["offered"] == 2 else None
    row = wait_for(figures, 10, "both surveys in the report")
    assert (row["responses"], row["mean_score"], row["csat"], row["response_rate"]) == (1, 5.0, 1.0, 0.5)


def test_R17_a_caller_left_in_the_survey_by_a_killed_engine_is_thanked_and_counted_by_the_next(
        sandbox: Sandbox, start_engine) -> None:
    """kill -9 during the survey's question: the engine started again finds the caller
    left in a survey nobody runs (its channel says so), counts no response, thanks and
    hangs up; the caller is not left in silence."""
    phone = sandbox.agent("1001")
    first = start_engine(redis=True, agents=[], extra=CONFIG)
    caller = sandbox.call(talk_ms=60000)
    hang_up_the_agent(sandbox, phone, 0)
    (asked,) = first.lines(r"R17: call (\S+): survey \(queue support", wait=10)
    first.kill()
    second = start_engine(redis=True, agents=[], extra=CONFIG)
    leg = caller.outcome(60)
    assert leg.hung_up_by == "pbx", leg
    (left,) = second.lines(r"R17: call (\S+) was left in its survey \(a restart\): no response", wait=10)
    assert left.group(1) == asked.group(1)
    assert not second.lines(rf"offer call {re.escape(asked.group(1))} ", wait=0)  # thanked, not queued again

    def figures() -> dict[str, Any] | None:
        rows = report(second, "?by=all")["rows"]
        return rows[0] if rows and rows[0]["offered"] == 1 else None
    row = wait_for(figures, 10, "the survey in the report")
    assert (row["responses"], row["response_rate"], row["csat"]) == (0, 0.0, None)
