"""What runs beside one Asterisk node, the same alone or in a cluster: the ARI adapter,
the IVR and the recorder, as configured, sharing the calls' lanes; and an adapter of a
cluster, which feeds the router's Redis streams and decides nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from acd import CallView
from acd import events as e
from cti.agents.phone import Phones
from cti.asterisk.ami import AmiClient
from cti.asterisk.ari import AriClient
from cti.web.auth import Auth
from cti.calls.http import ADAPTER
from cti.calls.nodeloss import NodeLoss
from cti.calls.stasis import StasisAdapter, Submit
from cti.calls.listening import Listening
from cti.calls.transfers import Directory
from cti.config import Config
from cti.cluster.streams import AdapterNode
from cti.journal.store import RedisStore
from cti.health import ConnectionState
from cti.ivr.stasis import IvrRunner
from cti.lanes import Lanes
from cti.recording.http import RECORDER
from cti.audit import open_log
from cti.recording.recorder import Recorder
from cti.web.server import ROLE, serving

log = logging.getLogger("cti.app")


def asterisk_node(config: Config, ari: AriClient, ami: AmiClient, submit: Submit,
                  calls: Callable[[], list[CallView]] | None, auth: Auth,
                  blocked: Callable[[str], bool] | None = None,
                  ask: Callable[[e.Event], bool] | None = None) -> StasisAdapter:
    lanes = Lanes(config.deadlines.command_s, ari.faults)
    recorder = Recorder(config.recording, ari, open_log(config.audit)) if config.recording is not None else None
    ivr = IvrRunner(ari, submit, time.time, config.ivr, lanes) if config.ivr is not None else None

    async def pin_ok(agent_id: str, pin: str) -> bool:
        who = await auth.verify(f"agent:{agent_id}", pin)
        return who is not None and who.agent_id == agent_id

    # A phone's REFER names an agent by id or announced number, or a queue; a refused
    # one is declined to the phone (``ask``).
    directory = Directory({**{x.agent.announced_number: x.agent.agent_id for x in config.agents},
                           **{x.agent.agent_id: x.agent.agent_id for x in config.agents}},
                          frozenset(q.name for q in config.queues), ask)

    def handed(event: e.Event) -> bool:  # a router elsewhere decides
        submit(event)
        return True

    phones = Phones(ari, ask or handed, time.time, lanes.put, {x.agent.endpoint: x.agent.agent_id for x in config.agents},
                    pin_ok, config.desk.pause_codes)
    return StasisAdapter(ari, submit, time.time, calls, ivr=ivr, recorder=recorder, lanes=lanes,
                         endpoints=frozenset(entry.agent.endpoint for entry in config.agents),
                         trunk=config.trunks[0] if config.trunks else None, blocked=blocked,
                         peers=dict(config.cluster.peers), directory=directory,
                         listening=Listening(ari, lanes.put, config.desk.listen_tone), phones=phones)


@contextlib.asynccontextmanager
async def setup(app: web.Application, node: StasisAdapter, serve_adapter: bool = True) -> AsyncIterator[StasisAdapter]:
    """The node's parts served while it runs: its adapter (listening and holds on the
    wire, from a leader with the node in its process) and its recorder."""
    async with contextlib.AsyncExitStack() as parts:
        if serve_adapter:
            await parts.enter_async_context(serving(app, ADAPTER, node))
        if node.recorder is not None:
            await parts.enter_async_context(serving(app, RECORDER, node.recorder))
        yield node


def node_tasks(tg: asyncio.TaskGroup, ari: AriClient, ami: AmiClient, adapter: StasisAdapter,
               gone_after_s: float | None = None) -> list[asyncio.Task[None]]:
    watch = NodeLoss(adapter, gone_after_s) if gone_after_s is not None else None  # (a cluster adapter's)
    tasks = [
        tg.create_task(ari.run_events(adapter.on_event, watch.connected if watch else adapter.resync,
                                      on_lost=watch.lost if watch else None)),
        tg.create_task(ami.run()),
        tg.create_task(adapter.run()),
    ]
    if adapter.recorder is not None:
        tasks.append(tg.create_task(adapter.recorder.run()))
    if adapter.ivr is not None:
        tasks.append(tg.create_task(adapter.ivr.run()))
    return tasks


async def adapt(config: Config, app: web.Application, redis_state: ConnectionState, ari: AriClient, ami: AmiClient,
                store: RedisStore, stop: asyncio.Event, auth: Auth) -> None:
    """An adapter of one Asterisk node: ARI/AMI <-> the router's Redis streams; no decisions here."""
    member = AdapterNode(store, config.cluster.node, redis_state)
    adapter = asterisk_node(config, ari, ami, member.submit, None, auth)
    app[ROLE].become("adapter")
    log.info("adapter for node %s running (app %s)", config.cluster.node, ari.app)
    async with setup(app, adapter, serve_adapter=False), asyncio.TaskGroup() as tg:
        tasks = node_tasks(tg, ari, ami, adapter, config.cluster.node_gone_after_s) + [
            tg.create_task(member.run_publisher()),
            tg.create_task(member.run_commands(adapter)),
        ]
        await stop.wait()
        for task in tasks:
            task.cancel()
