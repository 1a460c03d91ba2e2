"""Leadership and the durable journal on top of ``RedisStore``.

``Leadership``: a standby waits until it wins the lock, then keeps its lease renewed
(every third of the lease). Losing it to another router raises ``Fenced``, which ends
the engine's TaskGroup: a deposed router stops acting at once.

``RedisJournal``: the runtime commits each batch of events here *before* carrying out
their commands. While Redis is away the events are kept in memory and the router goes
on routing as long as its lease is still valid (nobody else can have taken over before
it lapses); past that it holds its commands until Redis answers. When Redis is back the
kept events are appended in order, each under its sequence number, so an append that
timed out here but reached Redis is never doubled by its retry. Every ``snapshot_every`` events, when no event is
waiting to be committed, the core's state is snapshotted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from acd import events as e
from cti.background import cancelled_meanwhile
from cti.journal.store import Fenced, RedisStore
from cti.health import ConnectionState

log = logging.getLogger("cti.durability")


class Leadership:
    def __init__(self, store: RedisStore, router_id: str, lease_ms: int, state: ConnectionState) -> None:
        self.store = store
        self.router_id = router_id
        self.lease_ms = lease_ms
        self.state = state
        self.token: int | None = None
        self._lease_until = 0.0

    def valid(self) -> bool:
        """Whether our lease is surely still ours (measured on our own clock)."""
        return self.token is not None and time.monotonic() < self._lease_until

    async def acquire(self) -> int:
        """Wait as a standby until this node is the leader; return the fencing token."""
        interval = self.lease_ms / 3000
        announced = False
        while True:
            started = time.monotonic()
            try:
                token = await self.store.try_acquire(self.router_id, self.lease_ms)
                if not self.state.connected:
                    self.state.up()
            except (RedisError, OSError) as exc:
                cancelled_meanwhile()  # a cancel redis-py reported as an error
                self.state.down(f"{type(exc).__name__}: {exc}")
                token = None
            if token is not None:
                self.token = token
                self._lease_until = started + self.lease_ms / 1000
                log.info("leader now (router %s, fencing token %d)", self.router_id, token)
                return token
            if not announced:
                holder, _ = await self._holder()
                log.info("standby: leadership is held by %s", holder)
                announced = True
            await asyncio.sleep(interval)

    async def keep(self) -> None:
        """Renew the lease for ever; raise ``Fenced`` when another node took over."""
        assert self.token is not None
        interval = self.lease_ms / 3000
        while True:
            await asyncio.sleep(interval)
            started = time.monotonic()
            try:
                ok = await self.store.renew(self.router_id, self.token, self.lease_ms)
            except (RedisError, OSError) as exc:
                cancelled_meanwhile()  # a cancel redis-py reported as an error
                if self.state.connected:
                    log.warning("Redis unreachable: %s (lease valid for %.1f s more)",
                                exc, max(0.0, self._lease_until - time.monotonic()))
                self.state.down(f"{type(exc).__name__}: {exc}")
                continue
            if not self.state.connected:
                log.info("Redis reachable again")
                self.state.up()
            if not ok:
                raise Fenced(f"router {self.router_id} lost leadership (token {self.token})")
            self._lease_until = started + self.lease_ms / 1000

    async def release(self, within_s: float = 1.0) -> None:
        """Give the lease up at a stop, so that a standby leads at once. Bounded: on a
        Redis that does not answer (a pooled connection left dead by an outage, whose
        timeout and one retry would hold the stop for twice ``redis_s``) the standby
        waits for the lease to run out instead, and the stop stays prompt."""
        try:
            async with asyncio.timeout(within_s):
                await self.store.release(self.router_id)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("leadership not given up at the stop (%s): a standby leads when the lease runs out",
                        type(exc).__name__)

    async def _holder(self) -> tuple[str | None, int]:
        try:
            return await self.store.leader()
        except (RedisError, OSError):
            return None, 0


class RedisJournal:
    def __init__(
        self,
        store: RedisStore,
        leadership: Leadership,
        snapshot_every: int,
        last_id: str | None = None,
        appended_seq: int = 0,
    ) -> None:
        self.store = store
        self.appended_seq = appended_seq  # of the last event known to be in the stream
        self.leadership = leadership
        self.snapshot_every = snapshot_every
        self.last_id = last_id
        self.unflushed: list[e.Event] = []
        self._since_snapshot = 0
        self.last_input: str | None = store.last_input

    async def commit(self, events: list[e.Event], settled: Callable[[], bool],
                     snapshot: Callable[[], dict[str, Any]], input_id: str | None = None) -> None:
        """Make ``events`` durable (or keep them while Redis is away and our lease
        holds). ``settled`` tells whether the core has no uncommitted event, so that
        ``snapshot()`` matches the log exactly."""
        self.unflushed.extend(events)
        if input_id is not None:
            self.last_input = input_id
        while self.unflushed:
            token = self.leadership.token
            assert token is not None
            try:
                self.last_id = await self.store.append(token, self.unflushed, self.last_input,
                                                       self.appended_seq + 1)
            except Fenced:
                raise
            except (RedisError, OSError) as exc:
                cancelled_meanwhile()  # a cancel redis-py reported as an error
                self.leadership.state.down(f"{type(exc).__name__}: {exc}")
                if self.leadership.valid():
                    return  # keep routing; these events go with the next commit
                log.warning("lease ran out while Redis is away: holding commands")
                await asyncio.sleep(0.5)
                continue
            self._since_snapshot += len(self.unflushed)
            self.appended_seq += len(self.unflushed)
            self.unflushed = []
        if self._since_snapshot >= self.snapshot_every and settled() and self.last_id:
            token = self.leadership.token
            assert token is not None
            try:
                await self.store.save_snapshot(token, snapshot(), self.last_id, self.last_input)
                self._since_snapshot = 0
            except Fenced:
                raise
            except (RedisError, OSError) as exc:
                log.warning("snapshot not saved (%s); will retry", exc)
