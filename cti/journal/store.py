"""Durable shared state in Redis: the event log, snapshots, and router leadership.

Keys (under a prefix, default ``cti:``):

- ``events``: a Redis Stream, one entry per event the core consumed (``e`` = the event
  as JSON, ``f`` = the fencing token of the router that wrote it);
- ``snapshot``: the core's state as JSON and the stream id it covers;
- ``leader``: the active router's node id, with a time-to-live (the lease);
- ``fence``: a counter; each new leadership takes the next value as its fencing token;
- ``dead``: a stream of entries that did not decode (poison), set aside with where
  they came from and why, so that nothing stops on them and nothing is silently lost;
- ``appended``: the sequence number and stream id of the last event appended (appends
  are idempotent: a retry never doubles an event).

Every write a router makes is a Lua script that first checks that ``fence`` still holds
its token, so a deposed router (paused, partitioned, slow) cannot append or snapshot
once another has taken over: its writes fail with ``Fenced`` and it stops acting.
A restarting or standby router rebuilds by snapshot + replay of the entries after it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError

from acd import codec
from acd import events as e
from cti.errors import CtiError

log = logging.getLogger("cti.durability")

if TYPE_CHECKING:
    from cti.journal.settings import RedisConfig


class Fenced(CtiError):
    """Another router holds leadership now: this one must stop acting."""


class Gap(CtiError):
    """Redis holds fewer of the log's events than this router appended: a failover lost
    what the old primary had not passed on. The log cannot be mended from them (they
    are gone); the router's state, which has them all, replaces them (``repair``)."""


_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
"""

# Renew our lease; if it lapsed but nobody took over (fence unchanged), take it back.
_RENEW = """
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return 0 end
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# KEYS: events, fence, appended. ARGV: token, input id ('' in a single-node install),
# the first event's sequence number, events... Idempotent: an event whose sequence
# number was appended already is skipped (a retried append whose first try timed out
# on the client but reached Redis later).
_APPEND = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return redis.error_reply('FENCED') end
local head = redis.call('HMGET', KEYS[3], 'seq', 'id')
local done = tonumber(head[1] or '0')
local last = head[2]
local first = tonumber(ARGV[3])
if first > done + 1 then return redis.error_reply('GAP ' .. done) end
for i = 4, #ARGV do
  local seq = first + i - 4
  if seq > done then
    if ARGV[2] ~= '' and i == #ARGV then
      last = redis.call('XADD', KEYS[1], '*', 'e', ARGV[i], 'f', ARGV[1], 'i', ARGV[2])
    else
      last = redis.call('XADD', KEYS[1], '*', 'e', ARGV[i], 'f', ARGV[1])
    end
    done = seq
  end
end
redis.call('HSET', KEYS[3], 'seq', done, 'id', last)
return last
"""

# Commands to one adapter node, under the router's fencing token.
_SEND = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return redis.error_reply('FENCED') end
for i = 2, #ARGV do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', '100000', '*', 'c', ARGV[i], 'f', ARGV[1])
end
return 1
"""

_SNAPSHOT = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return redis.error_reply('FENCED') end
redis.call('SET', KEYS[3], ARGV[2])
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[3])
return 1
"""

# After a Gap: the router's whole state as the snapshot of the log up to its last entry
# (unchanged since it was read), and the appended count set to the router's.
_REPAIR = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return redis.error_reply('FENCED') end
local tail = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local last = tail[1] and tail[1][1] or '0-0'
if last ~= ARGV[4] then return redis.error_reply('MOVED') end
redis.call('SET', KEYS[3], ARGV[2])
redis.call('HSET', KEYS[4], 'seq', ARGV[3], 'id', last)
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[5])
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def connect(cfg: RedisConfig, timeout_s: float) -> aioredis.Redis:
    """The client of the engine's Redis: the URL's server, or the primary that Redis
    Sentinel names (asked again on every new connection, so that after a failover the
    engine's next connection goes to the promoted replica).

    A command that fails on a connection is tried once more at once, on a new one (a
    pooled connection to a server that restarted or died), and then fails: redis-py's
    default (ten tries with back-off, up to about ten seconds) would hold the journal,
    and so the routing, for that long; the engine's own loops decide what comes next."""
    def limits() -> dict[str, Any]:
        return {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s, "retry": Retry(NoBackoff(), 1)}

    if cfg.sentinels:
        sentinel = Sentinel(list(cfg.sentinels), sentinel_kwargs=limits(),
                            **limits())
        client: aioredis.Redis = sentinel.master_for(cfg.service, **limits())
        return client
    tls: dict[str, Any] = {"ssl_ca_certs": str(cfg.ca_file)} if cfg.ca_file else {}
    return aioredis.Redis.from_url(cfg.url, **limits(), **tls)


class RedisStore:
    def __init__(self, client: aioredis.Redis, prefix: str = "cti:", replicas_ack: int = 0,
                 replica_wait_ms: int = 500) -> None:
        self.client = client
        # Each append is acknowledged by this many replicas (WAIT) before it counts.
        self.replicas_ack, self.replica_wait_ms = replicas_ack, replica_wait_ms
        self.unreplicated = 0  # appends that fewer replicas acknowledged in time
        # After a shortfall (no replica: the one promoted after a failover has none yet)
        # appends do not wait for this long, so that routing does not pay the wait on
        # every batch; then they wait again.
        self.replica_retry_s = 5.0
        self._unreplicated_until = 0.0
        self.events_key = prefix + "events"
        self.snapshot_key = prefix + "snapshot"
        self.leader_key = prefix + "leader"
        self.fence_key = prefix + "fence"
        self.input_key = prefix + "in"  # adapters -> router
        self.appended_key = prefix + "appended"
        self.dead_key = prefix + "dead"
        self.poisoned = 0  # entries set aside by this process
        self.prefix = prefix
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._append = client.register_script(_APPEND)
        self._snapshot = client.register_script(_SNAPSHOT)
        self._repair = client.register_script(_REPAIR)
        self._release = client.register_script(_RELEASE)
        self._send = client.register_script(_SEND)

    # ------------------------------------------------------------ leadership

    async def try_acquire(self, node_id: str, lease_ms: int) -> int | None:
        """Become the leader if nobody is: returns the new fencing token, or None."""
        token = await self._acquire(keys=[self.leader_key, self.fence_key], args=[node_id, lease_ms])
        return int(token) or None

    async def renew(self, node_id: str, token: int, lease_ms: int) -> bool:
        ok = await self._renew(
            keys=[self.leader_key, self.fence_key], args=[node_id, lease_ms, str(token)]
        )
        return bool(ok)

    async def release(self, node_id: str) -> None:
        await self._release(keys=[self.leader_key], args=[node_id])

    async def leader(self) -> tuple[str | None, int]:
        holder, fence = await self.client.mget(self.leader_key, self.fence_key)
        return (_text(holder) if holder else None, int(fence or 0))

    # ------------------------------------------------------------ event log

    async def append(self, token: int, events: Sequence[e.Event], input_id: str | None = None,
                     first_seq: int | None = None) -> str:
        """Append events atomically under our fencing token; returns the last entry id.
        ``input_id``: the last adapter stream entry these events came from (router).
        ``first_seq``: the first event's sequence number (``appended_seq() + 1`` when
        nothing is pending): events already appended under their number are skipped."""
        payload = [json.dumps(codec.encode(ev), separators=(",", ":")) for ev in events]
        if first_seq is None:
            first_seq = await self.appended_seq() + 1
        keys, args = [self.events_key, self.fence_key, self.appended_key], [str(token), input_id or "",
                                                                            str(first_seq), *payload]
        try:
            if self.replicas_ack and time.monotonic() >= self._unreplicated_until:
                # WAIT counts the replicas that have this connection's writes: the
                # append and its WAIT go on one connection.
                async with self.client.pipeline(transaction=False) as pipe:
                    await self._append(keys=keys, args=args, client=pipe)
                    pipe.wait(self.replicas_ack, self.replica_wait_ms)
                    last, acked = await pipe.execute()
                if int(acked) < self.replicas_ack:
                    self._unreplicated_until = time.monotonic() + self.replica_retry_s
                    self.unreplicated += 1
                    log.warning("Redis: %d of %d replicas acknowledged an append within %d ms: a failover "
                                "now could lose what is appended in the next %g s", int(acked),
                                self.replicas_ack, self.replica_wait_ms, self.replica_retry_s)
            else:
                last = await self._append(keys=keys, args=args)
                self.unreplicated += bool(self.replicas_ack)
        except ResponseError as exc:
            if "FENCED" in str(exc):
                raise Fenced(f"fencing token {token} is no longer current") from None
            if "GAP" in str(exc):
                raise Gap(f"Redis holds {str(exc).rpartition(' ')[2]} events of the log; this router "
                          f"appended {first_seq - 1}") from None
            raise
        return str(last.decode() if isinstance(last, bytes) else last)

    async def repair(self, token: int, state: dict[str, Any], seq: int, last_input: str | None) -> str:
        """After a ``Gap``: ``state`` (the router's, with every event it appended) becomes
        the snapshot of the log as Redis has it, and the appended count ``seq``; returns
        the last entry's id (where the replay of a router taking over starts)."""
        tail = await self.client.xrevrange(self.events_key, "+", "-", count=1)
        last = _text(tail[0][0]) if tail else "0-0"
        try:
            await self._repair(keys=[self.events_key, self.fence_key, self.snapshot_key, self.appended_key],
                               args=[str(token), self.snapshot_doc(state, last, last_input), str(seq), last,
                                     _next_id(last)])
        except ResponseError as exc:
            if "FENCED" in str(exc):
                raise Fenced(f"fencing token {token} is no longer current") from None
            raise
        return last

    async def appended_seq(self) -> int:
        """The sequence number of the last event appended (0: none yet)."""
        return int(await self.client.hget(self.appended_key, "seq") or 0)

    async def save_snapshot(
        self, token: int, state: dict[str, Any], last_id: str, last_input: str | None = None
    ) -> None:
        """Store the core's state covering the log up to ``last_id``; trim what it covers."""
        await self.save_snapshot_doc(token, self.snapshot_doc(state, last_id, last_input), last_id)

    @staticmethod
    def snapshot_doc(state: dict[str, Any], last_id: str, last_input: str | None = None) -> str:
        """What ``save_snapshot_doc`` stores: the state as JSON with the log position it covers."""
        return json.dumps({"last_id": last_id, "last_input": last_input, "state": state}, separators=(",", ":"))

    async def save_snapshot_doc(self, token: int, doc: str, last_id: str) -> None:
        """``save_snapshot`` with the document already encoded (``snapshot_doc``)."""
        try:
            await self._snapshot(
                keys=[self.events_key, self.fence_key, self.snapshot_key],
                args=[str(token), doc, _next_id(last_id)],
            )
        except ResponseError as exc:
            if "FENCED" in str(exc):
                raise Fenced(f"fencing token {token} is no longer current") from None
            raise

    async def load(self) -> tuple[dict[str, Any] | None, list[tuple[str, e.Event]]]:
        """The latest snapshot and the events logged after it, in order."""
        raw = await self.client.get(self.snapshot_key)
        snapshot: dict[str, Any] | None = json.loads(raw) if raw else None
        self.last_input = None if snapshot is None else snapshot.get("last_input")
        start = "-" if snapshot is None else "(" + snapshot["last_id"]
        replay: list[tuple[str, e.Event]] = []
        while True:
            batch = await self.client.xrange(self.events_key, min=start, max="+", count=5000)
            if not batch:
                break
            for entry_id, fields in batch:
                eid = _text(entry_id)
                start = "(" + eid
                if b"i" in fields:  # type: ignore[operator]
                    self.last_input = _text(fields[b"i"])  # type: ignore[index]
                try:
                    replay.append((eid, codec.decode_event(json.loads(fields[b"e"]))))  # type: ignore[index]
                except (KeyError, ValueError, codec.CodecError) as exc:  # never stop every restart on it
                    await self.dead_letter(self.events_key, eid, fields, exc)
        return snapshot, replay

    last_input: str | None = None  # set by load(): where the router resumes its input

    async def dead_letter(self, source: str, entry_id: str, fields: Any, error: Exception) -> None:
        """Set a poison entry aside (``dead``), with where it came from and why."""
        self.poisoned += 1
        entry: Any = {"source": source, "id": entry_id, "error": str(error)[:500],
                      **{f"field:{_text(k)}": v for k, v in dict(fields or {}).items()}}
        await self.client.xadd(self.dead_key, entry, maxlen=100_000, approximate=True)

    # ------------------------------------------------------------ adapter streams

    def commands_key(self, node: str) -> str:
        return f"{self.prefix}cmd:{node}"

    async def publish_event(self, node: str, event: e.Event) -> None:
        """Adapter -> router (not fenced: adapters do not lead)."""
        doc = json.dumps(codec.encode(event), separators=(",", ":"))
        await self.client.xadd(self.input_key, {"n": node, "e": doc}, maxlen=1_000_000, approximate=True)

    async def send_commands(self, token: int, node: str, commands: Sequence[Any]) -> None:
        payload = [json.dumps(codec.encode(cmd), separators=(",", ":")) for cmd in commands]
        try:
            await self._send(keys=[self.commands_key(node), self.fence_key], args=[str(token), *payload])
        except ResponseError as exc:
            if "FENCED" in str(exc):
                raise Fenced(f"fencing token {token} is no longer current") from None
            raise

    async def read_after(self, key: str, last: str, count: int) -> list[tuple[str, dict[bytes, bytes]]]:
        """The entries of stream ``key`` after ``last`` (waiting up to 1 s for one), with their ids as text."""
        batches: Any = await self.client.xread({key: last}, count=count, block=1000)
        return [(_text(entry_id), fields) for _, entries in batches or [] for entry_id, fields in entries]

    async def fence(self) -> int:
        return int(await self.client.get(self.fence_key) or 0)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _next_id(entry_id: str) -> str:
    """The smallest stream id after ``entry_id`` (XTRIM MINID keeps ids >= it)."""
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"
