"""Several Asterisk nodes, one router: adapters and the router talk through Redis
Streams, with the same event and command types as JSON (``acd.codec``).

- ``<prefix>in``: every adapter appends the events it translates, with its node name.
- ``<prefix>cmd:<node>``: the router appends each node's commands under its fencing
  token; an adapter carries out only commands whose token is the current fence, so a
  deposed router's commands are refused.

The router journals the input entry id with the events (``RedisJournal``): a router
that takes over resumes reading exactly after the last event its predecessor made
durable, and rebuilds which node each live call is on from the core's state.
Only the router decides, so however many adapters feed it, no agent is offered two
calls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections import OrderedDict
from typing import Protocol

from redis.exceptions import RedisError

from acd import Engine
from acd import codec
from acd import commands as c
from acd import events as e
from cti.background import cancelled_meanwhile
from cti.journal.leadership import Leadership
from cti.journal.store import RedisStore
from cti.health import ConnectionState
from cti.runtime import Runtime

log = logging.getLogger("cti.cluster")


class Dispatcher:
    """The router's executor: each call action goes to the node its call is on
    (notifications and notices stay with the router)."""

    def __init__(self, store: RedisStore, leadership: Leadership, engine: Engine) -> None:
        self.store = store
        self.leadership = leadership
        # call id -> node; calls may end before their last commands are sent
        self.nodes: OrderedDict[str, str] = OrderedDict(
            (k.call_id, k.node) for k in engine.calls()
        )

    def saw(self, event: e.Event) -> None:
        if isinstance(event, (e.CallEntered, e.CallArrived)):
            self.nodes[event.call_id] = event.node
            while len(self.nodes) > 200_000:
                self.nodes.popitem(last=False)

    async def execute(self, cmd: c.CallAction) -> None:
        node = self.nodes.get(cmd.attempt_id if isinstance(cmd, c.CancelOutbound) else cmd.call_id)
        if node is None:
            log.warning("no node known for %s; dropped", cmd)
            return
        assert self.leadership.token is not None
        await self.store.send_commands(self.leadership.token, node, [cmd])


async def run_router_input(store: RedisStore, runtime: Runtime, dispatcher: Dispatcher,
                           start: str | None) -> None:
    """Read what adapters send, in order, from just after ``start``."""
    last = start or "0-0"
    while True:
        try:
            entries = await store.read_after(store.input_key, last, 500)
        except (RedisError, OSError) as exc:
            cancelled_meanwhile()  # a cancel redis-py reported as an error
            log.warning("reading adapter events failed: %s", exc)
            await asyncio.sleep(0.5)
            continue
        for last, fields in entries:
            try:
                event = codec.decode_event(json.loads(fields[b"e"]))
                dispatcher.saw(event)
                runtime.submit(event, last)
            except Exception as exc:  # poison: set aside, counted; the router goes on
                log.error("bad adapter entry %s set aside in %s: %s", last, store.dead_key, exc)
                runtime.faults.count("poison", "redis input")
                try:
                    await store.dead_letter(store.input_key, last, fields, exc)
                except (RedisError, OSError) as dead_exc:
                    log.error("could not set entry %s aside: %s", last, dead_exc)


class CarriesOut(Protocol):
    """What carries out a node's call actions on its Asterisk (the Stasis adapter)."""

    async def dispatch(self, cmd: c.CallAction) -> None: ...


class AdapterNode:
    """An Asterisk node's adapter in cluster mode: ARI events go to the router's
    stream; the router's commands for this node are carried out if their fencing
    token is current."""

    def __init__(self, store: RedisStore, node: str, state: ConnectionState, max_outbox: int = 100_000) -> None:
        self.store = store
        self.node = node
        self.state = state
        # Events waiting for Redis; bounded: past the bound (Redis away for long, at
        # 100,000 events) the oldest is dropped, logged and counted (``dropped``).
        self.outbox: asyncio.Queue[e.Event] = asyncio.Queue()
        self.max_outbox = max_outbox
        self.dropped = 0
        self.highest_token = 0

    def submit(self, event: e.Event) -> None:
        if isinstance(event, (e.CallEntered, e.CallArrived, e.AgentReachable)):
            event = dataclasses.replace(event, node=self.node)
        if self.outbox.qsize() >= self.max_outbox:
            lost = self.outbox.get_nowait()
            self.dropped += 1
            log.error("adapter outbox full (%d events, Redis away): %s dropped", self.max_outbox,
                      type(lost).__name__)
        self.outbox.put_nowait(event)

    async def run_publisher(self) -> None:
        while True:
            event = await self.outbox.get()
            while True:
                try:
                    await self.store.publish_event(self.node, event)
                    if not self.state.connected:
                        self.state.up()
                    break
                except (RedisError, OSError) as exc:
                    cancelled_meanwhile()  # a cancel redis-py reported as an error
                    self.state.down(f"{type(exc).__name__}: {exc}")
                    await asyncio.sleep(0.5)

    async def run_commands(self, adapter: CarriesOut) -> None:
        key = self.store.commands_key(self.node)
        last = "$"  # commands sent while this adapter was away are stale: resync instead
        while True:
            try:
                entries = await self.store.read_after(key, last, 200)
                fence = await self.store.fence() if entries else 0
            except (RedisError, OSError) as exc:
                cancelled_meanwhile()  # a cancel redis-py reported as an error
                self.state.down(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.5)
                continue
            for last, fields in entries:
                try:
                    token = int(fields.get(b"f", 0))
                    cmd = codec.decode_command(json.loads(fields[b"c"]))
                    if not isinstance(cmd, c.CallAction):
                        raise codec.CodecError(f"{type(cmd).__name__} is not a call action")
                except (ValueError, KeyError, codec.CodecError) as exc:
                    log.error("bad command entry %s set aside: %s", last, exc)
                    try:
                        await self.store.dead_letter(key, last, fields, exc)
                    except (RedisError, OSError):
                        pass
                    continue
                if token != fence or token < self.highest_token:
                    log.warning("command from a deposed router (token %d, fence %d) refused", token, fence)
                    continue
                self.highest_token = token
                try:
                    await adapter.dispatch(cmd)
                except Exception:
                    log.exception("carrying out %s failed", cmd)
