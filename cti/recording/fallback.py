"""R4 for the calls of the dialplan's fallback queue: recorded while no engine leads,
archived and audited when one leads again.

While no engine's Stasis application is registered, a call goes to the dialplan's
``Queue(fallback)``; before it, ``[cti-fallback-record]`` (contrib/asterisk-conf/
extensions.conf) opens early media (``Progress()``: the wait's music is recorded, the
caller is answered when an agent answers), starts MixMonitor into ``<fallback_dir>/
<start>~<uniqueid>~<linkedid>.wav`` (no post-recording command: nothing runs a shell) and
writes a ``RECORDING`` line with that name to Asterisk's queue_log. (A caller a stopping
engine hands there is not recorded again: the engine's recording of it goes on.)

Here, beside the recorder of the node (the leader's node, or a cluster adapter's), every
``SWEEP_S``:

- the queue_log (``[recording] queue_log``, as this host sees it) is read from where the
  last sweep stopped (from its start after a rotation or a restart): the calls with a
  ``RECORDING`` line of the last ``WINDOW_S``, their caller (ENTERQUEUE), agent
  (CONNECT: the member's name, "Agent 1001" -> "1001") and end (COMPLETECALLER,
  COMPLETEAGENT, ABANDON, EXIT*); at most ``MAX_CALLS`` are followed, the oldest go first;
- a file is finished when it has not grown for ``SETTLE_S`` and its call has ended: the
  queue_log says so, or (no end there: a transfer, or no queue_log) ARI no longer knows
  the channel (``GET /channels/{uniqueid}``: 404; at most ``MAX_ASKS`` asks a sweep,
  each with the ARI client's deadline);
- a finished file is archived like the engine's recordings (SHA-256, sidecar, index:
  ``kind`` and ``queue`` "fallback", the caller, the agent, start and end) and its call
  written to the call log (``calls.sqlite``): the completeness audit counts it as an
  answered call like any other;
- (R13) each call the queue_log saw end goes to ``on_call`` (the leader's reports'
  record: queue "fallback", handled by its agent or abandoned; written once per id);
- a call of the queue_log with a ``RECORDING`` line that ended more than
  ``MISSING_AFTER_S`` ago and has no file and no archived recording is written to the
  call log as missing: the audit reports it (``missing``).

Start and end: the start is the one in the file's name (milliseconds); the end is the
queue_log's (whole seconds) refined by the file's last write when that falls inside that
second (a recording that stopped early keeps the queue_log's end: the audit finds it
short). Without a queue_log, the end is the file's last write and a deleted file cannot
be noticed.

Failures (a file that cannot be archived, the queue_log unreadable, ARI away) are
logged, counted (``cti_faults_total{kind="failed",where="fallback recording"}``) and
tried again, a file at growing intervals (at most ``RETRY_MAX_S``).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cti.errors import AriError
from cti.health import Faults
from cti.recording.calllog import CallLog
from recording.archive import Archive
from reports.records import CallRecord

log = logging.getLogger("cti.recorder.fallback")
Io = Callable[..., Awaitable[Any]]

SWEEP_S = 5.0
SETTLE_S = 5.0  # not grown for this long: MixMonitor is done with it (or the call is quiet)
MISSING_AFTER_S = 30.0
WINDOW_S = 2 * 86400.0  # calls older than this are not judged (the audit looks at a day)
MAX_CALLS = 20000
MAX_ASKS = 20
RETRY_MAX_S = 300.0
READ_MAX = 16 << 20  # queue_log bytes read in one sweep (the rest the next one)
KIND = "fallback"
NAME = re.compile(r"^(\d{9,12}\.\d{1,6})~([A-Za-z0-9._-]+)~([A-Za-z0-9._-]*)\.wav$")
ENDS = frozenset({"COMPLETECALLER", "COMPLETEAGENT", "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY",
                  "EXITWITHKEY"})


def parse_name(name: str) -> tuple[float, str, str] | None:
    """``<start>~<uniqueid>~<linkedid>.wav`` -> (start, uniqueid, linkedid)."""
    found = NAME.match(name)
    return (float(found.group(1)), found.group(2), found.group(3)) if found else None


def call_id_of(uniqueid: str) -> str:
    return f"fallback-{uniqueid}"


def agent_of(member: str) -> str | None:
    """The queue member's name as queues.conf gives it ("Agent 1001") -> the agent's id."""
    member = member.strip()
    if not member or member == "NONE":
        return None
    return member.removeprefix("Agent ").strip() or None


def end_of(logged: float, last_write: float | None) -> float:
    """The call's end: the queue_log's whole second, refined by the file's last write
    when it falls inside that second."""
    if last_write is not None and logged <= last_write < logged + 1.0:
        return last_write
    return logged


@dataclass(slots=True)
class FallbackCall:
    uniqueid: str
    file: str
    started_at: float
    queue: str = KIND
    caller: str = ""
    agent_id: str | None = None
    ended_at: float | None = None  # the queue_log's end (whole seconds)
    waited_s: float = 0.0  # (R13) in the queue until an agent answered, or until the end
    talked_s: float = 0.0
    ended_by: str = ""  # caller, agent; "" (left the queue otherwise)


def record_of(call: FallbackCall) -> CallRecord:
    """R13: an ended fallback call as the reports' record of it (queue "fallback")."""
    assert call.ended_at is not None
    handled = call.ended_by != ""
    return CallRecord(call_id_of(call.uniqueid), call.queue, call.caller, "", False, call.started_at,
                      max(call.ended_at, call.started_at), "handled" if handled else "abandoned",
                      call.agent_id if handled else None, call.waited_s, call.talked_s, 0.0, call.ended_by)


def _seconds(data: list[str], at: int) -> float:
    try:
        return max(0.0, float(data[at]))
    except (IndexError, ValueError):
        return 0.0


@dataclass(slots=True)
class QueueLogState:
    """What the queue_log said so far: the calls of the last ``WINDOW_S`` with a
    RECORDING line (at most ``MAX_CALLS``, oldest first out), and the calls that ended
    since the reports last took them (``ended``, at most ``MAX_CALLS``)."""
    calls: OrderedDict[str, FallbackCall] = field(default_factory=OrderedDict)
    ended: deque[CallRecord] = field(default_factory=lambda: deque(maxlen=MAX_CALLS))

    def feed(self, line: str, now: float) -> None:
        parts = line.rstrip("\r\n").split("|")
        if len(parts) < 5:
            return
        try:
            at = float(parts[0])
        except ValueError:
            return
        uniqueid, queue, agent, event, data = parts[1], parts[2], parts[3], parts[4], parts[5:]
        if event == "RECORDING":
            if at < now - WINDOW_S or not data or (named := parse_name(data[0])) is None:
                return
            self.calls[uniqueid] = FallbackCall(uniqueid, data[0], named[0], queue or KIND)
            while len(self.calls) > MAX_CALLS:
                self.calls.popitem(last=False)
            return
        call = self.calls.get(uniqueid)
        if call is None:
            return
        if event == "ENTERQUEUE" and len(data) >= 2:
            call.caller = data[1]
        elif event == "CONNECT":  # holdtime|bridged channel|ringtime
            call.agent_id, call.waited_s = agent_of(agent), _seconds(data, 0)
        elif event in ENDS:
            call.ended_at = at
            if event.startswith("COMPLETE"):  # holdtime|calltime|position
                call.agent_id = call.agent_id or agent_of(agent)
                call.waited_s, call.talked_s = _seconds(data, 0), _seconds(data, 1)
                call.ended_by = "caller" if event == "COMPLETECALLER" else "agent"
            else:  # ...|waittime, last
                call.waited_s = _seconds(data, len(data) - 1)
            self.ended.append(record_of(call))

    def forget(self, uniqueid: str) -> None:
        self.calls.pop(uniqueid, None)


class QueueLogReader:
    """Reads what was appended to the queue_log since the last call; from the start
    again when the file was rotated (another inode, or shorter than what was read)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._inode: tuple[int, int] | None = None
        self._offset = 0

    def read(self, state: QueueLogState, now: float) -> int:
        """Feeds the new whole lines to ``state``; returns how many."""
        try:
            f = open(self.path, "rb")
        except FileNotFoundError:
            return 0  # no fallback call yet (Asterisk writes it at the first queue event)
        with f:
            st = os.fstat(f.fileno())
            if (st.st_dev, st.st_ino) != self._inode or st.st_size < self._offset:
                self._inode, self._offset = (st.st_dev, st.st_ino), 0
            f.seek(self._offset)
            chunk = f.read(READ_MAX)
        whole = chunk[:chunk.rfind(b"\n") + 1]
        self._offset += len(whole)
        lines = whole.decode("utf-8", "replace").splitlines()
        for line in lines:
            state.feed(line, now)
        return len(lines)


@dataclass(frozen=True, slots=True)
class Spooled:
    path: Path
    started_at: float
    uniqueid: str
    last_write: float


def spooled(folder: Path) -> list[Spooled]:
    """The fallback recordings in ``folder`` (names that do not parse are left alone)."""
    found = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []  # Asterisk makes it at the first fallback call
    for entry in entries:
        named = parse_name(entry.name)
        if named is None:
            continue
        try:
            mtime = entry.stat(follow_symlinks=False).st_mtime
        except FileNotFoundError:
            continue
        found.append(Spooled(Path(entry.path), named[0], named[1], mtime))
    return found


class Fallback:
    """Brings the fallback queue's recordings into the archive and the call log. The
    file work runs on the recorder's worker thread (``io``); ARI is asked on the loop."""

    def __init__(self, folder: Path, queue_log: Path | None, archive: Archive, calls: CallLog,
                 io: Io, ask: Callable[[str, str], Awaitable[Any]], faults: Faults,
                 clock: Callable[[], float] = time.time) -> None:
        self.folder = folder
        self.reader = QueueLogReader(queue_log) if queue_log is not None else None
        self.state = QueueLogState()
        self.archive = archive
        self.calls = calls
        self._io = io
        self._ask = ask  # ARI: (method, path) -> reply, with the client's deadline
        self.faults = faults
        self._clock = clock
        self._retry: dict[str, tuple[float, int]] = {}  # uniqueid -> (next try, failures)
        self._files: list[Spooled] = []  # what the last read found in the folder
        self.on_call: Callable[[CallRecord], None] | None = None  # R13: the leader's record
        self.archived = 0
        self.missing = 0

    def report_to(self, on_call: Callable[[CallRecord], None] | None) -> None:
        """R13: where the ended calls go (the leader's record), or nowhere."""
        self.on_call = on_call

    def _failed(self, what: str, exc: BaseException, uniqueid: str | None = None) -> None:
        self.faults.count("failed", "fallback recording")
        log.error("R4: fallback recording: %s failed: %s", what, exc or type(exc).__name__)
        if uniqueid is not None:
            tries = self._retry.get(uniqueid, (0.0, 0))[1] + 1
            self._retry[uniqueid] = (self._clock() + min(RETRY_MAX_S, SWEEP_S * 2 ** tries), tries)

    async def sweep(self) -> int:
        """One pass; returns how many recordings it archived. Never raises (counted)."""
        try:
            quiet = await self._io(self._read)
        except Exception as exc:
            self._failed("reading the queue_log or the fallback directory", exc)
            return 0
        while self.state.ended:  # R13 (written once: the record keeps the first of a call id)
            ended = self.state.ended.popleft()
            if self.on_call is not None:
                self.on_call(ended)
        gone: set[str] = set()
        for item in quiet[:MAX_ASKS]:
            try:
                await self._ask("GET", f"/channels/{item.uniqueid}")
            except AriError as exc:
                if exc.status == 404:
                    gone.add(item.uniqueid)
                else:  # ARI away or slow (the client's deadline): the rest next sweep
                    self._failed(f"asking ARI about channel {item.uniqueid}", exc)
                    break  # (one deadline a sweep at most: the recorder's loop goes on)
        try:
            done: int = await self._io(self._archive, gone)
            return done
        except Exception as exc:
            self._failed("archiving", exc)
            return 0

    def _read(self) -> list[Spooled]:
        """(worker thread) The queue_log's new lines; the files that stopped growing
        and whose end the queue_log does not tell (ARI is asked about those)."""
        now = self._clock()
        if self.reader is not None:
            try:
                self.reader.read(self.state, now)
            except OSError as exc:
                self._failed(f"reading {self.reader.path}", exc)
        self._files = spooled(self.folder)
        known = self.state.calls
        return [f for f in self._files if now - f.last_write >= SETTLE_S
                and (f.uniqueid not in known or known[f.uniqueid].ended_at is None)
                and self._retry.get(f.uniqueid, (0.0, 0))[0] <= now]

    def _archive(self, gone: set[str]) -> int:
        """(worker thread) Archive the finished files; note the calls without one."""
        now, done = self._clock(), 0
        on_disk = {f.uniqueid for f in self._files}
        with self.calls.batch():
            for f in self._files:
                call = self.state.calls.get(f.uniqueid)
                ended = call is not None and call.ended_at is not None
                if now - f.last_write < SETTLE_S or not (ended or f.uniqueid in gone):
                    continue
                if self._retry.get(f.uniqueid, (0.0, 0))[0] > now:
                    continue
                try:
                    self._store(f, call)
                except Exception as exc:
                    self._failed(f"archiving {f.path.name}", exc, f.uniqueid)
                    continue
                self._retry.pop(f.uniqueid, None)
                self.state.forget(f.uniqueid)
                done += 1
            for call in [k for k in self.state.calls.values() if k.uniqueid not in on_disk]:
                if call.ended_at is None or now - call.ended_at < MISSING_AFTER_S:
                    continue
                self._no_file(call)
                self.state.forget(call.uniqueid)
        for uniqueid in [k for k in self._retry if k not in on_disk]:
            del self._retry[uniqueid]  # (bounded: only files still in the folder)
        return done

    def _store(self, f: Spooled, call: FallbackCall | None) -> None:
        started = f.started_at
        ended = end_of(call.ended_at, f.last_write) if call is not None and call.ended_at is not None \
            else f.last_write
        call_id = call_id_of(f.uniqueid)
        if (done := self.archive.get(call_id, missing_ok=True)) is not None:
            # Archived, but its spool name could not be removed then (the folder not
            # writable by the engine): again now; a failure is counted and retried.
            f.path.unlink()
            self._log_call({"call_id": call_id, "caller": done.caller, "queue": done.queue,
                            "agent_id": done.agent_id, "started_at": done.started_at,
                            "ended_at": done.ended_at}, "archived")
            return
        meta = {"call_id": call_id, "caller": call.caller if call else "", "queue": call.queue if call else KIND,
                "kind": KIND, "agent_id": call.agent_id if call else None,
                "started_at": started, "ended_at": max(ended, started)}
        record = self.archive.store(f.path, meta)
        if record.problem:
            log.error("R4: fallback recording of call %s is broken: %s", call_id, record.problem)
        self._log_call(meta, "archived")
        self.archived += 1
        log.info("R4: fallback recording of call %s archived (%.1f s)", call_id, record.duration_s)

    def _no_file(self, call: FallbackCall) -> None:
        call_id = call_id_of(call.uniqueid)
        if self.calls.has(call_id) or self.archive.get(call_id, missing_ok=True) is not None:
            return  # judged before (an earlier run of the engine)
        assert call.ended_at is not None
        self._log_call({"call_id": call_id, "caller": call.caller, "queue": call.queue, "kind": KIND,
                        "agent_id": call.agent_id, "started_at": call.started_at,
                        "ended_at": max(call.ended_at, call.started_at)}, "missing")
        self.missing += 1
        log.error("R4 ALERT: the fallback recording of call %s never reached the archive (%s)", call_id, call.file)

    def _log_call(self, meta: dict[str, Any], state: str) -> None:
        """The call in the call log, as the audit expects it (idempotent: a call logged
        before keeps its times)."""
        call_id = meta["call_id"]
        fresh = not self.calls.has(call_id)
        if fresh:
            self.calls.answered(call_id, meta["caller"], meta["started_at"])
            self.calls.label(call_id, meta["queue"], KIND, meta["agent_id"])
            self.calls.ended(call_id, meta["ended_at"])
        if fresh or state == "archived":
            self.calls.mark(call_id, state)
