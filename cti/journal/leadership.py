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
waiting to be committed, the core's state is snapshotted, but never so often that
snapshots take more than ``SNAPSHOT_SHARE`` of the router's time: a snapshot is built on
the router's loop (it must match the log exactly), sent to Redis (megabytes with
10,000 agents: Redis serves nobody else while it stores them), and takes about 0.1 s
in all, during which no call is routed. A take-over then replays a few more events.
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
from cti.journal.store import Fenced, Gap, RedisStore
from cti.health import ConnectionState

log = logging.getLogger("cti.durability")

SNAPSHOT_SHARE = 0.05


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
        self._snapshot_after = 0.0  # time.monotonic(): no snapshot before (see SNAPSHOT_SHARE)
        self.snapshot_cost_s = 0.0  # the last snapshot's time: built, encoded and stored
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
            except Gap as gap:
                if not await self._repair(gap, settled, snapshot):
                    return  # (kept: the next commit tries again)
                continue
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
        await self._maybe_snapshot(settled, snapshot)

    async def _repair(self, gap: Gap, settled: Callable[[], bool], snapshot: Callable[[], dict[str, Any]]) -> bool:
        """Redis lost events this router had appended (a failover before they reached
        the replica): its state, which has them, is written as the snapshot at once, so
        that a router taking over rebuilds them (found by the soak: a call answered
        during a double failover was unknown to the next leader, who hung up its agent).
        False: the core has events not yet committed; the next commit repairs."""
        log.error("R6 ALERT: %s; the router's state replaces what was lost", gap)
        if not settled():
            return False
        token = self.leadership.token
        assert token is not None
        seq = self.appended_seq + len(self.unflushed)
        self.last_id = await self.store.repair(token, snapshot(), seq, self.last_input)
        self.appended_seq, self.unflushed, self._since_snapshot = seq, [], 0
        return True

    async def _maybe_snapshot(self, settled: Callable[[], bool], snapshot: Callable[[], dict[str, Any]]) -> None:
        if (self._since_snapshot >= self.snapshot_every and settled() and self.last_id
                and time.monotonic() >= self._snapshot_after):
            token = self.leadership.token
            assert token is not None
            started = time.perf_counter()
            doc = self.store.snapshot_doc(snapshot(), self.last_id, self.last_input)
            try:
                await self.store.save_snapshot_doc(token, doc, self.last_id)
                self._since_snapshot = 0
            except Fenced:
                raise
            except (RedisError, OSError) as exc:
                log.warning("snapshot not saved (%s); will retry", exc)
            finally:
                # Its cost: built, encoded, and written to Redis (the send of a document
                # of megabytes runs on the loop too, and Redis serves nobody else meanwhile).
                self.snapshot_cost_s = time.perf_counter() - started
                self._snapshot_after = time.monotonic() + self.snapshot_cost_s * (1 / SNAPSHOT_SHARE - 1)
