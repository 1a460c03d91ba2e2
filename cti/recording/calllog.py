"""Answered calls, durable (SQLite beside the archive index): the list the
completeness audit (R4) checks, and what a restarted engine still knows it started.

A row is written when the recording starts (caller, answer time), labelled when the
call leaves the core (queue, kind, agent) and ended when the caller's channel goes.
A recording is archived once its call has ended and been labelled (or ended long
enough ago that no label is coming)."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from datetime import datetime, timezone, tzinfo

from recording.completeness import AnsweredCall
from recording.retention import Kept, LegalHold, due_for_deletion

LABEL_GRACE_S = 30.0  # archive unlabelled recordings after this long


class CallLog:
    def __init__(self, path: Path) -> None:
        # One connection, used by one thread at a time (the engine's recording worker).
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        os.chmod(path, 0o640)  # R14: callers' numbers (SQLite gives its -wal file the same mode)
        # At most four commits per call (the recorder puts the writes queued meanwhile
        # in one): WAL with synchronous NORMAL makes each a write, not an fsync. Safe against the engine's crash; a power cut may lose the last commits,
        # which the audit then reports as a recording without its call (or the reverse).
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS calls (call_id PRIMARY KEY, caller, queue, kind, "
            "agent_id, answered_at, ended_at, recording)"
        )
        # Six months of calls stay here (R5): the archiver's query every second, the
        # audit's and the resync's must not read them all (a partial index holds only
        # the recordings still to archive).
        self._db.execute("CREATE INDEX IF NOT EXISTS to_archive ON calls(ended_at) WHERE recording = 'recording'")
        self._db.execute("CREATE INDEX IF NOT EXISTS by_end ON calls(ended_at)")
        self._db.commit()
        self._batching = False

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The writes inside share one commit, at the end (even when one of them
        failed: each write stands alone)."""
        self._batching = True
        try:
            yield
        finally:
            self._batching = False
            self._db.commit()

    def rollback(self) -> None:
        """What was written since the last commit goes (a batch that failed)."""
        self._db.rollback()

    def _commit(self) -> None:
        if not self._batching:
            self._db.commit()

    def purge(self, holds: list[LegalHold], now: datetime, months: int, zone: tzinfo) -> int:
        """R5/R14: call rows (callers' numbers) go with the same retention as the
        recordings, unless a legal hold covers them; returns how many went."""
        ended = [Kept(k, caller or "", datetime.fromtimestamp(at, timezone.utc))
                 for k, caller, at in self._db.execute(
                     "SELECT call_id, caller, ended_at FROM calls WHERE ended_at IS NOT NULL")]
        due = due_for_deletion(ended, holds, now, months, zone)
        self._db.executemany("DELETE FROM calls WHERE call_id = ?", [(k.call_id,) for k in due])
        self._db.commit()
        return len(due)

    def has(self, call_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM calls WHERE call_id = ?", (call_id,)).fetchone() is not None

    def answered(self, call_id: str, caller: str, at: float) -> None:
        """The first answer counts."""
        self._db.execute(
            "INSERT INTO calls (call_id, caller, answered_at, recording) VALUES (?, ?, ?, 'recording') "
            "ON CONFLICT(call_id) DO NOTHING", (call_id, caller, at),
        )
        self._commit()

    def label(self, call_id: str, queue: str, kind: str, agent_id: str | None) -> None:
        self._db.execute(
            "UPDATE calls SET queue = ?, kind = ?, agent_id = COALESCE(?, agent_id) WHERE call_id = ?",
            (queue, kind, agent_id, call_id),
        )
        self._commit()

    def ended(self, call_id: str, at: float) -> None:
        self._db.execute("UPDATE calls SET ended_at = ? WHERE call_id = ? AND ended_at IS NULL", (at, call_id))
        self._commit()

    def extend(self, call_id: str, at: float) -> None:
        """The call went on after the end noted (its recording did): it ended at ``at``."""
        self._db.execute("UPDATE calls SET ended_at = ? WHERE call_id = ? AND ended_at < ?", (at, call_id, at))
        self._commit()

    def mark(self, call_id: str, recording: str) -> None:
        self._db.execute("UPDATE calls SET recording = ? WHERE call_id = ?", (recording, call_id))
        self._commit()

    def open_calls(self) -> list[str]:
        """Calls whose end has not been seen."""
        return [k for (k,) in self._db.execute("SELECT call_id FROM calls WHERE ended_at IS NULL")]

    def to_archive(self) -> list[tuple[str, str, str, str, str | None, float, float]]:
        return [
            (k, caller or "", queue or "", kind or "", agent, answered, ended)
            for k, caller, queue, kind, agent, answered, ended in self._db.execute(
                "SELECT call_id, caller, queue, kind, agent_id, answered_at, ended_at FROM calls "
                "WHERE recording = 'recording' AND ended_at IS NOT NULL "
                "AND (queue IS NOT NULL OR ended_at < ?)", (time.time() - LABEL_GRACE_S,),
            )
        ]

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
