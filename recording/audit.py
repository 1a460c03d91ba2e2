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
- ``verify`` (``cti audit verify --config F``) names the first bad line.

With a key (the engine's one audit log, ``[audit] key_file``), each line is chained by
a keyed MAC instead: the line ends with ``"mac"``, the HMAC-SHA256 of the rest of the
line (which holds the previous line's MAC as ``prev``), and the anchor is sealed with
the key too. Whoever can write the log but not read the key (kept outside the log's
directory) can neither edit a line, nor insert or remove one, nor cut the end and
rewrite the anchor, without ``verify`` naming the line. Every text is JSON-escaped:
a newline or a control character in a detail (a request path with ``%0A``) stays
inside its one line.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import re
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
MAX_LINE = 8192
_MAC_TAIL = re.compile(rb',"mac":"([0-9a-f]{64})"\}$')


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    lines: int
    first_bad: int | None = None  # 1-based line number
    reason: str = ""


class AuditLog:
    def __init__(self, path: Path, key: bytes | None = None) -> None:
        self.path = path
        self.key = key  # the keyed chain (HMAC-SHA256); None: the plain SHA-256 chain
        self.anchor = path.with_name(path.name + ".anchor")
        path.parent.mkdir(parents=True, exist_ok=True)

    def _link(self, line: bytes) -> str:
        """What the next line chains to: the line's MAC (keyed), or its SHA-256."""
        if self.key is None:
            return hashlib.sha256(line).hexdigest()
        found = _MAC_TAIL.search(line)
        return found.group(1).decode() if found else GENESIS

    def _sealed(self, body: bytes) -> bytes:
        """``body`` (a JSON object) with its MAC as the last member (keyed only)."""
        if self.key is None:
            return body
        mac = hmac.new(self.key, body, hashlib.sha256).hexdigest()
        return body[:-1] + b',"mac":"' + mac.encode() + b'"}'

    def _seal(self, lines: int, last: str) -> str:
        assert self.key is not None
        return hmac.new(self.key, f"anchor:{lines}:{last}".encode(), hashlib.sha256).hexdigest()

    def record(self, who: str, action: str, when: datetime | None = None, **details: Any) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        with os.fdopen(fd, "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # released when the file closes
            prev, count = self._tail(f)
            entry = {"when": (when or datetime.now(timezone.utc)).isoformat(), "who": who[:200],
                     "action": action[:100], **details, "prev": prev}
            line = self._sealed(json.dumps(entry, sort_keys=True, separators=(",", ":"), default=str).encode())
            if len(line) > MAX_LINE:
                digest = hashlib.sha256(json.dumps(details, sort_keys=True, default=str).encode()).hexdigest()
                entry = {"when": entry["when"], "who": who[:200], "action": action[:100],
                         "details_sha256": digest, "prev": prev}
                line = self._sealed(json.dumps(entry, sort_keys=True, separators=(",", ":")).encode())
            f.write(line + b"\n")
            f.flush()
            os.fsync(f.fileno())
            self._write_anchor(count + 1, self._link(line))

    def _tail(self, f: Any) -> tuple[str, int]:
        """The last line's hash and the number of lines (from the anchor when it
        matches the file's end, else counted)."""
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return GENESIS, 0
        f.seek(max(0, size - 2 * MAX_LINE))
        last = f.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
        last_hash = self._link(last)
        anchored = self._read_anchor()
        if anchored is not None and anchored[1] == last_hash:
            return last_hash, anchored[0]
        f.seek(0)
        return last_hash, sum(1 for raw in f if raw.strip())

    def _read_anchor(self) -> tuple[int, str] | None:
        try:
            data = json.loads(self.anchor.read_text())
            lines, last = int(data["lines"]), str(data["sha256"])
            if self.key is not None and not hmac.compare_digest(str(data.get("seal", "")), self._seal(lines, last)):
                return None  # an anchor rewritten without the key
            return lines, last
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write_anchor(self, lines: int, last_hash: str) -> None:
        tmp = self.anchor.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w") as f:
            json.dump({"lines": lines, "sha256": last_hash,
                       **({"seal": self._seal(lines, last_hash)} if self.key is not None else {})}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.anchor)

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def verify(self) -> Verdict:
        prev, n = GENESIS, 0
        for n, raw in enumerate(self.path.read_bytes().split(b"\n")[:-1] if self.path.exists() else [], 1):
            if self.key is not None:
                found = _MAC_TAIL.search(raw)
                body = raw[:found.start()] + b"}" if found else b""
                if found is None or not hmac.compare_digest(
                        found.group(1).decode(), hmac.new(self.key, body, hashlib.sha256).hexdigest()):
                    return Verdict(False, n, n, "the line's MAC does not match (edited, or written without the key)")
            try:
                linked = json.loads(raw)["prev"] == prev
            except (ValueError, KeyError, TypeError):
                linked = False
            if not linked:
                return Verdict(False, n, n, "the line does not chain to the one before (edited, inserted or removed)")
            prev = self._link(raw)
        anchored = self._read_anchor()
        if anchored is None and self.key is not None and self.anchor.exists():
            return Verdict(False, n, n + 1 if n else 1, "the anchor's seal does not match (rewritten without the key)")
        if anchored is None:
            return Verdict(n == 0, n, None if n == 0 else n, "" if n == 0 else "no anchor to check the end against")
        lines, last_hash = anchored
        if lines != n or last_hash != prev:
            return Verdict(False, n, min(n, lines) + 1,
                           f"the anchor records {lines} lines ending in {last_hash[:12]}…; the log has {n}")
        return Verdict(True, n)

    def verify_chain(self) -> bool:
        return self.verify().ok
