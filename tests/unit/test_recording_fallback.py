"""R4 for the dialplan fallback queue's calls (issue 33): the MixMonitor files the
dialplan writes while no engine leads are archived like the engine's recordings, and
the completeness audit counts those calls (a deleted file is reported missing).
R6: a failure (ARI away, a file that cannot be archived) is counted and retried."""

from __future__ import annotations

import asyncio
import json
import os
import re
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cti.errors import AriError
from cti.health import Faults
from cti.recording import fallback as fb
from cti.recording.calllog import CallLog
from cti.recording.fallback import (Fallback, QueueLogReader, QueueLogState, agent_of, call_id_of,
                                    end_of, parse_name)
from cti.recording.recorder import audit_archive
from recording.archive import Archive, sha256_of

NOW = 1796523400.0


def wav(path: Path, seconds: float, loud: bool = True) -> None:
    rng = np.random.default_rng(7)
    samples = (rng.normal(0, 3000 if loud else 0, int(8000 * seconds))).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.tobytes())


def lines(uniqueid: str, start: float, talk: int, end_event: str = "COMPLETECALLER") -> list[str]:
    name = f"{start:.3f}~{uniqueid}~{uniqueid}.wav"
    t = int(start)
    out = [f"{t}|{uniqueid}|fallback|NONE|RECORDING|{name}",
           f"{t}|{uniqueid}|fallback|NONE|ENTERQUEUE||13812345678|1",
           f"{t}|{uniqueid}|fallback|Agent 1001|CONNECT|0|{uniqueid}1|0"]
    if end_event:
        out.append(f"{t + talk}|{uniqueid}|fallback|Agent 1001|{end_event}|0|{talk}|1")
    return out


def test_R4_fallback_file_names_members_and_ends() -> None:
    assert parse_name("1796523327.098~w6-1796523327.4~w6-1796523327.4.wav") == (
        1796523327.098, "w6-1796523327.4", "w6-1796523327.4")
    assert parse_name("1796523327.098~1796523327.4~.wav") == (1796523327.098, "1796523327.4", "")
    for bad in ("x.wav", "1796523327.098~a/b~c.wav", "1796523327~u~l.wav", "1796523327.1~u~l.gsm"):
        assert parse_name(bad) is None, bad
    assert agent_of("Agent 1001") == "1001" and agent_of("PJSIP/agent1002") == "PJSIP/agent1002"
    assert agent_of("NONE") is None and agent_of("") is None
    assert end_of(100.0, 100.7) == 100.7  # the last write refines the queue_log's second
    assert end_of(100.0, 95.0) == 100.0  # stopped early: the queue_log's end (the audit: short)
    assert end_of(100.0, None) == 100.0
    assert call_id_of("w6-1.2") == "fallback-w6-1.2"


def test_R4_queue_log_follows_recorded_calls_only_within_the_window_and_bounded(monkeypatch) -> None:
    state = QueueLogState()
    for line in lines("u1", NOW - 100, 20) + lines("old", NOW - fb.WINDOW_S - 10, 5) + [
            f"{int(NOW)}|u2|fallback|NONE|ENTERQUEUE||13800000000|1", "garbage", "1|2|3"]:
        state.feed(line, NOW)
    assert list(state.calls) == ["u1"]  # u2 had no RECORDING line; "old" is out of the window
    call = state.calls["u1"]
    assert (call.caller, call.agent_id, call.ended_at, call.started_at) == (
        "13812345678", "1001", int(NOW - 100) + 20, NOW - 100)
    monkeypatch.setattr(fb, "MAX_CALLS", 3)
    for n in range(10):
        state.feed(lines(f"v{n}", NOW, 1)[0], NOW)
    assert list(state.calls) == ["v7", "v8", "v9"]  # the oldest went first


def test_R4_queue_log_read_incrementally_whole_lines_and_again_after_rotation(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    first = lines("u1", NOW - 50, 10)
    path.write_text("\n".join(first[:2]) + "\n" + first[2][:10])  # the last line half written
    reader, state = QueueLogReader(path), QueueLogState()
    assert reader.read(state, NOW) == 2
    with path.open("a") as f:
        f.write(first[2][10:] + "\n" + first[3] + "\n")
    assert reader.read(state, NOW) == 2 and state.calls["u1"].ended_at is not None
    assert reader.read(state, NOW) == 0
    path.rename(tmp_path / "queue_log.0")  # logger rotate: a new file from the start
    path.write_text("\n".join(lines("u2", NOW - 40, 5)) + "\n")
    assert reader.read(state, NOW) == 4 and "u2" in state.calls
    assert QueueLogReader(tmp_path / "none").read(state, NOW) == 0


class Ari:
    def __init__(self) -> None:
        self.live: set[str] = set()
        self.away = False
        self.asked: list[str] = []

    async def request(self, method: str, path: str) -> Any:
        self.asked.append(path)
        if self.away:
            raise AriError(method, path, 0, "no answer within 5 s")
        if path.rsplit("/", 1)[-1] in self.live:
            return {"id": path.rsplit("/", 1)[-1]}
        raise AriError(method, path, 404, "Channel not found")


async def run_io(fn: Any, *args: Any) -> Any:
    return fn(*args)


def setup(tmp_path: Path, queue_log: bool = True) -> tuple[Fallback, Archive, CallLog, Ari, Path, list[float]]:
    folder = tmp_path / "spool" / "fallback"
    archive = Archive(tmp_path / "archive")
    calls = CallLog(tmp_path / "archive" / "calls.sqlite")
    ari, clock = Ari(), [NOW]
    part = Fallback(folder, tmp_path / "queue_log" if queue_log else None, archive, calls, run_io,
                    ari.request, Faults(), clock=lambda: clock[0])
    return part, archive, calls, ari, folder, clock


def old(path: Path, at: float) -> None:
    os.utime(path, (at, at))


def test_R4_finished_fallback_recording_archived_with_hash_sidecar_and_counted_by_the_audit(
        tmp_path: Path) -> None:
    part, archive, calls, ari, folder, clock = setup(tmp_path)
    start = NOW - 60
    log_lines = lines("w6-1.4", start, 8) + lines("w6-1.9", start, 8)  # the second one's file was deleted
    (tmp_path / "queue_log").write_text("\n".join(log_lines) + "\n")
    f = folder / f"{start:.3f}~w6-1.4~w6-1.4.wav"
    wav(f, 8.0)
    old(f, int(start) + 8 + 0.4)
    # Still live in the queue_log's eyes: a file of a call not yet ended stays.
    assert asyncio.run(part.sweep()) == 1
    assert not f.exists() and ari.asked == []  # the queue_log told the end: ARI not asked
    meta = archive.get("fallback-w6-1.4")
    assert meta is not None and (meta.kind, meta.queue, meta.agent_id, meta.caller) == (
        "fallback", "fallback", "1001", "13812345678")
    assert meta.started_at == start and meta.ended_at == int(start) + 8 + 0.4
    sidecar = json.loads((archive.root / meta.path).with_suffix(".json").read_text())
    assert sidecar["sha256"] == sha256_of(archive.root / meta.path) == meta.sha256 and sidecar["kind"] == "fallback"
    report = audit_archive(archive, calls, 1.0, 0, NOW)
    assert report.answered == 2 and report.ok == 1
    assert [(x.call_id, x.problem) for x in report.findings] == [("fallback-w6-1.9", "missing")]
    # Idempotent: a restarted engine reads the whole queue_log again, changes nothing.
    again, *_ = setup(tmp_path)
    assert asyncio.run(again.sweep()) == 0 and again.missing == 0
    assert audit_archive(archive, calls, 1.0, 0, NOW).answered == 2


def test_R4_a_call_ended_moments_ago_is_not_judged_missing_yet_nor_a_growing_file_archived(
        tmp_path: Path) -> None:
    part, archive, calls, ari, folder, clock = setup(tmp_path)
    (tmp_path / "queue_log").write_text("\n".join(lines("u1", NOW - 20, 10) + lines("u2", NOW - 20, 15)) + "\n")
    f = folder / f"{NOW - 20:.3f}~u2~u2.wav"
    wav(f, 15.0)
    old(f, NOW - 1)  # written a second ago
    assert asyncio.run(part.sweep()) == 0 and part.missing == 0 and f.exists()
    clock[0] = NOW + 30
    assert asyncio.run(part.sweep()) == 1 and part.missing == 1


def test_R4_without_an_end_in_the_queue_log_the_file_waits_until_ari_no_longer_knows_the_channel(
        tmp_path: Path) -> None:
    part, archive, calls, ari, folder, clock = setup(tmp_path, queue_log=False)
    f = folder / f"{NOW - 30:.3f}~u3~u3.wav"
    wav(f, 3.0)
    old(f, NOW - 20)
    ari.live.add("u3")  # quiet (on hold, say) but still there
    assert asyncio.run(part.sweep()) == 0 and f.exists() and ari.asked == ["/channels/u3"]
    ari.live.clear()
    assert asyncio.run(part.sweep()) == 1
    meta = archive.get("fallback-u3")
    assert meta is not None and meta.agent_id is None and meta.ended_at == NOW - 20
    assert audit_archive(archive, calls, 1.0, 0, NOW).answered == 1


def test_R6_fallback_failures_are_counted_logged_and_retried(tmp_path: Path, caplog) -> None:
    part, archive, calls, ari, folder, clock = setup(tmp_path, queue_log=False)
    f = folder / f"{NOW - 30:.3f}~u4~u4.wav"
    wav(f, 3.0)
    old(f, NOW - 20)
    other = folder / f"{NOW - 30:.3f}~u5~u5.wav"
    wav(other, 3.0)
    old(other, NOW - 20)
    ari.away = True
    assert asyncio.run(part.sweep()) == 0 and f.exists()
    assert part.faults.counts[("failed", "fallback recording")] == 1
    assert len(ari.asked) == 1  # ARI away: one deadline a sweep, not one per file
    other.unlink()
    assert re.search(r"asking ARI about channel u[45] failed", caplog.text)
    ari.away = False
    # A file the archive refuses (a symbolic link in its place): counted, tried later.
    target = tmp_path / "elsewhere.wav"
    f.rename(target)
    f.symlink_to(target)
    old(target, NOW - 20)
    os.utime(f, (NOW - 20, NOW - 20), follow_symlinks=False)
    assert asyncio.run(part.sweep()) == 0 and part.faults.counts[("failed", "fallback recording")] == 2
    assert asyncio.run(part.sweep()) == 0 and part.faults.counts[("failed", "fallback recording")] == 2  # waits
    f.unlink()
    target.rename(f)
    old(f, NOW - 20)
    clock[0] = NOW + fb.RETRY_MAX_S
    assert asyncio.run(part.sweep()) == 1 and archive.get("fallback-u4") is not None
    assert part._retry == {}


def test_R6_unreadable_queue_log_is_counted_and_the_files_still_archived(tmp_path: Path) -> None:
    part, archive, calls, ari, folder, clock = setup(tmp_path)
    (tmp_path / "queue_log").mkdir()  # not a file: reading it fails
    f = folder / f"{NOW - 30:.3f}~u5~u5.wav"
    wav(f, 3.0)
    old(f, NOW - 20)
    assert asyncio.run(part.sweep()) == 1
    assert part.faults.counts[("failed", "fallback recording")] == 1


def test_R4_recording_config_reads_the_fallback_folder_and_queue_log(tmp_path: Path) -> None:
    from cti.configreader import Table
    from cti.recording.settings import parse_recording

    base = {"spool_dir": str(tmp_path / "spool"), "archive_dir": str(tmp_path / "a")}
    config = parse_recording(Table(dict(base), "recording"))
    assert config.fallback_folder == tmp_path / "spool" / "fallback" and config.queue_log is None
    config = parse_recording(Table({**base, "fallback_dir": "/x/fb", "queue_log": "/x/queue_log"}, "recording"))
    assert (config.fallback_folder, config.queue_log) == (Path("/x/fb"), Path("/x/queue_log"))


@pytest.mark.parametrize("event", ["ABANDON", "EXITWITHTIMEOUT", "COMPLETEAGENT"])
def test_R4_every_end_of_a_queue_call_ends_it(event: str) -> None:
    state = QueueLogState()
    for line in lines("u6", NOW - 10, 3, event):
        state.feed(line, NOW)
    assert state.calls["u6"].ended_at == int(NOW - 10) + 3


def test_R6_an_archived_file_whose_spool_name_stayed_is_removed_later_not_archived_again(
        tmp_path: Path, monkeypatch) -> None:
    part, archive, calls, ari, folder, clock = setup(tmp_path, queue_log=False)
    f = folder / f"{NOW - 30:.3f}~u7~u7.wav"
    wav(f, 3.0)
    old(f, NOW - 20)
    real_unlink = Path.unlink

    def refused(self: Path, missing_ok: bool = False) -> None:
        if self == f:
            raise PermissionError(13, "Permission denied")
        real_unlink(self, missing_ok)
    monkeypatch.setattr(Path, "unlink", refused)
    with pytest.raises(PermissionError):  # (the archive itself: indexed, the spool name stays)
        archive.store(f, {"call_id": "fallback-u7", "started_at": NOW - 30, "ended_at": NOW - 20})
    assert asyncio.run(part.sweep()) == 0 and f.exists()
    assert part.faults.counts[("failed", "fallback recording")] == 1
    monkeypatch.setattr(Path, "unlink", real_unlink)
    clock[0] = NOW + fb.RETRY_MAX_S
    assert asyncio.run(part.sweep()) == 1 and not f.exists() and part.archived == 0
    assert [m.call_id for m in archive.all()] == ["fallback-u7"]
    assert audit_archive(archive, calls, 1.0, 0, NOW + fb.RETRY_MAX_S).answered == 1  # and in the call log


async def test_R13_ended_fallback_calls_reach_the_reports_record_once_each(tmp_path: Path) -> None:
    from cti.reports.service import History
    from cti.reports.store import SCHEMA, HistoryStore
    from cti.store.sql import Database

    part, archive, calls, ari, folder, clock = setup(tmp_path)
    t = int(NOW - 100)
    gave_up = [f"{t}|u9|fallback|NONE|RECORDING|{NOW - 100:.3f}~u9~u9.wav",
               f"{t}|u9|fallback|NONE|ENTERQUEUE||13900000000|1", f"{t + 4}|u9|fallback|NONE|ABANDON|1|1|4"]
    (tmp_path / "queue_log").write_text("\n".join(lines("u8", NOW - 100, 8) + gave_up) + "\n")
    db = Database(f"sqlite:{tmp_path / 'store.sqlite'}", 10.0, SCHEMA)
    await db.open()
    try:
        history = History(HistoryStore(db), lambda: NOW)
        part.report_to(history.add)
        await part.sweep()
        await part.sweep()  # nothing twice
        assert await history.flush() == 2
        again, *_ = setup(tmp_path)  # a restarted engine reads the queue_log again: adds nothing
        again.report_to(history.add)
        await again.sweep()
        assert await history.flush() == 0
        records = {r.call_id: r for r in await history.store.calls_since(0)}
        handled, abandoned = records["fallback-u8"], records["fallback-u9"]
        assert (handled.queue, handled.outcome, handled.agent_id, handled.talked_s, handled.ended_by) == (
            "fallback", "handled", "1001", 8.0, "caller")
        assert (abandoned.outcome, abandoned.agent_id, abandoned.waited_s, abandoned.caller) == (
            "abandoned", None, 4.0, "13900000000")
        ((queue, _kind, _start, sums),) = await history.store.buckets(0, NOW + 3600)
        assert (queue, sums.offered, sums.answered, sums.abandoned) == ("fallback", 2, 1, 1)
    finally:
        db.close()


async def test_R4_R6_a_call_handed_to_the_fallback_queue_ends_when_its_recording_does(tmp_path: Path) -> None:
    """The engine notes a handed-over caller as gone (out of its sight), but its snoop
    recording goes on to the real end: archived, the call ends with it, and the audit
    finds it whole (not "10 s recorded for 0.5 s answered"). A call whose end nobody saw
    (the engine away) ends with its recording's last write, not at the resync."""
    from cti.recording.recorder import Recorder
    from cti.recording.settings import RecordingConfig

    import time
    recorder = Recorder(RecordingConfig(tmp_path / "spool", "/spool", tmp_path / "archive"), ari=None)  # type: ignore[arg-type]
    t0 = time.time() - 200
    for call_id, talk in (("handed", 10.0), ("unseen", 5.0)):
        await recorder.io(recorder.log.answered, call_id, "13812345678", t0)
        await recorder.io(recorder.log.label, call_id, "support", "gas", None)
        wav(tmp_path / "spool" / f"{call_id}.wav", talk)
        old(tmp_path / "spool" / f"{call_id}.wav", t0 + talk)
    await recorder.io(recorder.log.ended, "handed", t0 + 0.5)  # RouteToFallback: "it leaves our sight"
    recorder.resync([], t0 + 100)  # the engine back: "unseen" is not live any more
    assert await recorder.io(recorder.archive_finished) == 2
    report = await recorder.io(recorder.run_audit)
    assert (report.answered, report.ok, report.findings) == (2, 2, ()), report
    assert recorder.archive.get("handed").ended_at == t0 + 10.0  # type: ignore[union-attr]
