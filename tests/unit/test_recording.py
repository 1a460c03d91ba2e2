"""Recording policy, archive, retention, legal holds, integrity and the completeness
audit (R4, R5), on real WAV files in a temporary archive."""

from __future__ import annotations

import math
import struct
import wave
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from recording.archive import Archive, IntegrityError
from recording.completeness import AnsweredCall, audit
from recording.retention import LegalHold, add_months
from recording.wav import inspect

UTC = timezone.utc


def write_wav(path: Path, seconds: float, amplitude: int = 8000) -> Path:
    rate = 8000
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(amplitude * math.sin(2 * math.pi * 440 * i / rate)))
            for i in range(int(seconds * rate))
        )
        w.writeframes(frames)
    return path


def archived(archive: Archive, tmp: Path, call_id: str, ended: datetime, seconds: float = 2.0,
             caller: str = "13800000001") -> None:
    src = write_wav(tmp / f"{call_id}.wav", seconds)
    end = ended.timestamp()
    archive.store(src, {"call_id": call_id, "caller": caller, "agent_id": "1001", "queue": "support",
                        "kind": "complaint", "started_at": end - seconds, "ended_at": end})


def test_add_months_is_calendar_exact() -> None:
    assert add_months(datetime(2026, 8, 31, tzinfo=UTC), 6) == datetime(2027, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2026, 1, 15, 10, 30, tzinfo=UTC), 6) == datetime(2026, 7, 15, 10, 30, tzinfo=UTC)


def test_R5_retention_six_months_with_legal_holds(tmp_path: Path) -> None:
    """R5: 6 months + 1 day -> deleted; 5 months 29 days -> kept; a legal hold keeps it
    until released; the purge is idempotent and audits each deletion."""
    archive = Archive(tmp_path / "archive")
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    old = add_months(now, -6) - timedelta(days=1)
    young = add_months(now, -6) + timedelta(days=2)  # 5 months 29 days ago
    archived(archive, tmp_path, "old", old)
    archived(archive, tmp_path, "young", young)
    archived(archive, tmp_path, "disputed", old, caller="13900000009")
    archive.add_hold(LegalHold("h1", "complaint 42", "supervisor-li", now, caller="13900000009"))
    assert archive.purge(now, 6, "scheduler", dry_run=True) == ["old"]
    assert archive.get("old") is not None  # dry run deleted nothing
    assert archive.purge(now, 6, "scheduler") == ["old"]
    assert archive.get("old", missing_ok=True) is None
    assert not list((tmp_path / "archive").glob(f"{old:%Y/%m/%d}/old.*"))
    assert archive.purge(now, 6, "scheduler") == []  # idempotent
    assert {m.call_id for m in archive.all()} == {"young", "disputed"}
    archive.release_hold("h1", "supervisor-li", now + timedelta(hours=1))
    assert archive.purge(now + timedelta(hours=2), 6, "scheduler") == ["disputed"]
    actions = [(x["action"], x.get("call_id") or x.get("hold_id")) for x in archive.audit.entries()]
    assert actions == [("hold", "h1"), ("delete", "old"), ("release", "h1"), ("delete", "disputed")]
    assert archive.audit.verify_chain()


def test_R5_a_flipped_byte_is_refused_on_retrieval_and_reported(tmp_path: Path) -> None:
    """R5: integrity is checked on every retrieval; a mismatch is refused and audited."""
    archive = Archive(tmp_path / "archive")
    archived(archive, tmp_path, "k1", datetime(2026, 11, 1, tzinfo=UTC))
    assert archive.open_verified("k1", "auditor-wang")[:4] == b"RIFF"
    meta = archive.get("k1")
    assert meta is not None
    path = tmp_path / "archive" / meta.path
    path.chmod(0o640)
    data = bytearray(path.read_bytes())
    data[1000] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        archive.open_verified("k1", "auditor-wang")
    assert archive.verify_all() == ["k1"]
    assert [x["action"] for x in archive.audit.entries()] == ["retrieve", "retrieve-refused"]


def test_index_rebuilds_from_the_archive_alone(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    for i in range(3):
        archived(archive, tmp_path, f"k{i}", datetime(2026, 10, 1 + i, tzinfo=UTC))
    archive.close()
    (tmp_path / "archive" / "index.sqlite").unlink()
    again = Archive(tmp_path / "archive")
    assert again.search() == []
    assert again.rebuild_index() == 3
    assert [m.call_id for m in again.search(caller="13800000001")] == ["k0", "k1", "k2"]


def test_R4_audit_reports_missing_empty_silent_and_short(tmp_path: Path) -> None:
    """R4: every answered call is matched to a recording; problems are reported."""
    ok = inspect(write_wav(tmp_path / "ok.wav", 5.0))
    silent = inspect(write_wav(tmp_path / "silent.wav", 5.0, amplitude=0))
    short = inspect(write_wav(tmp_path / "short.wav", 2.0))
    calls = [AnsweredCall(k, 100.0, 105.0) for k in ("ok", "silent", "short", "gone", "empty")]
    report = audit(calls, {"ok": ok, "silent": silent, "short": short,
                           "empty": inspect(write_wav(tmp_path / "empty.wav", 0.0))})
    assert report.answered == 5 and report.ok == 1 and report.coverage == 0.2
    assert {(f.call_id, f.problem) for f in report.findings} == {
        ("silent", "silent"), ("short", "short"), ("gone", "missing"), ("empty", "empty")}
    assert audit([AnsweredCall("ok", 100.0, 105.6)], {"ok": ok}).coverage == 1.0  # within 1 s


def test_R5_a_legal_hold_needs_aware_timestamps_and_start_before_end(tmp_path: Path) -> None:
    """A plain date or a time without offset is ambiguous by up to a day: refused (HTTP
    400 through BadHold), as is an empty range; an aware range is kept as given."""
    from cti.recording.services import BadHold, place_hold

    archive = Archive(tmp_path / "archive")
    for start, end in (("2024-01-01", "2025-01-01"), ("2024-01-01T00:00:00", "2025-01-01T00:00:00+08:00"),
                       ("2025-01-01T00:00:00+08:00", "2024-01-01T00:00:00+08:00"), ("soon", "later")):
        with pytest.raises(BadHold):
            place_hold(archive, "supervisor-li", "dispute 9", start=start, end=end)
    assert archive.holds() == []
    hold = place_hold(archive, "supervisor-li", "dispute 9", start="2024-01-01T00:00:00+08:00",
                      end="2025-01-01T00:00:00+08:00")
    assert archive.holds() == [hold] and hold.start is not None and hold.start.utcoffset() == timedelta(hours=8)


def test_R5_a_legal_hold_names_a_known_call_and_a_real_number(tmp_path: Path) -> None:
    """A hold on a mistyped call id would hold nothing: refused. A caller number is
    kept in one form (separators removed), so that it matches the archive's."""
    from cti.recording.services import BadHold, place_hold

    archive = Archive(tmp_path / "archive")
    archived(archive, tmp_path, "c-known", datetime(2026, 1, 5, tzinfo=UTC))
    known = lambda k: archive.get(k, missing_ok=True) is not None  # noqa: E731
    with pytest.raises(BadHold, match="no call"):
        place_hold(archive, "li", "dispute", call_id="c-typo", known=known)
    with pytest.raises(BadHold, match="phone number"):
        place_hold(archive, "li", "dispute", caller="call me maybe", known=known)
    assert archive.holds() == []
    assert place_hold(archive, "li", "dispute", call_id="c-known", known=known).call_id == "c-known"
    assert place_hold(archive, "li", "dispute", caller="138-0000 0001", known=known).caller == "13800000001"


def test_R4_the_audit_reads_what_was_found_at_archive_time_not_the_files(tmp_path: Path) -> None:
    """Each WAV is inspected once, when archived; the audit uses the index. A recording
    archived by an older version (no inspection stored) is inspected once, then kept."""
    import dataclasses

    from cti.recording.calllog import CallLog
    from cti.recording.recorder import audit_archive

    archive = Archive(tmp_path / "archive")
    calls = CallLog(tmp_path / "calls.sqlite")
    ended = datetime.now(UTC) - timedelta(minutes=5)
    for call_id in ("c-new", "c-old"):
        archived(archive, tmp_path, call_id, ended)
        calls.answered(call_id, "13800000001", ended.timestamp() - 2.0)
        calls.ended(call_id, ended.timestamp())
    meta = archive.get("c-new")
    assert meta is not None and meta.rms > 1000 and abs(meta.duration_s - 2.0) < 0.01 and meta.problem == ""
    old = archive.get("c-old")
    assert old is not None
    archive._write(dataclasses.replace(old, rms=-1.0, peak=0))  # as an older version archived it
    # The audio of the new one is replaced by silence: the audit does not read files,
    # so it still trusts what was measured at archive time (integrity is the SHA-256's job).
    (archive.root / meta.path).chmod(0o640)
    write_wav(archive.root / meta.path, 2.0, amplitude=0)
    since, until = ended.timestamp() - 60, ended.timestamp() + 60
    report = audit_archive(archive, calls, 1.0, since, until)
    assert report.answered == 2 and report.ok == 2, report.findings
    refreshed = archive.get("c-old")
    assert refreshed is not None and refreshed.rms > 1000  # inspected once and stored
    assert archive.verify_all() == ["c-new"]  # the SHA-256 check catches the replaced file


async def test_R5_an_unreadable_hold_file_stops_deletion_not_the_engine(tmp_path: Path) -> None:
    """An old holds.json with plain dates (written before they were refused) used to
    crash the engine's purge at every start. Now the purge deletes nothing and says why,
    the recorder's maintenance logs and counts it, and archiving goes on."""
    import json

    from cti.recording.recorder import Recorder
    from cti.recording.settings import RecordingConfig
    from recording.archive import BadHoldFile

    root = tmp_path / "archive"
    archive = Archive(root)
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    archived(archive, tmp_path, "old", add_months(now, -7))
    (root / "holds.json").write_text(json.dumps([{
        "hold_id": "hold-old", "reason": "dispute", "created_by": "li", "created_at": "2024-06-01T00:00:00",
        "call_id": None, "caller": None, "start": "2024-01-01T00:00:00", "end": "2025-01-01T00:00:00",
        "released_at": None}]))
    with pytest.raises(BadHoldFile, match="hold-old"):
        archive.purge(now, 6, "scheduler")
    assert archive.get("old") is not None  # nothing deleted
    recorder = Recorder(RecordingConfig(tmp_path / "spool", "/spool", root), ari=None)  # type: ignore[arg-type]
    await recorder._maintain("the purge", lambda: recorder.archive.purge(now, 6, "engine-schedule"))
    await recorder._maintain("the purge", lambda: recorder.archive.purge(now, 6, "engine-schedule"))
    assert recorder.maintenance_errors == {"the purge": 2}
    assert recorder.archive.get("old") is not None
    await recorder._maintain("archiving", recorder.archive_finished)  # other steps still run
    assert "archiving" not in recorder.maintenance_errors


def test_R14_archive_files_are_private_and_links_are_refused(tmp_path: Path) -> None:
    """Directories 0750, files 0640 (audio 0440); a symbolic link in the spool is never
    archived (it could point at any file); the index rebuild ignores a sidecar whose
    recording lies outside the archive."""
    import json
    import os
    import stat

    from recording.archive import NotARecording

    os.umask(0o022)  # even with a permissive umask
    root = tmp_path / "archive"
    archive = Archive(root)
    archived(archive, tmp_path, "c-1", datetime(2026, 1, 5, tzinfo=UTC))
    meta = archive.get("c-1")
    assert meta is not None

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(root) == 0o750 and mode(root / "2026") == 0o750 and mode(root / "2026/01/05") == 0o750
    assert mode(root / meta.path) == 0o440
    assert mode((root / meta.path).with_suffix(".json")) == 0o640
    assert mode(root / "index.sqlite") == 0o640
    archive.audit.record("li", "list")
    assert mode(root / "audit.log") == 0o640
    secret = tmp_path / "secret.txt"
    secret.write_text("not a recording")
    link = tmp_path / "c-2.wav"
    link.symlink_to(secret)
    with pytest.raises(NotARecording):
        archive.store(link, {"call_id": "c-2", "started_at": 1.0, "ended_at": 2.0})
    assert archive.get("c-2", missing_ok=True) is None
    forged = root / "2026/01/05/c-3.json"
    forged.write_text(json.dumps({**json.loads((root / meta.path).with_suffix(".json").read_text()),
                                  "call_id": "c-3", "path": "../../../../secret.txt"}))
    assert archive.rebuild_index() == 1 and archive.get("c-3", missing_ok=True) is None


def test_R5_retention_months_are_counted_in_the_sites_time_zone(tmp_path: Path) -> None:
    """A call ending 2026-03-01 03:00 in Beijing (2026-02-28 19:00 UTC) is kept until
    2026-09-01 03:00 Beijing time: counted in UTC it would go three days early. The call
    log's row (the caller's number) goes with the recording, unless held."""
    from zoneinfo import ZoneInfo

    from cti.recording.calllog import CallLog
    from recording.retention import Kept, due_for_deletion

    beijing = ZoneInfo("Asia/Shanghai")
    ended = datetime(2026, 3, 1, 3, 0, tzinfo=beijing)
    kept = [Kept("k1", "13800000001", ended.astimezone(UTC))]
    three_days_early = datetime(2026, 8, 29, 12, 0, tzinfo=UTC)
    assert due_for_deletion(kept, [], three_days_early, 6) == kept  # the UTC reading: too early
    assert due_for_deletion(kept, [], three_days_early, 6, beijing) == []
    assert due_for_deletion(kept, [], datetime(2026, 9, 1, 2, 59, tzinfo=beijing), 6, beijing) == []
    assert due_for_deletion(kept, [], datetime(2026, 9, 1, 3, 0, tzinfo=beijing), 6, beijing) == kept
    # Month ends: 31 August + 6 months is the last day of February, local time.
    aug31 = [Kept("k2", "1", datetime(2026, 8, 31, 23, 30, tzinfo=beijing).astimezone(UTC))]
    assert due_for_deletion(aug31, [], datetime(2027, 2, 28, 23, 29, tzinfo=beijing), 6, beijing) == []
    assert due_for_deletion(aug31, [], datetime(2027, 2, 28, 23, 30, tzinfo=beijing), 6, beijing) == aug31
    calls = CallLog(tmp_path / "calls.sqlite")
    for call_id, caller in (("k1", "13800000001"), ("k3", "13900000003")):
        calls.answered(call_id, caller, ended.timestamp() - 60)
        calls.ended(call_id, ended.timestamp())
    hold = LegalHold("h1", "dispute", "li", datetime(2026, 3, 2, tzinfo=UTC), caller="13900000003")
    assert calls.purge([hold], datetime(2026, 9, 1, 2, 0, tzinfo=beijing), 6, beijing) == 0
    assert calls.purge([hold], datetime(2026, 9, 1, 4, 0, tzinfo=beijing), 6, beijing) == 1
    assert not calls.has("k1") and calls.has("k3")


def test_R5_a_site_time_zone_that_does_not_exist_is_refused() -> None:
    from cti.config import _validate
    from cti.configreader import Table
    from cti.errors import ConfigError

    raw = {"asterisk": {"ari_user": "u", "ari_password": "p", "ami_user": "u", "ami_secret": "s"},
           "queues": [{"name": "q"}], "site": {"timezone": "Asia/Beijing"}}
    with pytest.raises(ConfigError, match="site.timezone"):
        _validate(Table(raw, ""))
    raw["site"] = {"timezone": "Asia/Shanghai"}
    raw["recording"] = {"spool_dir": "/tmp/s", "archive_dir": "/tmp/a"}
    config = _validate(Table(raw, ""))
    assert config.recording is not None and config.recording.timezone == "Asia/Shanghai"


def test_R4_archiving_links_the_file_reads_it_once_and_survives_a_crash(tmp_path: Path) -> None:
    """On one filesystem the recording is linked in (the same inode, no copy), hashed
    and inspected from one read; the spool name goes only once the recording is
    indexed, so a failure before that leaves it to be archived again; elsewhere (or
    another owner) it is copied, with the same result."""
    import hashlib
    import os

    root = tmp_path / "archive"
    archive = Archive(root)
    end = datetime(2026, 3, 1, 10, 0, tzinfo=UTC).timestamp()
    meta = {"call_id": "1796.1", "caller": "13800000001", "agent_id": "1001", "queue": "q",
            "kind": "k", "started_at": end - 3, "ended_at": end}
    src = write_wav(tmp_path / "1796.1.wav", 3.0)
    inode, digest = src.stat().st_ino, hashlib.sha256(src.read_bytes()).hexdigest()

    real_write = archive._write
    def broken(record: object) -> None:
        raise OSError("disk full")
    archive._write = broken  # type: ignore[method-assign]
    with pytest.raises(OSError):
        archive.store(src, meta)
    assert src.exists() and archive.get("1796.1", missing_ok=True) is None  # nothing lost
    archive._write = real_write  # type: ignore[method-assign]

    record = archive.store(src, meta)
    target = root / record.path
    assert not src.exists()
    assert target.stat().st_ino == inode and target.stat().st_nlink == 1  # linked, not copied
    assert record.sha256 == digest and hashlib.sha256(target.read_bytes()).hexdigest() == digest
    assert abs(record.duration_s - 3.0) < 0.01 and record.rms > 1000 and record.problem == ""
    assert not list(root.rglob("*.part"))
    assert os.stat(target).st_uid == os.geteuid()

    copied = write_wav(tmp_path / "1796.2.wav", 2.0, amplitude=0)
    inode = copied.stat().st_ino
    archive._may_link = lambda st, folder: False  # type: ignore[method-assign]
    record = archive.store(copied, {**meta, "call_id": "1796.2"})
    target = root / record.path
    assert not copied.exists() and target.stat().st_ino != inode
    assert record.sha256 == hashlib.sha256(target.read_bytes()).hexdigest()
    assert record.rms == 0.0 and abs(record.duration_s - 2.0) < 0.01

    broken_wav = tmp_path / "1796.3.wav"
    broken_wav.write_bytes(b"RIFF not really")
    record = archive.store(broken_wav, {**meta, "call_id": "1796.3"})
    assert "not a valid WAV" in record.problem and record.size == len(b"RIFF not really")


async def test_R4_call_log_writes_queued_together_share_one_commit(tmp_path: Path) -> None:
    """The recorder's call-log writes that queue while its worker is busy go in one
    transaction; every one lands, and a failing one does not take the others with it."""
    import threading

    from cti.recording.recorder import Recorder
    from cti.recording.settings import RecordingConfig

    recorder = Recorder(RecordingConfig(tmp_path / "spool", "/spool", tmp_path / "archive"), ari=None)  # type: ignore[arg-type]
    statements: list[str] = []
    recorder.log._db.set_trace_callback(statements.append)
    busy, release = threading.Event(), threading.Event()

    def block() -> None:
        busy.set()
        release.wait(10)
    recorder._thread.submit(block)
    assert busy.wait(10)
    for i in range(20):
        recorder._later(recorder.log.answered, f"c-{i}", "13800000001", 1.0)
        recorder.label(f"c-{i}", "support", "complaint", "1001")
    recorder._later(lambda: 1 / 0)
    recorder.channel_gone("c-0", 2.0)
    release.set()
    await recorder.io(lambda: None)
    assert statements.count("COMMIT") == 1
    assert len(recorder.log.to_archive()) == 1  # c-0: labelled and ended
    assert all(recorder.log.has(f"c-{i}") for i in range(20))
    recorder._thread.shutdown()
    recorder.label("c-1", "support", "complaint", "1002")  # stopping: skipped, not stuck
    assert recorder._queue == [] and not recorder._drain_queued


def test_R4_wav_figures_are_exact_at_the_extremes(tmp_path: Path) -> None:
    """RMS and peak of 16-bit audio, the most negative sample included (its magnitude
    does not fit in 16 bits); an odd trailing byte is ignored."""
    from recording.wav import inspect_bytes

    path = tmp_path / "edge.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(struct.pack("<4h", -32768, 32767, 0, 0))
    info = inspect(path)
    assert info.peak == 32768
    assert info.rms == pytest.approx(math.sqrt((32768**2 + 32767**2) / 4), rel=1e-12)
    assert info.duration_s == pytest.approx(4 / 8000)
    data = path.read_bytes()
    assert inspect_bytes(data, "edge.wav") == info
