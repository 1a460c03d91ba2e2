"""R4/R5 on Asterisk: every answered call is recorded, archived, audited, purged.

- Start: when the adapter answers a caller, ``MixMonitor`` is started over AMI on the
  caller's channel, writing ``<asterisk_spool>/<call id>.wav``. MixMonitor follows the
  channel through queue, bridges and holds, mixes both directions, and runs inside
  Asterisk: stopping or killing the engine does not stop a recording.
- Calls: each answered call gets a row (caller, queue, kind, agent, answered, ended) in
  the archive's SQLite, so the completeness audit has a durable list of what must have
  a recording, and a restarted engine still knows what it started.
- Archive: once a call has ended and its file has stopped growing, the file is moved
  into the archive with its metadata and SHA-256 (``recording/archive.py``). Files of
  calls that ended while the engine was away are archived when it is back.
- Audit and purge run on a schedule inside the engine, and from the command line.

How files reach the archive when the engine runs on another host than Asterisk: share
Asterisk's spool directory (NFS, or a bind mount as in the sandbox) and point
``spool_dir`` at it; ``asterisk_spool_dir`` is the same directory as Asterisk sees it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from acd import CallView
from acd import commands as c
from cti.ami import AmiClient
from recording.archive import Archive
from recording.completeness import AnsweredCall, Report, audit
from recording.wav import NotWav, WavInfo, inspect

log = logging.getLogger("cti.recorder")


@dataclass(frozen=True, slots=True)
class RecordingConfig:
    spool_dir: Path  # where this host sees Asterisk's recordings
    asterisk_spool_dir: str  # the same directory as Asterisk sees it
    archive_dir: Path
    retention_months: int = 6
    tolerance_s: float = 1.0
    audit_interval_s: float = 60.0
    purge_interval_s: float = 3600.0
    reader_token: str | None = None  # R14: the role allowed to list and fetch


class CallLog:
    """Answered calls, durable (SQLite beside the archive index)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(str(path))
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS calls (call_id PRIMARY KEY, caller, queue, kind, "
            "agent_id, answered_at, ended_at, recording)"
        )
        self._db.commit()

    def answered(self, call_id: str, caller: str, queue: str, kind: str, at: float) -> None:
        """The first answer counts; queue and kind are filled in once known (after IVR)."""
        self._db.execute(
            "INSERT INTO calls (call_id, caller, queue, kind, answered_at, recording) "
            "VALUES (?, ?, ?, ?, ?, 'recording') ON CONFLICT(call_id) DO UPDATE SET "
            "caller = COALESCE(NULLIF(excluded.caller, ''), caller), "
            "queue = COALESCE(NULLIF(excluded.queue, ''), queue), "
            "kind = COALESCE(NULLIF(excluded.kind, ''), kind)", (call_id, caller, queue, kind, at),
        )
        self._db.commit()

    def ended(self, call_id: str, agent_id: str | None, at: float) -> None:
        self._db.execute(
            "UPDATE calls SET ended_at = ?, agent_id = COALESCE(?, agent_id) "
            "WHERE call_id = ? AND ended_at IS NULL", (at, agent_id, call_id),
        )
        self._db.commit()

    def mark(self, call_id: str, recording: str) -> None:
        self._db.execute("UPDATE calls SET recording = ? WHERE call_id = ?", (recording, call_id))
        self._db.commit()

    def to_archive(self) -> list[tuple[str, str, str, str, str | None, float, float]]:
        return list(self._db.execute(
            "SELECT call_id, caller, queue, kind, agent_id, answered_at, ended_at FROM calls "
            "WHERE recording = 'recording' AND ended_at IS NOT NULL"
        ))

    def open_calls(self) -> list[tuple[str, float]]:
        return list(self._db.execute(
            "SELECT call_id, answered_at FROM calls WHERE ended_at IS NULL"
        ))

    def answered_between(self, since: float, until: float, settle_s: float = 30.0) -> list[AnsweredCall]:
        """Calls answered and ended in [since, until); a recording still being archived
        (ended less than ``settle_s`` ago) is not judged yet."""
        settling = time.time() - settle_s
        return [
            AnsweredCall(k, a, e) for k, a, e in self._db.execute(
                "SELECT call_id, answered_at, ended_at FROM calls WHERE ended_at IS NOT NULL "
                "AND ended_at >= ? AND ended_at < ? AND NOT (recording = 'recording' AND ended_at > ?)",
                (since, until, settling),
            )
        ]


class Recorder:
    def __init__(
        self, config: RecordingConfig, ami: AmiClient, calls: Callable[[], list[CallView]],
        channel_name: Callable[[str], str | None],
    ) -> None:
        self.config = config
        self.ami = ami
        self._calls = calls
        self._channel_name = channel_name
        config.archive_dir.mkdir(parents=True, exist_ok=True)
        config.spool_dir.mkdir(parents=True, exist_ok=True)
        self.archive = Archive(config.archive_dir)
        self.log = CallLog(config.archive_dir / "calls.sqlite")
        self.coverage = 1.0
        self.last_report: Report | None = None
        self._started: set[str] = set()

    async def on_command(self, cmd: c.Command) -> None:
        """Follows the core's commands: start at answer, note the end."""
        if isinstance(cmd, (c.PlayHoldMusic, c.RejectCall)):
            await self._start(cmd.call_id)
        elif isinstance(cmd, c.CallEnded):
            self.log.ended(cmd.call_id, cmd.agent_id, cmd.at)

    async def answered(self, call_id: str) -> None:
        """The IVR answered: record from now (R4: the IVR part is recorded too)."""
        await self._start(call_id)

    async def _start(self, call_id: str) -> None:
        view = next((k for k in self._calls() if k.call_id == call_id), None)
        now = time.time()
        self.log.answered(call_id, view.caller if view else "", view.queue if view else "",
                          view.kind if view else "", now)
        if call_id in self._started:
            return  # already recording since the IVR answered
        self._started.add(call_id)
        if len(self._started) > 100_000:
            self._started.clear()
        name = self._channel_name(call_id)
        if name is None:
            log.error("R4: no channel name for call %s: not recorded", call_id)
            self.log.mark(call_id, "failed")
            return
        path = f"{self.config.asterisk_spool_dir.rstrip('/')}/{call_id}.wav"
        try:
            reply = await self.ami.action({"Action": "MixMonitor", "Channel": name, "File": path})
            ok = getattr(reply, "success", False)
        except Exception as exc:  # AMI away: the audit will report the gap
            ok, reply = False, exc
        if not ok:
            log.error("R4: recording call %s failed to start: %s", call_id, reply)
            self.log.mark(call_id, "failed")

    async def run(self) -> None:
        """Archive finished recordings; audit and purge on their schedules."""
        next_audit = next_purge = 0.0
        while True:
            # On the loop: SQLite stays on one thread; hashing a call's WAV takes ms.
            self.archive_finished()
            now = time.monotonic()
            if now >= next_audit:
                self.run_audit()
                next_audit = now + self.config.audit_interval_s
            if now >= next_purge:
                self.archive.purge(datetime.now(timezone.utc), self.config.retention_months,
                                   "engine-schedule")
                next_purge = now + self.config.purge_interval_s
            await asyncio.sleep(1.0)

    def archive_finished(self, settle_s: float = 1.5) -> int:
        """Move every finished recording into the archive; returns how many."""
        done = 0
        now = time.time()
        for call_id, caller, queue, kind, agent_id, answered_at, ended_at in self.log.to_archive():
            src = self.config.spool_dir / f"{call_id}.wav"
            if not src.exists():
                if now - ended_at > 30:
                    log.error("R4: recording of call %s never appeared", call_id)
                    self.log.mark(call_id, "missing")
                continue
            if now - max(ended_at, src.stat().st_mtime) < settle_s:
                continue  # Asterisk may still be writing it
            try:
                duration = inspect(src).duration_s
            except NotWav as exc:
                log.error("R4: recording of call %s is broken: %s", call_id, exc)
                duration = 0.0
            self.archive.store(src, {
                "call_id": call_id, "caller": caller, "agent_id": agent_id, "queue": queue,
                "kind": kind, "started_at": answered_at, "ended_at": ended_at,
            }, duration)
            self.log.mark(call_id, "archived")
            done += 1
        return done

    def run_audit(self, window_s: float = 86400.0) -> Report:
        """R4: match the last day's answered calls with the archive."""
        until = time.time()
        report = audit_archive(self.archive, self.log, self.config.tolerance_s, until - window_s, until)
        self.coverage, self.last_report = report.coverage, report
        if report.coverage < 1.0:
            log.error("R4 ALERT: recording coverage %.3f (%d of %d answered calls): %s",
                      report.coverage, report.ok, report.answered,
                      "; ".join(f"{f.call_id} {f.problem}" for f in report.findings[:10]))
        return report


def audit_archive(archive: Archive, calls: CallLog, tolerance_s: float, since: float,
                  until: float) -> Report:
    """The completeness audit over the answered calls that ended in [since, until)."""
    answered = calls.answered_between(since, until)
    infos: dict[str, WavInfo | str] = {}
    for call in answered:
        meta = archive.get(call.call_id, missing_ok=True)
        if meta is None or not (archive.root / meta.path).exists():
            continue  # missing
        try:
            infos[call.call_id] = inspect(archive.root / meta.path)
        except (NotWav, OSError) as exc:
            infos[call.call_id] = str(exc)
    return audit(answered, infos, tolerance_s)
