"""A cluster adapter's Asterisk gone away (issue 17): at once its agents' phones are
reported unreachable (no other node's call is offered to them); if it stays away
``[cluster] node_gone_after_s`` (120 s by default), the calls and legs the adapter
tracked on it are reported ended, so the router closes them instead of holding them
open for a node that may never return. A reconnect before that cancels it, and the
adapter's resync reports what actually went."""

from __future__ import annotations

import asyncio
import logging
from cti.calls.stasis import StasisAdapter

log = logging.getLogger("cti.stasis")


class NodeLoss:
    def __init__(self, adapter: StasisAdapter, after_s: float) -> None:
        self._adapter = adapter
        self.after_s = after_s
        self._timer: asyncio.TimerHandle | None = None

    def lost(self) -> None:
        """The ARI websocket went (once per outage)."""
        if self._adapter.phones is not None:
            self._adapter.phones.lost()
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.after_s, self._gone)

    def _gone(self) -> None:
        self._timer = None
        log.error("Asterisk away for %g s: its calls are ended", self.after_s)
        self._adapter.vanished({})

    async def connected(self) -> None:
        """The websocket is back: what went meanwhile is found by the resync."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self._adapter.resync()
