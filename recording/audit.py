"""The append-only audit log of recordings (R5, R14): every access, hold, release and
deletion, with who, what and when.

One JSON object a line; each line carries the SHA-256 of the line before it, so an
edited or deleted line breaks the chain (``verify_chain``). Lines are flushed and
fsynced before the action they record is reported done.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

GENESIS = "0" * 64


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._last = self._tail_hash()

    def _tail_hash(self) -> str:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return GENESIS
        with self.path.open("rb") as f:
            f.seek(max(0, self.path.stat().st_size - 65536))
            last_line = f.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
        return hashlib.sha256(last_line).hexdigest()

    def record(self, who: str, action: str, when: datetime | None = None, **details: Any) -> None:
        entry = {
            "when": (when or datetime.now(timezone.utc)).isoformat(),
            "who": who,
            "action": action,
            **details,
            "prev": self._last,
        }
        line = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
        with self.path.open("ab") as f:
            f.write(line + b"\n")
            f.flush()
            os.fsync(f.fileno())
        self._last = hashlib.sha256(line).hexdigest()

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def verify_chain(self) -> bool:
        prev = GENESIS
        for raw in self.path.read_bytes().splitlines() if self.path.exists() else []:
            if json.loads(raw)["prev"] != prev:
                return False
            prev = hashlib.sha256(raw).hexdigest()
        return True
