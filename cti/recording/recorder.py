"""R4/R5 on Asterisk: every answered call is recorded, archived, audited, purged.

- Start (``StartRecording``, from the core when it answers a caller): ``MixMonitor``
  over AMI on the caller's channel, writing ``<asterisk_spool>/<call id>.wav``.
  MixMonitor follows the channel through IVR, queue, bridges and holds, mixes both
  directions, and runs inside Asterisk: stopping or killing the engine does not stop
  a recording.
- Calls: each recorded call gets a row in the archive's SQLite (``calllog.py``):
  labelled when it leaves the core (``LabelRecording``: queue, kind, agent), ended
  when the adapter sees the caller's channel go.
- Archive: once a call has ended and its file has stopped growing, the file is moved
  into the archive with its metadata and SHA-256 (``recording/archive.py``). Files of
  calls that ended while the engine was away are archived when it is back.
- Audit and purge run on a schedule inside the engine, and from the command line.
- Off the event loop: every SQLite statement, file move, SHA-256, WAV inspection,
  audit-log line, audit and purge runs on the recorder's one worker thread (``io``),
  in order. Each WAV is inspected once, when it is archived (duration, RMS, peak, in
  the sidecar and the index); the audit reads the index, not the files.

The recorder runs beside the adapter of the Asterisk node the call is on (in a
cluster, each adapter records its own node's calls).

How files reach the archive when the engine runs on another host than Asterisk: share
Asterisk's spool directory (NFS, or a bind mount as in the sandbox) and point
``spool_dir`` at it; ``asterisk_spool_dir`` is the same directory as Asterisk sees it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from cti.asterisk.ami import AmiClient
from cti.recording.calllog import CallLog
from cti.recording.settings import RecordingConfig
from recording.archive import Archive, RecordingError
from recording.completeness import Report, audit
from recording.audit import AuditLog
from recording.wav import NotWav, WavInfo, inspect

log = logging.getLogger("cti.recorder")
T = TypeVar("T")


class Recorder:
    def __init__(self, config: RecordingConfig, ami: AmiClient, audit: AuditLog | None = None) -> None:
        self.config = config
        self.ami = ami
        config.archive_dir.mkdir(parents=True, exist_ok=True)
        config.spool_dir.mkdir(parents=True, exist_ok=True)
        self.archive = Archive(config.archive_dir, audit)  # R14: the engine's one keyed audit log
        self.log = CallLog(config.archive_dir / "calls.sqlite")
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recording")
        self.coverage = 1.0
        self.maintenance_errors: dict[str, int] = {}  # step -> failures (in /metrics)
        self.last_report: Report | None = None
        self._queue: list[tuple[Callable[..., object], tuple[Any, ...]]] = []  # call-log writes
        self._queue_lock = threading.Lock()
        self._drain_queued = False

    async def io(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the recorder's worker thread (SQLite, files, hashing), in order."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def _later(self, fn: Callable[..., object], *args: Any) -> None:
        """Queue a call-log write for the worker thread without waiting. The writes
        queued while the worker was busy go in one transaction (one commit, not one
        per write); a failure is logged."""
        with self._queue_lock:
            self._queue.append((fn, args))
            if self._drain_queued:
                return
            self._drain_queued = True
        try:
            self._thread.submit(self._drain)
        except RuntimeError:  # the engine is stopping: the next start catches up (resync)
            with self._queue_lock:
                self._queue.clear()
                self._drain_queued = False
            log.warning("recording bookkeeping skipped while stopping: %s", getattr(fn, "__name__", fn))

    def _drain(self) -> None:
        with self._queue_lock:
            jobs, self._queue, self._drain_queued = self._queue, [], False
        with self.log.batch():
            for fn, args in jobs:
                try:
                    fn(*args)
                except Exception as exc:
                    log.error("recording bookkeeping failed: %s", exc)

    async def start(self, call_id: str, caller: str, channel_name: str | None) -> None:
        """R4: record the caller's channel from now on."""
        self._later(self.log.answered, call_id, caller, time.time())
        if channel_name is None:
            log.error("R4: no channel name for call %s: not recorded", call_id)
            self._later(self.log.mark, call_id, "failed")
            return
        path = f"{self.config.asterisk_spool_dir.rstrip('/')}/{call_id}.wav"
        try:
            reply = await self.ami.action({"Action": "MixMonitor", "Channel": channel_name, "File": path})
            ok = getattr(reply, "success", False)
        except Exception as exc:  # AMI away, lost or past its deadline: the audit reports the gap
            ok, reply = False, exc
        if not ok:
            log.error("R4: recording call %s failed to start: %s", call_id, reply or type(reply).__name__)
            self._later(self.log.mark, call_id, "failed")

    def knows(self, call_id: str) -> bool:
        """Whether the call is in the call log or the archive (worker thread only)."""
        return self.log.has(call_id) or self.archive.get(call_id, missing_ok=True) is not None

    def label(self, call_id: str, queue: str, kind: str, agent_id: str | None) -> None:
        self._later(self.log.label, call_id, queue, kind, agent_id)

    def channel_gone(self, call_id: str, at: float) -> None:
        self._later(self.log.ended, call_id, at)

    def resync(self, live_channels: Iterable[str], at: float) -> None:
        """Calls whose channel went while nobody listened end now."""
        live = set(live_channels)

        def end_missing() -> None:
            for call_id in self.log.open_calls():
                if call_id not in live:
                    self.log.ended(call_id, at)
        self._later(end_missing)

    async def run(self) -> None:
        """Archive finished recordings; audit and purge on their schedules (all on the
        worker thread: the loop only waits)."""
        next_audit = next_purge = 0.0
        try:
            while True:
                await self._maintain("archiving", self.archive_finished)
                now = time.monotonic()
                if now >= next_audit:
                    await self._maintain("the completeness audit", self.run_audit)
                    next_audit = now + self.config.audit_interval_s
                if now >= next_purge:
                    await self._maintain("the purge", self.purge)
                    next_purge = now + self.config.purge_interval_s
                await asyncio.sleep(1.0)
        finally:
            self._thread.shutdown(wait=False, cancel_futures=False)

    async def _maintain(self, what: str, step: Callable[[], object]) -> None:
        """Maintenance never takes the engine down: an error is logged and counted,
        and the step runs again next cycle."""
        try:
            await self.io(step)
        except Exception as exc:
            self.maintenance_errors[what] = self.maintenance_errors.get(what, 0) + 1
            if isinstance(exc, RecordingError):
                log.error("%s failed: %s", what, exc)
            else:
                log.exception("%s failed", what)

    def purge(self) -> list[str]:
        """R5: recordings and call rows past retention (in the site's time zone), not
        under hold (worker thread)."""
        now, zone = datetime.now(timezone.utc), ZoneInfo(self.config.timezone)
        gone = self.archive.purge(now, self.config.retention_months, "engine-schedule", zone=zone)
        self.log.purge(self.archive.holds(), now, self.config.retention_months, zone)
        return gone

    def archive_finished(self, settle_s: float = 1.5) -> int:
        """Move every finished recording into the archive; returns how many."""
        with self.log.batch():  # the marks: one commit (a lost mark: archived again, idempotent)
            return self._archive_finished(settle_s)

    def _archive_finished(self, settle_s: float) -> int:
        done = 0
        now = time.time()
        for call_id, caller, queue, kind, agent_id, answered_at, ended_at in self.log.to_archive():
            src = self.config.spool_dir / f"{call_id}.wav"
            if src.is_symlink():  # R14: could point at any file; never archived, never served
                log.error("R14 ALERT: spool entry %s is a symbolic link: refused", src.name)
                self.maintenance_errors["refused a linked spool file"] = (
                    self.maintenance_errors.get("refused a linked spool file", 0) + 1)
                self.log.mark(call_id, "refused")
                continue
            if not src.exists():
                if now - ended_at > 30:
                    log.error("R4: recording of call %s never appeared", call_id)
                    self.log.mark(call_id, "missing")
                continue
            if now - max(ended_at, src.stat().st_mtime) < settle_s:
                continue  # Asterisk may still be writing it
            record = self.archive.store(src, {
                "call_id": call_id, "caller": caller, "agent_id": agent_id, "queue": queue,
                "kind": kind, "started_at": answered_at, "ended_at": ended_at,
            })
            if record.problem:
                log.error("R4: recording of call %s is broken: %s", call_id, record.problem)
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
    """The completeness audit over the answered calls that ended in [since, until):
    what each recording holds comes from the index (inspected once, at archive time)."""
    answered = calls.answered_between(since, until)
    infos: dict[str, WavInfo | str] = {}
    for call in answered:
        meta = archive.get(call.call_id, missing_ok=True)
        if meta is None or not (archive.root / meta.path).exists():
            continue  # missing
        if meta.rms < 0:  # archived by an older version: inspect once, keep the result
            try:
                meta = archive.inspected(meta, inspect(archive.root / meta.path))
            except (NotWav, OSError) as exc:
                meta = archive.inspected(meta, None, str(exc))
        infos[call.call_id] = meta.problem or WavInfo(meta.duration_s, meta.rms, meta.peak)
    return audit(answered, infos, tolerance_s)
