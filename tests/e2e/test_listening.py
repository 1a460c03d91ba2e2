"""Supervisors listening, coaching (whisper) and joining (barge) through ARI snoop, on
real calls: three real softphones (baresip), each sending its own tone and recording
what it hears, so that who heard whom is measured in the audio itself."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from typing import Any

import numpy as np
from argon2 import PasswordHasher

from tests.e2e.harness import HOST, Sandbox, wait_for
from tests.e2e.harness.softphone import Softphone

FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ = 400, 700, 1100
PHASE_S = 3.0


def tone(samples: np.ndarray[Any, Any], hz: int) -> float:
    """The share of the signal's power within ±15 Hz of ``hz`` (0..1)."""
    if len(samples) < 800:
        return 0.0
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / 8000)
    total = spectrum.sum()
    return float(spectrum[(freqs > hz - 15) & (freqs < hz + 15)].sum() / total) if total else 0.0


def window(samples: np.ndarray[Any, Any], started: float, begin: float, end: float) -> np.ndarray[Any, Any]:
    """The samples heard between wall-clock ``begin`` and ``end`` (the call was
    established at ``started``), with half a second of margin on each side."""
    a, b = int((begin - started + 0.5) * 8000), int((end - started - 0.5) * 8000)
    return samples[max(0, a):max(0, b)]


def post(port: int, path: str, body: dict[str, Any], user: str, secret: str) -> Any:
    auth = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", "Authorization": auth})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def test_R14_supervisor_listens_whispers_and_barges_and_each_is_audited(
        sandbox: Sandbox, start_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Listen: the supervisor hears caller and agent, neither hears the supervisor.
    Whisper: only the agent hears the supervisor. Barge: both do. The mode changes
    without the supervisor's phone hanging up; each start, change and stop is in the
    audit log with who, whom and when."""
    password = "coach-li-not-a-secret"
    engine = start_engine(agents=[], extra=f"""
[[queues]]
name = "support"
wrap_up_s = 0
announce_agent_id = false
[[agents]]
id = "2001"
endpoint = "PJSIP/agent2001"
queues = ["support"]
login_at_start = true
[auth]
[[auth.accounts]]
name = "li"
role = "supervisor"
password_hash = "{FAST.hash(password)}"
phone = "PJSIP/agent2002"
""")
    agent = Softphone("2001", tmp_path, tone_hz=AGENT_HZ)
    supervisor = Softphone("2002", tmp_path, tone_hz=SUPERVISOR_HZ)
    caller = Softphone("caller", tmp_path, tone_hz=CALLER_HZ, user="caller")
    try:
        agent.registered()
        supervisor.registered()
        wait_for(lambda: "agent 2001: phone reachable" in engine.log(), 10, "agent 2001's phone seen")
        caller.command("dial", f"sip:100@{HOST}")
        call = wait_for(lambda: next((k for k in engine.get("/calls") if k["bridged"]), None), 20, "the call bridged")
        call_id = call["call_id"]
        started = {"agent": agent.event("CALL_ESTABLISHED")["_at"], "caller": caller.event("CALL_ESTABLISHED")["_at"]}
        answer = post(engine.port, f"/calls/{call_id}/listen", {"mode": "listen"}, "li", password)
        assert (answer["mode"], answer["agent_id"], answer["by"]) == ("listen", "2001", "account:li")
        started["supervisor"] = supervisor.event("CALL_ESTABLISHED")["_at"]
        def bridged() -> set[str]:
            try:
                return set(sandbox.ari("GET", f"/bridges/cti-sup-{call_id}")["channels"])
            except urllib.error.HTTPError:  # not made yet
                return set()
        before = wait_for(lambda: len(bridged()) == 2 and bridged(), 10, "the supervisor's phone and the snoop bridged")
        phases = {"listen": time.time()}
        time.sleep(PHASE_S)
        for mode in ("whisper", "barge"):
            assert post(engine.port, f"/calls/{call_id}/listen", {"mode": mode}, "li", password)["mode"] == mode
            # A new snoop channel takes the old one's place; the supervisor's leg stays.
            now = wait_for(lambda: len(b := bridged()) == 2 and b != before and b, 5, f"the {mode} snoop in place")
            assert len(now & before) == 1
            before = now
            phases[mode] = time.time()
            time.sleep(PHASE_S)
        phases["end"] = time.time()
        mark = len(supervisor.events)
        post(engine.port, f"/calls/{call_id}/listen/stop", {}, "li", password)
        supervisor.event("CALL_CLOSED", mark)  # one supervisor call from start to stop: never dropped
        assert len([x for x in supervisor.events if x.get("type") == "CALL_ESTABLISHED"]) == 1
        caller.command("hangup")
        agent.event("CALL_CLOSED")
        caller.event("CALL_CLOSED")
        time.sleep(0.5)
        heard = {"agent": agent.heard(), "caller": caller.heard(), "supervisor": supervisor.heard()}
    finally:
        for phone in (caller, agent, supervisor):
            phone.close()
    ends = {"listen": phases["whisper"], "whisper": phases["barge"], "barge": phases["end"]}
    share = {(who, phase, hz): tone(window(heard[who], started[who], phases[phase], ends[phase]), hz)
             for who in heard for phase in ends for hz in (CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ)}
    present, absent = 0.05, 0.01
    # Listen: the supervisor hears both parties; nobody hears the supervisor.
    assert share["supervisor", "listen", CALLER_HZ] > present and share["supervisor", "listen", AGENT_HZ] > present, share
    assert share["caller", "listen", SUPERVISOR_HZ] < absent and share["agent", "listen", SUPERVISOR_HZ] < absent, share
    assert share["caller", "listen", AGENT_HZ] > present and share["agent", "listen", CALLER_HZ] > present, share
    # Whisper: the agent hears the supervisor, the caller does not.
    assert share["agent", "whisper", SUPERVISOR_HZ] > present and share["caller", "whisper", SUPERVISOR_HZ] < absent, share
    # Barge: both hear the supervisor.
    assert share["agent", "barge", SUPERVISOR_HZ] > present and share["caller", "barge", SUPERVISOR_HZ] > present, share
    log = engine.log()
    for line in (f"call {call_id}: account:li starts to listen to agent 2001 (phone PJSIP/agent2002)",
                 f"call {call_id}: account:li switches from listen to whisper (agent 2001)",
                 f"call {call_id}: account:li switches from whisper to barge (agent 2001)",
                 f"call {call_id}: account:li stops to barge to agent 2001"):
        assert line in log, line
    # When: each audit line carries its time.
    assert all(line[:2] == "20" and line[10] == " " for line in log.splitlines() if "account:li s" in line)
