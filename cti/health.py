"""What ``/health`` and ``cti_connection_up`` report: one state per connection
(ARI, AMI, Redis), kept by the task that supervises that connection."""

from __future__ import annotations

import asyncio
from typing import Any


class ConnectionState:
    """What /health reports for one connection."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.connected = False
        self.since: float | None = None
        self.reconnects = 0
        self.last_error: str | None = None

    def up(self) -> None:
        if self.since is not None:
            self.reconnects += 1
        self.connected = True
        self.since = asyncio.get_running_loop().time()
        self.last_error = None

    def down(self, error: str) -> None:
        self.connected = False
        self.last_error = error

    def as_dict(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
        }


class Faults:
    """Counts what went wrong and was survived, for ``cti_faults_total{kind,where}``:
    ``deadline`` (a network operation or an Asterisk command that did not finish in
    time and was abandoned), ``poison`` (input that did not decode, set aside),
    ``lost`` (a connection that failed the operations pending on it)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}

    def count(self, kind: str, where: str) -> None:
        key = (kind, where)
        self.counts[key] = self.counts.get(key, 0) + 1

    def total(self, kind: str) -> int:
        return sum(n for (k, _), n in self.counts.items() if k == kind)
