"""R18 end to end: a real call through the sandbox (SIPp caller with real audio, SIPp
agent answering), recorded and archived; the engine's sampler (the leader's loop)
picks it; an inspector signs in in Chromium, opens /quality, plays the recording in the
page (the audio element loads real audio: its duration and ready state), scores it with
a critical item failed (score 0); the agent's desk in the browser shows the result and
the agent acknowledges it; the recording's access is in the keyed audit log with the
inspector's identity."""

from __future__ import annotations

import base64
import io
import json
import urllib.request
import wave
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.e2e.harness import Sandbox, wait_for
from tests.e2e.harness.browser import Page

FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
INSPECTOR = ("zhao", "zhao-inspects-calls")
SUPERVISOR = ("li", "li-resolves-disputes")
PIN = "432109"

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
name = "{INSPECTOR[0]}"
role = "inspector"
password_hash = "{FAST.hash(INSPECTOR[1])}"
[[auth.accounts]]
name = "{SUPERVISOR[0]}"
role = "supervisor"
password_hash = "{FAST.hash(SUPERVISOR[1])}"
[auth]
cookie_secure = false

[quality]
share = 1.0
sample_every_s = 1
[quality.form]
name = "service"
[[quality.form.sections]]
name = "Opening"
[[quality.form.sections.items]]
id = "greeting"
label = "Standard greeting"
points = 10
[[quality.form.sections]]
name = "Handling"
[[quality.form.sections.items]]
id = "accuracy"
label = "Correct answer"
points = 20
weight = 3
[[quality.form.sections.items]]
id = "privacy"
label = "No full number read out"
points = 10
critical = true
"""


def fetch(port: int, path: str, user: str, secret: str, body: Any = None) -> tuple[str, bytes]:
    """GET ``path`` (POST ``body`` as JSON when given) as ``user``."""
    token = base64.b64encode(f"{user}:{secret}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers,
                                 data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.headers.get_content_type(), resp.read()


def audio_state(page: Page) -> dict[str, Any]:
    return dict(page.driver.execute_script(
        "const a = document.getElementById('player');"
        "return {ready: a.readyState, duration: isFinite(a.duration) ? a.duration : -1, time: a.currentTime,"
        " error: a.error ? a.error.code : 0, src: a.currentSrc};"))


def recorded_and_sampled(sandbox: Sandbox, engine: Any) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """A real call answered by 1001, recorded: the caller, its recording's metadata
    and its inspection once the leader's sampler has picked it."""
    caller = sandbox.call(talk_ms=6000)
    assert caller.wait(40) == 0, caller.output()
    (meta,) = wait_for(lambda: (r := engine.recordings()) and r, 60, "the call's recording archived")
    picked = wait_for(lambda: [i for i in engine.get("/quality/inspections") if i["call_id"] == meta["call_id"]],
                      30, "the call sampled for inspection")
    return caller, meta, picked[0]


def test_R18_an_inspector_plays_and_scores_a_recorded_call_and_the_agent_acknowledges_it_on_the_desk(
        sandbox: Sandbox, start_engine, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    agent = sandbox.agent("1001")
    engine = start_engine(agents=[], extra=CONFIG, recording=True)
    # The sampler of the leader's loop (every second here) picks the call: share 1.0.
    caller, meta, picked = recorded_and_sampled(sandbox, engine)
    call_id = meta["call_id"]
    agent.leg_with(caller.outcome(5).hung_up_itself(6000))
    assert picked["agent_id"] == "1001" and picked["reason"] == "sample" and picked["status"] == "pending"

    # The inspector, in Chromium.
    page = Page(browser, f"http://127.0.0.1:{engine.port}")
    page.open("/quality")
    page.sign_in(*INSPECTOR)
    page.until(lambda: call_id in page.text("inspections"), 10, "the sampled call in the queue")
    page.until(lambda: "To inspect" in page.text(f"row-{call_id}"), 5, "the call pending")
    page.driver.find_element(By.XPATH, f"//tr[@id='row-{call_id}']//button").click()
    page.until(lambda: page.visible("inspection") and page.text("i-call") == call_id, 10, "the inspection open")
    assert "1001" in page.text("i-agent")
    # The recording plays in the page: the audio element has loaded real audio.
    page.until(lambda: (s := audio_state(page))["ready"] >= 2 and s["duration"] > 0, 20, "the recording loaded")
    state = audio_state(page)
    assert state["error"] == 0 and state["src"].endswith(f"/quality/inspections/{call_id}/recording")
    assert abs(state["duration"] - meta["duration_s"]) < 0.5, (state, meta)
    page.driver.execute_script("const a = document.getElementById('player'); a.muted = true; a.play();")
    page.until(lambda: audio_state(page)["time"] > 0.2, 10, "the recording playing")
    # What the route serves is a WAV with audio in it (the same bytes the archive keeps).
    kind, data = fetch(engine.port, f"/quality/inspections/{call_id}/recording", *INSPECTOR)
    assert kind == "audio/wav"
    with wave.open(io.BytesIO(data)) as w:
        frames = w.getnframes()
        assert frames > w.getframerate() * 4 and any(w.readframes(frames))  # seconds of samples, not all zero

    # Scored with the critical item failed: 0, whatever the other marks.
    page.until(lambda: page.visible("mark-privacy"), 5, "the form's items")
    page.fill("mark-privacy", "0")
    page.fill("note-privacy", "read the caller's number in full")
    page.click("btn-score")
    page.until(lambda: "Score 0" in page.text("score-result"), 10, "the score saved")
    assert "Critical item failed" in page.text("score-result")
    page.shot("quality-inspection")
    scored = engine.get(f"/quality/inspections/{call_id}")
    assert scored["score"] == 0.0 and scored["critical_failed"] == ["privacy"] and scored["status"] == "scored"
    assert scored["inspector"] == f"account:{INSPECTOR[0]}" and scored["record"]["agent_id"] == "1001"

    # The agent, on its desk in the browser: the result, and acknowledges it.
    page.driver.delete_all_cookies()
    page.open("/agent")
    page.sign_in("1001", PIN)
    page.until(lambda: page.visible("quality-box") and call_id in page.text("my-quality"), 20,
               "the result on the agent's desk")
    result = page.text(f"quality-{call_id}")
    assert "Score 0" in result and "Critical item failed: No full number read out" in result
    assert "read the caller's number in full" in result
    page.shot("agent-desk-quality")
    page.driver.find_element(By.CSS_SELECTOR, "#my-quality button.quality-ack").click()
    page.until(lambda: "Acknowledged" in page.text(f"quality-{call_id}"), 10, "the result acknowledged")
    assert engine.get(f"/quality/inspections/{call_id}")["status"] == "acknowledged"

    # R14: the recording's every access is in the keyed audit log with the inspector's identity.
    lines = [json.loads(x) for x in (tmp_path / "audit" / "audit.log").read_bytes().splitlines()]
    plays = [x for x in lines if x.get("action") == "retrieve" and x.get("call_id") == call_id
             and x["who"].startswith(f"account:{INSPECTOR[0]}@")]
    assert len(plays) >= 2, [x for x in lines if x.get("call_id") == call_id]  # the page's and the fetch above
    assert any("R18 inspection of call " + call_id in x.get("message", "") and "critical item failed" in
               x.get("message", "") for x in lines)


def test_R18_an_agent_disputes_its_result_on_the_desk_and_a_supervisor_resolves_it_on_the_page(
        sandbox: Sandbox, start_engine, browser) -> None:  # type: ignore[no-untyped-def]
    sandbox.agent("1001")
    engine = start_engine(agents=[], extra=CONFIG, recording=True)
    _, meta, _ = recorded_and_sampled(sandbox, engine)
    call_id = meta["call_id"]
    _, body = fetch(engine.port, f"/quality/inspections/{call_id}/score", *INSPECTOR,
                    body={"marks": {"greeting": 10, "accuracy": 10, "privacy": 10}})
    assert json.loads(body)["score"] == 70.0  # (1 + 0.5 x 3 + 1) / 5

    page = Page(browser, f"http://127.0.0.1:{engine.port}")
    page.open("/agent")
    page.sign_in("1001", PIN)
    page.until(lambda: "Score 70" in page.text(f"quality-{call_id}"), 20, "the result on the agent's desk")
    why = page.driver.find_element(By.CSS_SELECTOR, "#my-quality input.quality-why")
    why.send_keys("the caller asked the same question twice; my answer was right")
    page.driver.find_element(By.CSS_SELECTOR, "#my-quality button.quality-dispute").click()
    page.until(lambda: "Disputed" in page.text(f"quality-{call_id}"), 10, "the result disputed")

    # The supervisor sees the disputes first on /quality and resolves this one: scored again.
    page.driver.delete_all_cookies()
    page.open("/quality")
    page.sign_in(*SUPERVISOR)
    page.until(lambda: "Disputed" in page.text(f"row-{call_id}"), 10, "the dispute listed for the supervisor")
    page.driver.find_element(By.XPATH, f"//tr[@id='row-{call_id}']//button").click()
    page.until(lambda: page.visible("dispute-box") and "my answer was right" in page.text("dispute-text"), 10,
               "the agent's dispute on the page")
    page.until(lambda: page.visible("mark-accuracy"), 5, "the form's items")
    page.fill("mark-accuracy", "20")
    Select(page.el("r-decision")).select_by_value("rescored")
    page.fill("r-comment", "the answer was right: full marks")
    page.click("btn-resolve")
    page.until(lambda: "Score 100" in page.text("score-result") and "Resolved" in page.text("i-status"), 10,
               "the dispute resolved")
    resolved = engine.get(f"/quality/inspections/{call_id}")
    assert resolved["status"] == "resolved" and resolved["score"] == 100.0
    assert resolved["resolved_by"] == f"account:{SUPERVISOR[0]}" and resolved["resolution"].startswith("rescored")
    report = engine.get("/quality/report")
    assert [(a["agent"], a["inspections"], a["mean_score"], a["disputed"]) for a in report["agents"]] == [
        ("1001", 1, 100.0, 1)]
