"""R4/R5 on Asterisk: every answered call is recorded, archived, audited, purged.

- Start (``StartRecording``, from the core when it answers a caller): over ARI, a
  snoop channel ``cti-rec-<recording id>`` spying both directions of the caller's
  channel (``POST /channels/{id}/snoop``); when it has entered the application, ARI
  records it (``POST /channels/{snoop}/record``) into
  ``<asterisk_spool_dir>/<recording id>.wav`` (the directory is under Asterisk's
  recording directory, ``<astspooldir>/recording``: ARI names a recording relative to
  it). The snoop follows the caller's channel through IVR, queue, bridges, holds and
  transfers, hears both directions, and ends with it; it runs inside Asterisk: stopping
  or killing the engine does not stop a recording. No AMI action is needed (the AMI
  account has no write class: MixMonitor's AMI action needed ``system``, which also
  lets MixMonitor run a shell command when a recording ends).
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
import functools
import logging
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from cti.asterisk.ari import AriClient
from cti.errors import AriError
from cti.health import Faults
from cti.recording.calllog import CallLog
from cti.recording.fallback import SWEEP_S, Fallback
from cti.recording.settings import RecordingConfig
from recording.archive import Archive, RecordingError
from recording.completeness import Report, audit
from recording.audit import AuditLog
from recording.wav import NotWav, WavInfo, inspect

log = logging.getLogger("cti.recorder")
T = TypeVar("T")
SNOOP = "cti-rec-"  # the recording snoop channels' ids: cti-rec-<recording id>
# Call-log writes kept while the call log cannot be written (its disk full, say): at
# most this many (a few per call), the oldest dropped beyond, counted and alerted.
MAX_KEPT_WRITES = 100_000
Then = Callable[[str, str, Callable[[], Awaitable[None]]], None]


class Recorder:
    def __init__(self, config: RecordingConfig, ari: AriClient, audit: AuditLog | None = None) -> None:
        self.config = config
        self.ari = ari
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
        # R4: the dialplan fallback queue's recordings, archived and audited (fallback.py)
        self.fallback = Fallback(config.fallback_folder, config.queue_log, self.archive, self.log, self.io,
                                 lambda method, path: self.ari.request(method, path),
                                 getattr(ari, "faults", None) or Faults())

    async def io(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the recorder's worker thread (SQLite, files, hashing), in order."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def _later(self, fn: Callable[..., object], *args: Any) -> None:
        """Queue a call-log write for the worker thread without waiting. The writes
        queued while the worker was busy go in one transaction (one commit, not one
        per write); a write that fails alone is logged. When the call log cannot be
        written at all (its disk full, the file unwritable: SQLite's operational
        errors, OSError), the writes are kept, in order, and tried again by ``run``
        each second: a call answered meanwhile is not lost to the audit (R4)."""
        with self._queue_lock:
            self._queue.append((fn, args))
        self._kick()

    def _kick(self) -> None:
        with self._queue_lock:
            if self._drain_queued or not self._queue:
                return
            self._drain_queued = True
        try:
            self._thread.submit(self._drain)
        except RuntimeError:  # the engine is stopping: the next start catches up (resync)
            with self._queue_lock:
                self._queue.clear()
                self._drain_queued = False
            log.warning("recording bookkeeping skipped while stopping")

    def _drain(self) -> None:
        with self._queue_lock:
            jobs, self._queue, self._drain_queued = self._queue, [], False
        try:
            with self.log.batch():
                for fn, args in jobs:
                    try:
                        fn(*args)
                    except (sqlite3.OperationalError, OSError):
                        raise  # the call log itself: all of them again later
                    except Exception as exc:
                        log.error("recording bookkeeping failed: %s", exc)
        except (sqlite3.OperationalError, OSError) as exc:
            self.log.rollback()
            with self._queue_lock:  # (the writes are idempotent: those committed meanwhile, again)
                self._queue[:0] = jobs
                excess = len(self._queue) - MAX_KEPT_WRITES
                if excess > 0:
                    del self._queue[:excess]
                kept = len(self._queue)
            self.maintenance_errors["the call log"] = self.maintenance_errors.get("the call log", 0) + 1
            log.error("R4: the call log cannot be written (%s): %d writes kept, tried again", exc, kept)
            if excess > 0:
                log.error("R4 ALERT: %d call-log writes dropped (the call log was away too long)", excess)

    async def start(self, call_id: str, caller: str, channel_id: str | None) -> None:
        """R4: record the caller's channel ``channel_id`` from now on, as ``call_id``
        (the recording's id): a snoop channel on it, recorded once it is in the
        application (``on_event``)."""
        self._later(self.log.answered, call_id, caller, time.time())
        if channel_id is None:
            log.error("R4: no channel for call %s: not recorded", call_id)
            self._later(self.log.mark, call_id, "failed")
            return
        try:
            await self.ari.request("POST", f"/channels/{channel_id}/snoop", spy="both", whisper="none",
                                   app=self.ari.app, appArgs="record", snoopId=f"{SNOOP}{call_id}")
        except Exception as exc:  # ARI away, or the channel already gone: the audit reports the gap
            self._failed(call_id, exc)

    def _failed(self, call_id: str, why: object) -> None:
        log.error("R4: recording call %s failed to start: %s", call_id, why or type(why).__name__)
        self._later(self.log.mark, call_id, "failed")

    def on_event(self, ev: Mapping[str, Any], then: Then) -> bool:
        """The recording snoops' events (True: taken). Entered the application: record
        it (in its own lane, ``then``)."""
        channel = ev.get("channel")
        chan_id = channel.get("id") if isinstance(channel, dict) else None
        if not isinstance(chan_id, str) or not chan_id.startswith(SNOOP):
            return False
        if ev.get("type") == "StasisStart":
            then(chan_id, "record", lambda: self._record(chan_id))
        return True

    async def _record(self, snoop: str, if_exists: str = "overwrite") -> None:
        call_id = snoop.removeprefix(SNOOP)
        try:
            await self.ari.request("POST", f"/channels/{snoop}/record", name=self.config.ari_name(call_id),
                                   format="wav", ifExists=if_exists, beep="false", terminateOn="none",
                                   maxDurationSeconds=0, maxSilenceSeconds=0)
        except AriError as exc:
            if if_exists == "fail" and exc.status in (404, 409, 422):
                return  # already recording (or recorded), not in the application yet, or gone
            self._failed(call_id, exc)
            await self.ari.request_quiet("DELETE", f"/channels/{snoop}")
        except Exception as exc:
            self._failed(call_id, exc)
            await self.ari.request_quiet("DELETE", f"/channels/{snoop}")

    def recover(self, channels: Mapping[str, Mapping[str, Any]], then: Then,
                callers: Mapping[str, str] | None = None) -> None:
        """After a restart or a lost ARI connection: a recording snoop whose StasisStart
        went unhandled (the engine stopped in between) is recorded now; one already
        recording is left alone (ARI refuses a second recording of that name). And a
        caller of ``callers`` (call id -> number) whose channel is not answered yet: the
        engine that took it died before it answered, so before it recorded too (the
        core's answer and recording were replayed, not carried out); the adapter
        answers it at this resync, and its recording starts after that answer, in the
        call's lane (found by the soak: such a call was talked in unrecorded)."""
        for snoop in [k for k in channels if k.startswith(SNOOP)]:
            then(snoop, "record after a restart", functools.partial(self._record, snoop, "fail"))
        for call_id, caller in (callers or {}).items():
            channel = channels.get(call_id)
            if channel is not None and channel.get("state") != "Up" and f"{SNOOP}{call_id}" not in channels:
                then(call_id, "record after a lost answer", functools.partial(self.start, call_id, caller, call_id))

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
                if call_id not in live:  # (its recording's last write, when earlier: its end)
                    self.log.ended(call_id, min(at, self._last_write(call_id) or at))
        self._later(end_missing)

    def _last_write(self, call_id: str) -> float | None:
        try:
            return (self.config.spool_dir / f"{call_id}.wav").lstat().st_mtime
        except OSError:
            return None

    async def run(self) -> None:
        """Archive finished recordings; audit and purge on their schedules (all on the
        worker thread: the loop only waits)."""
        next_audit = next_purge = next_fallback = 0.0
        try:
            while True:
                self._kick()  # (call-log writes kept after a failure)
                await self._maintain("archiving", self.archive_finished)
                now = time.monotonic()
                if now >= next_fallback:  # (before the audit: it counts these calls too)
                    await self.fallback.sweep()
                    next_fallback = now + SWEEP_S
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
            if isinstance(exc, (RecordingError, OSError, sqlite3.Error)):  # (a full disk: a line, not a traceback)
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
                if self.archive.get(call_id, missing_ok=True) is not None:  # (its mark was lost: a full disk)
                    self.log.mark(call_id, "archived")
                elif now - ended_at > 30:
                    log.error("R4: recording of call %s never appeared", call_id)
                    self.log.mark(call_id, "missing")
                continue
            last_write = src.stat().st_mtime
            if now - max(ended_at, last_write) < settle_s:
                continue  # Asterisk may still be writing it
            if last_write > ended_at + 1.0:
                # The snoop ends with the caller's channel: a recording that went on
                # after the call left the engine (handed to the fallback queue, R6) ends
                # the call when it ended (the audit compares the two).
                ended_at = last_write
                self.log.extend(call_id, last_write)
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
