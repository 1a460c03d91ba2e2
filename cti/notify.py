"""Notifications to the outside world: every webhook the engine posts (R8 emergency,
callback requests, R9 plan changes and standby call-ins) goes through one ``Notifier``.

They leave the routing path at once: ``send`` only queues (bounded: past
``max_pending`` the oldest is dropped, logged and counted), and a worker task of its
own posts them, each try with a deadline, so a slow or broken receiver never delays a
call. Notifications are posted wherever the router runs (in a cluster, the router, not
the adapters). Delivery is at most ``tries`` attempts; a durable outbox is built on top
of this in a later step.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, assert_never

import aiohttp

from acd import commands as c

log = logging.getLogger("cti.notify")


def body(n: c.Notification) -> dict[str, Any]:
    """The JSON a receiver gets; times are ISO 8601 in UTC."""
    match n:
        case c.NotifyEmergency():
            return {"type": "emergency", "call_id": n.call_id, "caller": n.caller, "queue": n.queue,
                    "kind": n.kind, "reported_at": _iso(n.reported_at)}
        case c.CallbackRequested():
            return {"type": "callback-request", "call_id": n.call_id, "caller": n.caller,
                    "queue": n.queue, "kind": n.kind, "requested_at": _iso(n.at)}
        case c.NotifyStandbyCallIn():
            return {"type": "standby-call-in", "level": n.level, "agents": list(n.agents), "at": _iso(n.at)}
        case _:
            assert_never(n)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat()


class Notifier:
    def __init__(
        self, session: aiohttp.ClientSession, urls: Mapping[str, str | None],
        tries: int = 3, timeout_s: float = 5.0, max_pending: int = 10_000,
    ) -> None:
        """``urls``: notification type ("emergency", "callback-request",
        "standby-call-in", "plan") -> webhook URL (None: not sent)."""
        self._session = session
        self._urls = dict(urls)
        self._tries = tries
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._pending: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        self._max_pending = max_pending
        self._ready = asyncio.Event()
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    def send(self, notification: c.Notification) -> None:
        self.post(body(notification))

    def post(self, doc: dict[str, Any]) -> None:
        """Queue ``doc`` for the webhook of its ``type``; never waits."""
        url = self._urls.get(str(doc["type"]))
        if url is None:
            return
        if len(self._pending) >= self._max_pending:
            self._pending.popleft()
            self.dropped += 1
            log.error("notification queue full (%d): the oldest was dropped", self._max_pending)
        self._pending.append((url, doc))
        self._ready.set()

    async def run(self) -> None:
        while True:
            await self._ready.wait()
            while self._pending:
                url, doc = self._pending.popleft()
                await self._deliver(url, doc)
            self._ready.clear()

    async def _deliver(self, url: str, doc: dict[str, Any]) -> None:
        for attempt in range(1, self._tries + 1):
            try:
                async with self._session.post(url, json=doc, timeout=self._timeout) as resp:
                    if resp.status < 300:
                        self.sent += 1
                        return
                    log.error("%s webhook answered %d (try %d)", doc["type"], resp.status, attempt)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.error("%s webhook failed (try %d): %s", doc["type"], attempt, exc)
            if attempt < self._tries:
                await asyncio.sleep(0.5 * attempt)
        self.failed += 1
