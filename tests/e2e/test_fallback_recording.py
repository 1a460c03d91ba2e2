"""R4/R6 (issue 33): calls that reach the dialplan's fallback queue while no engine
leads are recorded by Asterisk (MixMonitor in [cti-fallback-record], no shell), and
when an engine leads again they are in the archive with their audio, SHA-256 and
sidecar, and in the completeness audit (a fallback call whose file was deleted is
reported missing). Real SIP calls (SIPp caller and agent, G.711 audio) through the
sandbox's Asterisk; no engine runs while they happen."""

from __future__ import annotations

import json
import time
import re

from recording.wav import SILENCE_RMS, inspect
from tests.e2e.harness import Sandbox, wait_for
from tests.e2e.harness.sandbox import FALLBACK_SPOOL, QUEUE_LOG, asterisk_cli
from tests.e2e.test_recording import archive_dir


def fallback_files() -> list[tuple[float, str]]:
    """(start, uniqueid) of the fallback recordings in the spool, oldest first."""
    found = []
    for path in FALLBACK_SPOOL.glob("*.wav"):
        start, uniqueid, _linked = path.name.removesuffix(".wav").split("~")
        found.append((float(start), uniqueid))
    return sorted(found)


def test_R4_R6_R13_fallback_calls_while_no_engine_leads_are_recorded_archived_audited_and_reported(
        sandbox: Sandbox, start_engine) -> None:  # type: ignore[no-untyped-def]
    # This test's queue_log starts empty (Asterisk reopens it): the calls earlier tests
    # sent to the fallback queue on this instance are not this test's to audit.
    asterisk_cli("logger rotate")
    agent = sandbox.agent("1001")
    # No engine: the dialplan's Stasis() fails and the calls go to Queue(fallback).
    for talk_ms in (6000, 3000):
        caller = sandbox.call(talk_ms=talk_ms)
        assert caller.wait(40) == 0, caller.output()
        agent.leg_with(caller.outcome(5).hung_up_itself(talk_ms))  # the agent talked with it to its end
    sandbox.assert_no_channels()
    files = fallback_files()
    assert len(files) == 2, files  # Asterisk recorded both, with no engine anywhere
    (_, kept), (_, lost) = files
    lines = QUEUE_LOG.read_text()
    for uniqueid in (kept, lost):
        assert re.search(rf"\|{re.escape(uniqueid)}\|fallback\|NONE\|RECORDING\|", lines), lines
        assert re.search(rf"\|{re.escape(uniqueid)}\|fallback\|Agent 1001\|COMPLETECALLER\|", lines), lines
    # The second call's file is lost before any engine could take it.
    (lost_file,) = FALLBACK_SPOOL.glob(f"*~{lost}~*.wav")
    lost_file.unlink()

    engine = start_engine(agents=["1001"], recording=True, wrap_up_s=0,
                          recording_extra=f'queue_log = "{QUEUE_LOG}"\n')
    assert engine.health()["role"] == "leader"
    found = wait_for(lambda: [m for m in engine.recordings() if m["call_id"] == f"fallback-{kept}"], 40,
                     "the fallback recording in the archive")
    (meta,) = found
    assert (meta["kind"], meta["queue"], meta["agent_id"]) == ("fallback", "fallback", "1001"), meta
    assert not list(FALLBACK_SPOOL.glob(f"*~{kept}~*.wav"))  # moved into the archive
    path = archive_dir(engine) / meta["path"]
    info = inspect(path)
    assert info.rms > SILENCE_RMS, info  # the caller's and the agent's audio, not silence
    # From the queue's music (early media) to the hang-up: the wait and the 6 s of talk.
    assert 5.5 <= info.duration_s <= 9.0 and abs(info.duration_s - (meta["ended_at"] - meta["started_at"])) <= 1.0, \
        (info, meta)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["sha256"] == meta["sha256"] and sidecar["call_id"] == f"fallback-{kept}"
    assert engine.recordings(f"/fallback-{kept}") == path.read_bytes()  # served only if its SHA-256 matches
    # The completeness audit counts both fallback calls: the one recorded is ok, the one
    # whose file was deleted is missing.
    report = wait_for(lambda: (r := engine.recordings("/audit"))["answered"] == 2 and r, 60,
                      "the audit to count the two fallback calls")
    assert report["ok"] == 1 and report["coverage"] == 0.5, report
    assert [(f["call_id"], f["problem"]) for f in report["findings"]] == [(f"fallback-{lost}", "missing")]
    assert engine.lines(rf"R4 ALERT: the fallback recording of call fallback-{re.escape(lost)} never reached")
    # R13: the two calls are in the reports' record too, in the queue "fallback",
    # answered by agent 1001 (the core never saw them).
    rows = wait_for(lambda: [r for r in engine.get("/reports/queues?by=queue&interval=day")["rows"]
                             if r["queue"] == "fallback"], 15, "the fallback calls in the reports")
    assert (sum(r["offered"] for r in rows), sum(r["answered"] for r in rows)) == (2, 2), rows
    agents = engine.get("/reports/agents?interval=day")["rows"]
    assert sum(r["answered"] for r in agents if r["agent"] == "1001") == 2, agents


def test_R4_R6_fallback_call_still_talking_when_the_engine_comes_back_is_archived_whole_after_it_ends(
        sandbox: Sandbox, start_engine) -> None:  # type: ignore[no-untyped-def]
    """The engine starts while a fallback call is on: its growing file is left alone
    until the call has ended, then archived whole (not cut at the engine's start)."""
    asterisk_cli("logger rotate")
    agent = sandbox.agent("1001")
    caller = sandbox.call(talk_ms=14000)
    wait_for(lambda: fallback_files(), 15, "the fallback call to be recorded")
    (_, uniqueid), = fallback_files()
    engine = start_engine(agents=["1001"], recording=True, wrap_up_s=0,
                          recording_extra=f'queue_log = "{QUEUE_LOG}"\n')
    started = time.time()
    assert caller.wait(40) == 0, caller.output()
    ended = time.time()
    agent.leg_with(caller.outcome(5).hung_up_itself(14000))
    assert ended - started >= 5.0  # the engine led for a while during the call
    assert not [m for m in engine.recordings() if m["call_id"] == f"fallback-{uniqueid}"]  # not while it grew
    (meta,) = wait_for(lambda: [m for m in engine.recordings() if m["call_id"] == f"fallback-{uniqueid}"], 40,
                       "the fallback recording in the archive")
    info = inspect(archive_dir(engine) / meta["path"])
    assert 13.5 <= info.duration_s <= 17.0 and info.rms > SILENCE_RMS, info  # the wait and the 14 s of talk
    report = wait_for(lambda: (r := engine.recordings("/audit"))["answered"] == 1 and r, 30, "the audit")
    assert report["coverage"] == 1.0 and report["findings"] == [], report


def test_R4_R6_a_caller_a_stopping_engine_hands_to_the_fallback_queue_is_recorded_once(
        sandbox: Sandbox, start_engine) -> None:  # type: ignore[no-untyped-def]
    """R6 hands a waiting caller to the fallback queue when the engine stops; the
    engine's recording of it goes on to its end (R4), and the dialplan does not record
    it a second time (nor report it a second time): one recording, the whole call."""
    asterisk_cli("logger rotate")
    agent = sandbox.agent("1001")
    extra = f'queue_log = "{QUEUE_LOG}"\n'
    engine = start_engine(agents=["1001"], login_at_start=False, recording=True, recording_extra=extra)
    caller = sandbox.call(talk_ms=10000)
    (call,) = wait_for(lambda: engine.get("/calls"), 15, "the caller to wait in the engine")
    assert engine.stop() == 0
    assert caller.wait(40) == 0, caller.output()
    agent.leg_with(caller.outcome(5).hung_up_itself(10000))  # the fallback queue's agent took it
    assert fallback_files() == []
    assert "|RECORDING|" not in QUEUE_LOG.read_text()
    again = start_engine(agents=["1001"], recording=True, recording_extra=extra)
    found = wait_for(lambda: again.recordings(), 60, "the engine's recording archived")
    assert [m["call_id"] for m in found] == [call["call_id"]], found
    info = inspect(archive_dir(again) / found[0]["path"])
    assert info.duration_s >= 9.5 and info.rms > SILENCE_RMS, info  # answer to hang-up, hand-over included
    report = wait_for(lambda: (r := again.recordings("/audit"))["answered"] == 1 and r, 30, "the audit")
    assert report["coverage"] == 1.0, report
