"""`cti recordings ...`: purge (dry run and real), holds, audit exit code, verified
fetch, all through the real command line on a real archive directory (R4, R5)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cti.recording.calllog import CallLog
from recording.audit import AuditLog
from recording.archive import Archive
from recording.retention import add_months
from tests.unit.test_recording import archived

ROOT = Path(__file__).resolve().parents[2]


def cti(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cti.cli", "recordings", "--config", str(cfg),
                           "--as", "auditor-zhang", *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


def test_R5_recordings_command_line(tmp_path: Path) -> None:
    """R5: the purge deletes only past retention and not under hold; fetch checks the
    SHA-256; every action lands in the audit log."""
    archive_dir = tmp_path / "archive"
    cfg = tmp_path / "cti.toml"
    cfg.write_text((ROOT / "config" / "sandbox.toml").read_text().split("[recording]")[0] + f"""
[recording]
spool_dir = "{tmp_path / 'spool'}"
archive_dir = "{archive_dir}"
[audit]
log = "{tmp_path / 'audit' / 'audit.log'}"
key_file = "{tmp_path / 'audit.key'}"
""")
    archive = Archive(archive_dir)
    now = datetime.now(timezone.utc)
    archived(archive, tmp_path, "expired", add_months(now, -6) - timedelta(days=1))
    archived(archive, tmp_path, "held", add_months(now, -6) - timedelta(days=1), caller="13900000009")
    archived(archive, tmp_path, "recent", now - timedelta(days=3))
    calls = CallLog(archive_dir / "calls.sqlite")
    for meta in archive.all():
        calls.answered(meta.call_id, meta.caller, meta.started_at)
        calls.label(meta.call_id, "support", "", "1001")
        calls.ended(meta.call_id, meta.ended_at)
        calls.mark(meta.call_id, "archived")
    archive.close()

    hold = cti(cfg, "hold", "--caller", "13900000009", "--reason", "complaint 7")
    assert hold.returncode == 0, hold.stderr
    hold_id = hold.stdout.strip()
    dry = cti(cfg, "purge", "--dry-run")
    assert dry.returncode == 0 and "would delete 1 recording(s)" in dry.stdout and "expired" in dry.stdout
    assert cti(cfg, "purge").stdout.startswith("deleted 1 recording(s)")
    assert cti(cfg, "purge").stdout.startswith("deleted 0 recording(s)")
    assert cti(cfg, "release", hold_id).returncode == 0
    assert "held" in cti(cfg, "purge").stdout
    out = tmp_path / "recent.wav"
    assert cti(cfg, "get", "recent", "-o", str(out)).returncode == 0
    assert out.read_bytes()[:4] == b"RIFF"
    audit = cti(cfg, "audit")
    # The purged calls' rows (callers' numbers) went with their recordings (R5/R14):
    # only the recent call is left to audit, and it is complete.
    assert audit.returncode == 0 and "coverage 1.0000: 1 of 1" in audit.stdout, audit.stdout
    remaining = CallLog(archive_dir / "calls.sqlite")
    assert remaining.has("recent") and not remaining.has("expired") and not remaining.has("held")
    log = AuditLog(tmp_path / "audit" / "audit.log", bytes.fromhex((tmp_path / "audit.key").read_text()))
    assert log.verify_chain()  # the one keyed audit log ([audit]), not one of the archive's own
    actions = [e["action"] for e in log.entries()]
    assert actions == ["hold", "delete", "release", "delete", "retrieve", "audit"]
    assert {e["who"] for e in log.entries()} == {"auditor-zhang"}
    verified = cti(cfg, "verify-audit")
    assert verified.returncode == 0 and "intact: 6 lines" in verified.stdout
    audit_log = tmp_path / "audit" / "audit.log"
    audit_log.write_bytes(b"".join(audit_log.read_bytes().splitlines(keepends=True)[:-2]))  # cut the end
    broken = cti(cfg, "verify-audit")
    assert broken.returncode == 1 and "broken at line 5" in broken.stdout
