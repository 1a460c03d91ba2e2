"""The append-only audit log of recordings (R5, R14): every access, hold, release and
deletion, with who, what and when.

One JSON object a line; each line carries the SHA-256 of the line before it, so an
edited or deleted line breaks the chain. Lines are flushed and fsynced before the
action they record is reported done.

- One writer at a time: the engine and the command line take an exclusive lock on the
  file and chain to the line that is really last (not to what each remembered).
- Lines are bounded (``MAX_LINE`` bytes): oversized details are replaced by their
  SHA-256, so the chain never depends on reading an unbounded line back.
- The anchor (``audit.log.anchor``, written with each line) holds the number of lines
  and the last line's hash: deleting lines from the end, which leaves a valid chain,
  is detected against it. Copy the anchor off the machine to make it evidence.
- ``verify`` (``cti recordings --config F verify-audit``) names the first bad line.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
MAX_LINE = 8192


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    lines: int
    first_bad: int | None = None  # 1-based line number
    reason: str = ""


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.anchor = path.with_name(path.name + ".anchor")
        path.parent.mkdir(parents=True, exist_ok=True)

    def record(self, who: str, action: str, when: datetime | None = None, **details: Any) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        with os.fdopen(fd, "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # released when the file closes
            prev, count = self._tail(f)
            entry = {"when": (when or datetime.now(timezone.utc)).isoformat(), "who": who[:200],
                     "action": action[:100], **details, "prev": prev}
            line = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
            if len(line) > MAX_LINE:
                digest = hashlib.sha256(json.dumps(details, sort_keys=True, default=str).encode()).hexdigest()
                entry = {"when": entry["when"], "who": who[:200], "action": action[:100],
                         "details_sha256": digest, "prev": prev}
                line = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
            f.write(line + b"\n")
            f.flush()
            os.fsync(f.fileno())
            self._write_anchor(count + 1, hashlib.sha256(line).hexdigest())

    def _tail(self, f: Any) -> tuple[str, int]:
        """The last line's hash and the number of lines (from the anchor when it
        matches the file's end, else counted)."""
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return GENESIS, 0
        f.seek(max(0, size - 2 * MAX_LINE))
        last = f.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
        last_hash = hashlib.sha256(last).hexdigest()
        anchored = self._read_anchor()
        if anchored is not None and anchored[1] == last_hash:
            return last_hash, anchored[0]
        f.seek(0)
        return last_hash, sum(1 for raw in f if raw.strip())

    def _read_anchor(self) -> tuple[int, str] | None:
        try:
            data = json.loads(self.anchor.read_text())
            return int(data["lines"]), str(data["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write_anchor(self, lines: int, last_hash: str) -> None:
        tmp = self.anchor.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w") as f:
            json.dump({"lines": lines, "sha256": last_hash}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.anchor)

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def verify(self) -> Verdict:
        prev, n = GENESIS, 0
        for n, raw in enumerate(self.path.read_bytes().splitlines() if self.path.exists() else [], 1):
            try:
                linked = json.loads(raw)["prev"] == prev
            except (ValueError, KeyError, TypeError):
                linked = False
            if not linked:
                return Verdict(False, n, n, "the line does not chain to the one before (edited, inserted or removed)")
            prev = hashlib.sha256(raw).hexdigest()
        anchored = self._read_anchor()
        if anchored is None:
            return Verdict(n == 0, n, None if n == 0 else n, "" if n == 0 else "no anchor to check the end against")
        lines, last_hash = anchored
        if lines != n or last_hash != prev:
            return Verdict(False, n, min(n, lines) + 1,
                           f"the anchor records {lines} lines ending in {last_hash[:12]}…; the log has {n}")
        return Verdict(True, n)

    def verify_chain(self) -> bool:
        return self.verify().ok
