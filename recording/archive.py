"""The recording archive: date-partitioned files, a metadata sidecar per recording,
SHA-256 at archive time, and a durable index that can be rebuilt from the sidecars.

    <root>/YYYY/MM/DD/<call id>.wav    the audio, read-only
    <root>/YYYY/MM/DD/<call id>.json   call id, caller, agent, queue, kind, start, end,
                                       duration, size, sha256, format
    <root>/index.sqlite                a search index over the sidecars (rebuildable)
    <root>/holds.json                  legal holds
    <root>/audit.log                   who did what (recording/audit.py)

Retrieval checks the SHA-256 every time and refuses a file that does not match.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Any

from recording.audit import AuditLog
from recording.retention import Kept, LegalHold, due_for_deletion
from recording.wav import NotWav, WavInfo, inspect_bytes

log = logging.getLogger("recording.archive")


class RecordingError(Exception):
    """Base of the recording package's errors."""


class NotFound(RecordingError):
    pass


class IntegrityError(RecordingError):
    """An archived file no longer matches the SHA-256 taken when it was archived."""


@dataclass(frozen=True, slots=True)
class RecordingMeta:
    call_id: str
    caller: str
    agent_id: str | None
    queue: str
    kind: str
    started_at: float  # answered (epoch seconds)
    ended_at: float
    duration_s: float  # of the audio
    size: int
    sha256: str
    path: str  # relative to the archive root
    format: str = "wav"
    # What the audio held when archived (``recording.wav.inspect``, once): the audit
    # reads these instead of the file. rms < 0: not inspected (archived by an older
    # version; the audit inspects it once and stores the result).
    rms: float = -1.0
    peak: int = 0
    problem: str = ""  # why the file is not a readable WAV, if it is not

    @property
    def ended(self) -> datetime:
        return datetime.fromtimestamp(self.ended_at, timezone.utc)


_COLUMNS = tuple([f.name for f in dataclasses.fields(RecordingMeta)])


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Archive:
    def __init__(self, root: Path, audit: AuditLog | None = None) -> None:
        """``audit``: where accesses are written (the engine's one keyed log); by
        default ``root/audit.log``, chained without a key."""
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o750)  # R14: callers' numbers and voices; group-readable at most
        self.audit = audit if audit is not None else AuditLog(root / "audit.log")
        # One connection, used by one thread at a time (the engine's recording worker).
        self._db = sqlite3.connect(str(root / "index.sqlite"), check_same_thread=False)
        # WAL, synchronous NORMAL: a commit is a write, not an fsync (an index entry lost
        # to a power cut is rebuilt from the sidecars: ``rebuild_index``).
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS recordings (" + ", ".join(
                f"{c} {'PRIMARY KEY' if c == 'call_id' else ''}" for c in _COLUMNS
            ) + ")"
        )
        present = {row[1] for row in self._db.execute("PRAGMA table_info(recordings)")}
        for column in _COLUMNS:  # an index made by an older version gains the new columns
            if column not in present:
                default = next(f.default for f in dataclasses.fields(RecordingMeta) if f.name == column)
                self._db.execute(f"ALTER TABLE recordings ADD COLUMN {column} DEFAULT {default!r}")
        os.chmod(root / "index.sqlite", 0o640)
        self._db.execute("CREATE INDEX IF NOT EXISTS by_end ON recordings(ended_at)")
        self._db.execute("CREATE INDEX IF NOT EXISTS by_caller ON recordings(caller)")
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------ archiving

    def store(self, source: Path, meta: dict[str, Any]) -> RecordingMeta:
        """Move a finished recording in, with its sidecar and what its audio holds
        (``recording.wav``: duration, RMS, peak; ``problem`` when it is not a readable
        WAV); idempotent per call id. The file is read once: hashed and inspected from
        the same bytes. On the same filesystem, and when the engine may own the file,
        it is linked in rather than copied (the spool name goes once it is indexed: a
        crash before that leaves the spool file to be archived again)."""
        existing = self.get(meta["call_id"], missing_ok=True)
        if existing is not None:
            return existing
        try:
            st = os.lstat(source)
        except OSError as exc:
            raise NotARecording(f"{source}: {exc.strerror}") from None
        if stat.S_ISLNK(st.st_mode):
            raise NotARecording(f"{source} is a symbolic link: refused (it could point at any file)")
        ended = datetime.fromtimestamp(meta["ended_at"], timezone.utc)
        rel = Path(f"{ended:%Y/%m/%d}") / f"{_safe(meta['call_id'])}.wav"
        target = self.root / rel
        for folder in reversed([target.parent, *list(target.parent.parents)[:2]]):
            folder.mkdir(mode=0o750, exist_ok=True)
        tmp = target.with_suffix(".part")
        for stale in (tmp, target):  # of an attempt that failed before indexing (rename()
            stale.unlink(missing_ok=True)  # between two names of one file does nothing)
        data = self._link(source, st, tmp) if self._may_link(st, target.parent) else None
        if data is None:
            try:  # O_NOFOLLOW: a link swapped in after the check is refused too
                fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError as exc:
                raise NotARecording(f"{source}: {exc.strerror}") from None
            with os.fdopen(fd, "rb") as src:
                data = src.read()
            with open(tmp, "wb") as dst:
                dst.write(data)
        os.chmod(tmp, 0o440)
        os.replace(tmp, target)
        info: WavInfo | None = None
        problem = ""
        try:
            info = inspect_bytes(data, source.name)
        except NotWav as exc:
            problem = str(exc)
        record = RecordingMeta(
            call_id=meta["call_id"], caller=meta.get("caller", ""), agent_id=meta.get("agent_id"),
            queue=meta.get("queue", ""), kind=meta.get("kind", ""),
            started_at=meta["started_at"], ended_at=meta["ended_at"],
            duration_s=info.duration_s if info is not None else 0.0,
            size=len(data), sha256=hashlib.sha256(data).hexdigest(), path=str(rel),
            rms=info.rms if info is not None else 0.0, peak=info.peak if info is not None else 0,
            problem=problem,
        )
        self._write(record)
        source.unlink(missing_ok=True)
        return record

    def _may_link(self, st: os.stat_result, folder: Path) -> bool:
        """A hard link instead of a copy: same filesystem, and the engine owns the file
        or may take it over (root): an archived file belongs to the engine."""
        euid = os.geteuid()
        return (st.st_uid == euid or euid == 0) and st.st_dev == os.stat(folder).st_dev

    def _link(self, source: Path, st: os.stat_result, tmp: Path) -> bytes | None:
        """``source`` linked at ``tmp`` and its bytes, or None (copy instead). link()
        does not follow a symbolic link swapped in meanwhile, and O_NOFOLLOW then
        refuses it; so does a different file (inode) than the one checked."""
        try:
            os.link(source, tmp, follow_symlinks=False)
        except OSError:
            return None
        try:
            fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise NotARecording(f"{source}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as f:
            now = os.fstat(f.fileno())
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                tmp.unlink(missing_ok=True)
                raise NotARecording(f"{source} changed while being archived: refused")
            if now.st_uid != os.geteuid():
                os.fchown(f.fileno(), os.geteuid(), os.getegid())
            return f.read()

    def _write(self, record: RecordingMeta) -> None:
        sidecar = (self.root / record.path).with_suffix(".json")
        # One line, so that the C encoder writes it (an indented dump is the pure-Python one).
        doc = json.dumps({c: getattr(record, c) for c in _COLUMNS}, sort_keys=True)
        fd = os.open(sidecar, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o640)
        with os.fdopen(fd, "w") as f:
            os.fchmod(fd, 0o640)  # whatever the umask
            f.write(doc)
        self._index(record)

    def inspected(self, record: RecordingMeta, info: WavInfo | None, problem: str = "") -> RecordingMeta:
        """Store what ``inspect`` found for a recording archived without it."""
        updated = dataclasses.replace(
            record, duration_s=info.duration_s if info is not None else 0.0,
            rms=info.rms if info is not None else 0.0, peak=info.peak if info is not None else 0, problem=problem)
        self._write(updated)
        return updated

    def _index(self, record: RecordingMeta) -> None:
        values = dataclasses.astuple(record)
        self._db.execute(
            f"INSERT OR REPLACE INTO recordings ({', '.join(_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_COLUMNS))})", values,
        )
        self._db.commit()

    def rebuild_index(self) -> int:
        """Rebuild the index from the sidecars alone; returns how many it found. A
        sidecar whose recording lies outside the archive, or is a link, is ignored."""
        self._db.execute("DELETE FROM recordings")
        count = 0
        root = self.root.resolve()
        for sidecar in sorted(self.root.glob("*/*/*/*.json")):
            data = json.loads(sidecar.read_text())
            record = RecordingMeta(**data)
            audio = self.root / record.path
            if audio.is_symlink() or not audio.resolve().is_relative_to(root):
                log.error("R14 ALERT: %s points outside the archive (%s): ignored", sidecar, record.path)
                continue
            self._index(record)
            count += 1
        return count

    # ------------------------------------------------------------ reading

    def get(self, call_id: str, missing_ok: bool = False) -> RecordingMeta | None:
        row = self._db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM recordings WHERE call_id = ?", (call_id,)
        ).fetchone()
        if row is None:
            if missing_ok:
                return None
            raise NotFound(f"no recording for call {call_id!r}")
        return RecordingMeta(*row)

    def search(
        self, *, since: float | None = None, until: float | None = None,
        caller: str | None = None, agent_id: str | None = None, queue: str | None = None,
        kind: str | None = None, limit: int = 1000,
    ) -> list[RecordingMeta]:
        where, args = [], []
        for column, op, value in (
            ("ended_at", ">=", since), ("ended_at", "<", until), ("caller", "=", caller),
            ("agent_id", "=", agent_id), ("queue", "=", queue), ("kind", "=", kind),
        ):
            if value is not None:
                where.append(f"{column} {op} ?")
                args.append(value)
        sql = f"SELECT {', '.join(_COLUMNS)} FROM recordings"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY ended_at LIMIT ?"
        return [RecordingMeta(*row) for row in self._db.execute(sql, (*args, limit))]

    def all(self) -> Iterator[RecordingMeta]:
        for row in self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM recordings"):
            yield RecordingMeta(*row)

    def open_verified(self, call_id: str, who: str) -> bytes:
        """The audio, only if it still matches its SHA-256; audited either way."""
        meta = self.get(call_id)
        assert meta is not None
        path = self.root / meta.path
        data = path.read_bytes() if path.exists() else b""
        if hashlib.sha256(data).hexdigest() != meta.sha256:
            self.audit.record(who, "retrieve-refused", call_id=call_id, reason="sha256 mismatch")
            raise IntegrityError(f"recording of call {call_id!r} does not match its SHA-256")
        self.audit.record(who, "retrieve", call_id=call_id, sha256=meta.sha256)
        return data

    def verify_all(self) -> list[str]:
        """Call ids whose archived file no longer matches its SHA-256."""
        bad = []
        for meta in self.all():
            path = self.root / meta.path
            if not path.exists() or sha256_of(path) != meta.sha256:
                bad.append(meta.call_id)
        return bad

    # ------------------------------------------------------------ holds, purge

    def holds(self) -> list[LegalHold]:
        path = self.root / "holds.json"
        if not path.exists():
            return []
        try:
            entries = json.loads(path.read_text())
            if not isinstance(entries, list):
                raise ValueError("not a list of holds")
        except (OSError, ValueError) as exc:
            raise BadHoldFile(f"{path}: unreadable ({exc}); nothing is purged until it is fixed") from None
        holds = []
        for raw in entries:
            try:
                fields: dict[str, Any] = {
                    k: (datetime.fromisoformat(v) if k in _DATES and v else v) for k, v in raw.items()
                }
                hold = LegalHold(**fields)
                if any(d is not None and d.tzinfo is None for d in (hold.created_at, hold.start, hold.end)):
                    raise ValueError("a date without a time zone")
            except (TypeError, ValueError) as exc:
                raise BadHoldFile(f"{path}: unreadable legal hold {raw.get('hold_id', '?') if isinstance(raw, dict) else raw!r}: "
                                  f"{exc}; nothing is purged until it is fixed") from None
            holds.append(hold)
        return holds

    def _save_holds(self, holds: list[LegalHold]) -> None:
        data = [
            {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dataclasses.asdict(h).items()}
            for h in holds
        ]
        tmp = self.root / "holds.json.part"
        tmp.write_text(json.dumps(data, indent=1))
        os.chmod(tmp, 0o640)
        os.replace(tmp, self.root / "holds.json")

    def add_hold(self, hold: LegalHold) -> None:
        holds = [h for h in self.holds() if h.hold_id != hold.hold_id] + [hold]
        self._save_holds(holds)
        self.audit.record(hold.created_by, "hold", when=hold.created_at, hold_id=hold.hold_id,
                          reason=hold.reason, call_id=hold.call_id, caller=hold.caller,
                          start=hold.start.isoformat() if hold.start else None,
                          end=hold.end.isoformat() if hold.end else None)

    def release_hold(self, hold_id: str, who: str, when: datetime) -> None:
        holds = self.holds()
        if not any(h.hold_id == hold_id for h in holds):
            raise NotFound(f"no legal hold {hold_id!r}")
        self._save_holds([dataclasses.replace(h, released_at=when) if h.hold_id == hold_id else h
                          for h in holds])
        self.audit.record(who, "release", when=when, hold_id=hold_id)

    def purge(self, now: datetime, months: int, who: str, dry_run: bool = False,
              zone: tzinfo = timezone.utc) -> list[str]:
        """Delete what retention allows (R5), months counted in ``zone`` (the site's);
        idempotent; each deletion audited."""
        kept = [Kept(m.call_id, m.caller, m.ended) for m in self.all()]
        due = due_for_deletion(kept, self.holds(), now, months, zone)
        if dry_run:
            return [k.call_id for k in due]
        for k in due:
            meta = self.get(k.call_id)
            assert meta is not None
            path = self.root / meta.path
            path.unlink(missing_ok=True)
            path.with_suffix(".json").unlink(missing_ok=True)
            self._db.execute("DELETE FROM recordings WHERE call_id = ?", (k.call_id,))
            self._db.commit()
            self.audit.record(who, "delete", when=now, call_id=k.call_id, sha256=meta.sha256,
                              ended=meta.ended.isoformat(), reason=f"retention {months} months")
        return [k.call_id for k in due]


_DATES = frozenset({"created_at", "start", "end", "released_at"})


class NotARecording(RecordingError):
    """A spool entry that is not a regular file (a symbolic link): never archived."""


class BadHoldFile(RecordingError):
    """holds.json holds an entry that cannot be read: since it might cover any
    recording, the purge deletes nothing until an operator fixes it."""


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)
