"""R4/R5 on real calls: every answered call recorded from answer to hangup (through
queue, bridge and hold), archived with its SHA-256, audited, retrievable only with the
reader token. SIPp callers play real G.711 audio (the sip-tester g711a pcap)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from recording.wav import SILENCE_RMS, inspect
from tests.e2e.harness import Sandbox, wait_for

AGENTS = ["1001", "1002", "1003", "1004"]


def archive_dir(engine) -> Path:
    return engine.config_path.parent / "archive"


def answered_times(engine) -> dict[str, float]:
    db = sqlite3.connect(str(archive_dir(engine) / "calls.sqlite"))
    try:
        return {k: e - a for k, a, e in db.execute(
            "SELECT call_id, answered_at, ended_at FROM calls WHERE ended_at IS NOT NULL")}
    finally:
        db.close()


def check_recordings(engine, expected: int) -> list[dict[str, Any]]:
    """Every recording archived, a valid WAV, as long as the answered time (±1 s), not
    silent, and its bytes match the SHA-256 on retrieval."""
    found = wait_for(lambda: (r := engine.recordings()) and len(r) >= expected and r, 60,
                     f"{expected} recordings archived")
    assert len(found) == expected
    answered = answered_times(engine)
    for meta in found:
        data = engine.recordings(f"/{meta['call_id']}")
        path = archive_dir(engine) / meta["path"]
        assert data == path.read_bytes()
        info = inspect(path)
        assert abs(info.duration_s - answered[meta["call_id"]]) <= 1.0, (meta, answered[meta["call_id"]])
        assert info.rms > SILENCE_RMS, meta
    return found


def test_R4_twenty_calls_give_twenty_valid_recordings(sandbox: Sandbox, start_engine) -> None:
    """R4: 20 calls with real audio -> 20 recordings, each a valid WAV, its length the
    answered time within 1 s, not silent; coverage 1.0."""
    phones = [sandbox.agent(agent_id) for agent_id in AGENTS]
    engine = start_engine(agents=AGENTS, recording=True, wrap_up_s=0)
    callers = sandbox.call(talk_ms=4000, calls=20, rate=4)
    assert callers.wait(120) == 0, callers.output()
    # Each of the 20 was answered and talked its 4 s to its own hang-up (nobody cut off).
    legs = callers.outcomes(5)
    assert len(legs) == 20 and all(leg.answered and leg.hung_up_by == "caller" and leg.talk_s >= 3.75
                                   for leg in legs), [str(leg) for leg in legs]
    found = check_recordings(engine, 20)
    assert {m["queue"] for m in found} == {"support"}
    assert sum(1 for m in found if m["agent_id"]) >= 10  # most reached an agent
    # As many agent-labelled recordings as calls the agents' phones answered.
    assert sum(1 for m in found if m["agent_id"]) == sum(len(phone.answered()) for phone in phones)
    report = wait_for(lambda: (r := engine.recordings("/audit"))["answered"] == 20 and r, 40,
                      "the audit to see the 20 calls")
    assert report["coverage"] == 1.0 and report["findings"] == []


def test_R4_a_call_put_on_hold_is_recorded_through_the_hold(sandbox: Sandbox, start_engine) -> None:
    """R4: recording continues through hold (the agent's phone holds the caller 5 s)."""
    holder = sandbox.agent("1002", "agent_hold.xml")
    engine = start_engine(agents=["1002"], recording=True)
    caller = sandbox.call(talk_ms=12000)
    assert caller.wait(40) == 0, caller.output()
    holder.leg_with(caller.outcome(5).hung_up_itself(12000))  # held, and still there to the end
    (meta,) = check_recordings(engine, 1)
    assert meta["duration_s"] >= 11.0  # answer to hangup, hold included


def test_R4_engine_killed_mid_call_recording_completes_and_is_archived(
        sandbox: Sandbox, start_engine) -> None:
    """R4: kill -9 of the engine mid-call: Asterisk keeps recording; the restarted
    engine archives the complete recording."""
    agent = sandbox.agent("1001")
    first = start_engine(redis=True, agents=["1001"], recording=True)
    caller = sandbox.call(talk_ms=10000)
    wait_for(lambda: first.agent("1001")["state"] == "on-call", 15, "the call bridged")
    first.kill()
    time.sleep(1.0)
    second = start_engine(redis=True, agents=["1001"], recording=True)
    assert caller.wait(40) == 0, caller.output()
    # The call went on through the kill: the caller talked its 10 s with the agent's
    # phone and hung up itself.
    agent.leg_with(caller.outcome(5).hung_up_itself(10000))
    (meta,) = check_recordings(second, 1)
    assert meta["duration_s"] >= 9.0


def test_R4_R14_removed_recording_is_reported_and_retrieval_needs_the_token(
        sandbox: Sandbox, start_engine) -> None:
    """R4: a recording removed by hand is reported missing and coverage drops below 1.
    R14: without the reader token, nothing is listed or fetched, and the refusal is
    audited."""
    agent = sandbox.agent("1001")
    engine = start_engine(agents=["1001"], recording=True)
    for _ in range(2):
        caller = sandbox.call(talk_ms=2000)
        assert caller.wait(30) == 0, caller.output()
        agent.leg_with(caller.outcome(5).hung_up_itself(2000))
    found = check_recordings(engine, 2)
    (archive_dir(engine) / found[0]["path"]).unlink()
    report = engine.recordings("/audit")
    assert report["coverage"] == 0.5
    assert [(f["call_id"], f["problem"]) for f in report["findings"]] == [(found[0]["call_id"], "missing")]
    import urllib.request

    for path in ("", f"/{found[1]['call_id']}"):
        req = urllib.request.Request(f"http://127.0.0.1:{engine.port}/recordings{path}")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=5)
        assert info.value.code == 401  # no credentials at all
    audit_log = (engine.config_path.parent / "audit" / "audit.log").read_text()  # the one keyed log ([audit])
    # The audit names the authenticated identity (the reader token), not a client header.
    assert '"retrieve"' in audit_log and "reader-token@" in audit_log and "e2e-auditor" not in audit_log


def test_R4_fifty_simultaneous_recorded_calls_none_lost_or_truncated(sandbox: Sandbox, start_engine) -> None:
    """R4 under load: 50 callers at once, every one recorded in full."""
    engine = start_engine(agents=["1001"], recording=True, login_at_start=False)
    callers = sandbox.call(talk_ms=8000, calls=50, rate=50)
    assert callers.wait(120) == 0, callers.output()
    legs = callers.outcomes(5)  # all 50 answered, each on the line its whole 8 s
    assert len(legs) == 50 and all(leg.answered and leg.hung_up_by == "caller" and leg.talk_s >= 7.75
                                   for leg in legs), [str(leg) for leg in legs]
    found = check_recordings(engine, 50)
    durations = sorted(m["duration_s"] for m in found)
    print(f"\n50 simultaneous recordings: {durations[0]:.2f}..{durations[-1]:.2f} s")
    assert durations[0] >= 7.0
