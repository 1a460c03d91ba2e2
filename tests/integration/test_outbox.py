"""The durable notification outbox (issue 11) with a real receiver on loopback, on
SQLite and on a real redis-server: written before the first try, retried with backoff
until the receiver takes it, the same idempotency key on every try, signed when a
secret is set, delivered by the next engine after a restart, given up (and counted)
after its maximum age."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis

from cti.store.outbox import Outbox, RedisOutbox, SqliteOutbox
from cti.notify import Notifier, NotifySettings
from tests.e2e.harness.webhook import Webhook

SECRET = "outbox-test-secret-not-real"
DOC = {"type": "emergency", "call_id": "c-1", "caller": "13800000000", "queue": "support",
       "kind": "gas-leak", "reported_at": "2026-12-02T00:00:00+00:00"}


async def until(predicate: Callable[[], bool], timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def restart_then_deliver(make_outbox: Callable[[], Outbox]) -> None:
    hook = Webhook(fail_first=2)
    settings = NotifySettings(signing_secret=SECRET, backoff_max_s=1.0)
    try:
        async with aiohttp.ClientSession() as session:
            first = Notifier(session, {"emergency": hook.url}, make_outbox(), settings, timeout_s=2.0)
            first.post(DOC)
            task = asyncio.ensure_future(first.run())
            await until(lambda: len(hook.tries) >= 1, 5)  # tried once, refused
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            assert await first.outbox.depth() == 1  # it was stored before the try
            # The engine restarts: a new notifier on the same store delivers it.
            second = Notifier(session, {"emergency": hook.url}, make_outbox(), settings, timeout_s=2.0)
            task = asyncio.ensure_future(second.run())
            await until(lambda: len(hook.received) == 1, 15)
            await until(lambda: second.stored == 0 and second.sent == 1, 5)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        hook.close()
    assert len(hook.tries) == 3 and second.retries >= 1
    keys = {headers["Idempotency-Key"] for headers, _ in hook.tries}
    (key,) = keys  # the same key on every try
    (note,) = hook.received
    assert note["id"] == key and {k: note[k] for k in DOC} == DOC
    headers, body = hook.tries[-1]
    stamp = headers["X-CTI-Timestamp"]
    expected = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-CTI-Signature"] == f"sha256={expected}"
    assert json.loads(body) == note


async def test_R8_sqlite_outbox_survives_a_refusing_receiver_and_a_restart(tmp_path: Path) -> None:
    stores: list[SqliteOutbox] = []

    def make() -> SqliteOutbox:
        stores.append(SqliteOutbox(tmp_path / "outbox.sqlite"))
        return stores[-1]

    try:
        await restart_then_deliver(make)
    finally:
        for store in stores:
            store.close()


async def test_R8_redis_outbox_survives_a_refusing_receiver_and_a_restart(
        redis_client: aioredis.Redis, prefix: str) -> None:
    await restart_then_deliver(lambda: RedisOutbox(redis_client, prefix))
    assert await redis_client.exists(prefix + "outbox", prefix + "outbox:due") == 0


async def test_a_notification_nobody_takes_is_given_up_after_its_maximum_age(tmp_path: Path) -> None:
    hook = Webhook(fail_first=1000)
    store = SqliteOutbox(tmp_path / "outbox.sqlite")
    try:
        async with aiohttp.ClientSession() as session:
            notifier = Notifier(session, {"emergency": hook.url}, store,
                                NotifySettings(max_age_s=1.0, backoff_max_s=1.0), timeout_s=2.0)
            notifier.post(DOC)
            task = asyncio.ensure_future(notifier.run())
            await until(lambda: notifier.failed == 1, 10)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert await store.depth() == 0 and notifier.sent == 0 and len(hook.tries) >= 2
    finally:
        store.close()
        hook.close()


async def test_R14_only_receivers_that_need_the_number_get_it(tmp_path: Path) -> None:
    """The emergency desk gets the caller's full number; a plan receiver that gets the
    callback requests (no callback desk configured) gets it masked."""
    store = SqliteOutbox(tmp_path / "outbox.sqlite")
    try:
        async with aiohttp.ClientSession() as session:
            notifier = Notifier(session, {"emergency": "http://127.0.0.1:9/e", "callback-request": "http://127.0.0.1:9/p"},
                                store, full_numbers=frozenset({"emergency"}))
            notifier.post(DOC)
            notifier.post({**DOC, "type": "callback-request"})
            emergency, callback = (entry.doc for entry in notifier._fresh)
        assert emergency["caller"] == "13800000000"
        assert callback["caller"] == "138****0000"
    finally:
        store.close()
