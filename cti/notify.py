"""Notifications to the outside world: every webhook the engine posts (R8 emergency,
callback requests, R9 plan changes and standby call-ins) goes through one ``Notifier``
and its durable outbox (``cti.store.outbox``).

- ``send`` never waits: the notification is queued in memory (bounded: past
  ``max_pending`` the oldest is dropped, logged and counted) and the notifier's own
  task writes it to the outbox at once, before the first try.
- Delivery: each try has the webhook deadline; a receiver that fails or does not
  answer is tried again with exponential backoff (1 s, 2 s, 4 s ... up to
  ``backoff_max_s``) until ``max_age_s`` has passed, then it is given up and counted
  as failed. The outbox survives a restart: what was not delivered is delivered by the
  next engine (or the next leader, with Redis).
- Every POST carries ``Idempotency-Key`` (the notification's id, also ``id`` in the
  body): delivery is at least once, and a receiver drops an id it has seen. With a
  signing secret, ``X-CTI-Timestamp`` and ``X-CTI-Signature: sha256=<hex>``, the
  HMAC-SHA256 of ``<timestamp>.<body>``.
- A slow or broken receiver never delays a call: routing only queues.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, assert_never

import aiohttp

from acd import commands as c
from cti.background import cancelled_meanwhile
from cti.configreader import Table
from cti.store.outbox import Entry, Outbox
from cti.errors import ConfigError
from cti.masking import mask_number

log = logging.getLogger("cti.notify")


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """``[notifications]``: where the outbox lives without Redis, how webhooks are
    signed, how long a notification is tried."""

    outbox_path: Path = Path("var/outbox.sqlite")
    signing_secret: str | None = None
    max_age_s: float = 86400.0
    backoff_max_s: float = 300.0


def parse_notifications(t: Table) -> NotifySettings:
    secret = t.text("signing_secret", "-") if "signing_secret" in t.data else None
    if secret is not None and len(secret) < 16:
        raise ConfigError("notifications.signing_secret", "a secret of 16 characters or more", "***")
    settings = NotifySettings(Path(t.text("outbox_path", "var/outbox.sqlite")), secret,
                              t.number("max_age_s", 86400.0, 1.0), t.number("backoff_max_s", 300.0, 1.0))
    t.check_unknown()
    return settings


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
        self, session: aiohttp.ClientSession, urls: Mapping[str, str | None], outbox: Outbox,
        settings: NotifySettings = NotifySettings(), timeout_s: float = 5.0, max_pending: int = 10_000,
        clock: Callable[[], float] = time.time, full_numbers: frozenset[str] = frozenset({"emergency"}),
    ) -> None:
        """``urls``: notification type ("emergency", "callback-request",
        "standby-call-in", "PlanChanged", ...) -> webhook URL (None: not sent).
        ``full_numbers``: the types whose receiver needs the caller's full number (the
        emergency desk, a callback desk); every other receiver gets it masked (R14)."""
        self._full_numbers = full_numbers
        self._session = session
        self._urls = dict(urls)
        self.outbox = outbox
        self.settings = settings
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._clock = clock
        self._fresh: collections.deque[Entry] = collections.deque()
        self._max_pending = max_pending
        self._wake = asyncio.Event()
        self.sent = 0
        self.failed = 0  # given up after max_age_s
        self.dropped = 0
        self.retries = 0
        self.stored = 0  # waiting in the outbox (as of the last look)
        self.delivered: list[Callable[[dict[str, Any]], None]] = []  # told each document a receiver took

    @property
    def pending(self) -> int:
        return self.stored + len(self._fresh)

    def send(self, notification: c.Notification) -> None:
        self.post(body(notification))

    def post(self, doc: dict[str, Any]) -> None:
        """Queue ``doc`` for the webhook of its ``type``; never waits."""
        url = self._urls.get(str(doc["type"]))
        if url is not None:
            self.post_to(url, doc, full_numbers=doc["type"] in self._full_numbers)

    def post_to(self, url: str, doc: dict[str, Any], entry_id: str | None = None,
                full_numbers: bool = False) -> None:
        """Queue ``doc`` for ``url``; ``entry_id`` (the idempotency key) when the same
        document may be queued again (a restart), else a new one."""
        if len(self._fresh) >= self._max_pending:
            self._fresh.popleft()
            self.dropped += 1
            log.error("notification queue full (%d): the oldest was dropped", self._max_pending)
        if not full_numbers:
            doc = {**doc, **{k: mask_number(str(doc[k])) for k in ("caller", "contact_number") if k in doc}}
            if isinstance(doc.get("fields"), dict) and "contact_number" in doc["fields"]:
                doc["fields"] = {**doc["fields"], "contact_number": mask_number(str(doc["fields"]["contact_number"]))}
        entry_id = entry_id or uuid.uuid4().hex
        now = self._clock()
        self._fresh.append(Entry(entry_id, url, {"id": entry_id, **doc}, now, 0, now))
        self._wake.set()

    async def run(self) -> None:
        """Store what is new, deliver what is due; a store that fails is retried."""
        while True:
            self._wake.clear()
            try:
                while self._fresh:
                    await self.outbox.add(self._fresh[0])
                    self._fresh.popleft()
                due = await self.outbox.due(self._clock(), 20)
                if due:
                    await asyncio.gather(*(self._deliver(entry) for entry in due))
                self.stored = await self.outbox.depth()
                if due:
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the outbox's store is away: try again shortly
                cancelled_meanwhile()
                log.error("notification outbox unavailable: %s", exc)
            try:
                async with asyncio.timeout(1.0):  # retries fall due without a wake-up
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def _deliver(self, entry: Entry) -> None:
        data = json.dumps(entry.doc, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": entry.entry_id}
        if self.settings.signing_secret is not None:
            stamp = str(int(self._clock()))
            mac = hmac.new(self.settings.signing_secret.encode(), stamp.encode() + b"." + data, hashlib.sha256)
            headers |= {"X-CTI-Timestamp": stamp, "X-CTI-Signature": "sha256=" + mac.hexdigest()}
        kind = entry.doc.get("type")
        try:
            async with self._session.post(entry.url, data=data, headers=headers, timeout=self._timeout) as resp:
                if resp.status < 300:
                    await self.outbox.remove(entry.entry_id)
                    self.sent += 1
                    for tell in self.delivered:
                        tell(entry.doc)
                    return
                problem = f"answered {resp.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        now = self._clock()
        entry.attempts += 1
        if now - entry.created_at >= self.settings.max_age_s:
            await self.outbox.remove(entry.entry_id)
            self.failed += 1
            log.error("%s webhook %s: given up after %d tries (%s)", kind, entry.entry_id, entry.attempts, problem)
            return
        entry.next_at = now + min(self.settings.backoff_max_s, 2.0 ** (entry.attempts - 1))
        self.retries += 1
        log.warning("%s webhook %s %s (try %d); again in %.0f s", kind, entry.entry_id, problem,
                    entry.attempts, entry.next_at - now)
        await self.outbox.update(entry)
