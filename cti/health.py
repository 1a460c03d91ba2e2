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
