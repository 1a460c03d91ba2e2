"""The composition root: every object of the running engine is built here.

Start order: probe Asterisk (ARI, then AMI) and Redis, so a wrong address fails the
start at once; start the HTTP server (health answers from the first moment, as
standby); with Redis, wait for leadership, then rebuild the core by snapshot + replay.
Only the leader connects the Stasis app (a second websocket would take the app away
from the first). Then one TaskGroup owns the ARI websocket, the AMI connection, the
command runner, the timer and the lease keeper until a stop is asked for, or until
another router takes over (``Fenced``: this one stops acting at once).

Stopping: without Redis, callers still waiting are handed to the PBX's fallback queue.
With Redis they stay in Stasis for the standby or the restarted engine to continue,
and leadership is released so that a standby takes over without waiting for the lease.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from acd import AcdError, CallView, Engine
from acd import commands as c
from acd import events as e
from cti.agents import http as agents_http
from cti.agents.phone import Phones
from cti.calls import http as calls_http
from cti.asterisk.ami import AmiClient
from cti.desk import http as desk_http
from cti.desk.live import Live
from cti.auth import Auth
from cti.asterisk.ari import AriClient
from cti.calls.customers import require_amd
from cti.history.service import History
from cti.history import store as history_store
from cti.history.store import HistoryStore
from cti.calls.nodeloss import NodeLoss
from cti.calls.stasis import StasisAdapter, Submit
from cti.config import Config
from cti.durable.cluster import AdapterNode, Dispatcher, run_router_input
from cti.durable.journal import Leadership, RedisJournal
from cti.durable.outbox import Outbox, RedisOutbox, SqliteOutbox
from cti.durable import sessions
from cti.durable.sql import Database, StoreUnavailable
from cti.durable.store import RedisStore, connect as connect_redis
from cti.errors import AsteriskUnreachable, CtiError
from cti.health import ConnectionState
from cti.ivr.stasis import IvrRunner
from cti.masking import redact_url
from cti.lanes import Lanes
from cti.notify import Notifier
from cti.recording import http as recording_http
from cti.recording.recorder import Recorder
from cti.runtime import Runtime
from cti.supervision import http as supervision_http
from cti.supervision.services import Supervision
from cti.web import Instance, build_app
from cti.history import http as history_http
from cti.workorders import http as workorders_http
from cti.workorders.service import WorkOrders
from cti.workorders.store import SCHEMA, WorkOrderStore
from cti.workorders.visits import ReturnVisits

log = logging.getLogger("cti.app")
ARI_CONNECTIONS = 32
FEATURES = (agents_http.ROUTES, recording_http.ROUTES, supervision_http.ROUTES, workorders_http.ROUTES,
            desk_http.routes, history_http.ROUTES, calls_http.ROUTES)


async def serve(config: Config, stop: asyncio.Event | None = None) -> None:
    stop = stop or _stop_on_signals()
    ast = config.asterisk
    role = config.cluster.role
    deadlines = config.deadlines
    # Per host (an Asterisk's HTTP server) at most ARI_CONNECTIONS at once, well below its
    # sessionlimit; idle ones closed before Asterisk closes them (15 s), so that a request
    # never goes out on a connection the server is closing.
    connector = aiohttp.TCPConnector(limit_per_host=ARI_CONNECTIONS, keepalive_timeout=5.0)
    async with aiohttp.ClientSession(connector=connector) as session:
        instance = Instance(desk=config.desk)
        faults = instance.faults
        ari: AriClient | None = None
        ami: AmiClient | None = None
        if role != "router":  # a router never talks to Asterisk: adapters do
            ari = AriClient(session, ast.ari_url, ast.ari_user, ast.ari_password, ast.app,
                            deadlines.ari_request_s, faults)
            ami = AmiClient(ast.ami_host, ast.ami_port, ast.ami_user, ast.ami_secret,
                            deadlines.ami_action_s, deadlines.ami_ping_interval_s, faults)
            info = await ari.probe(ast.connect_timeout_s)
            await ami.probe(ast.connect_timeout_s)
            if any(t.detect_machines for t in config.trunks):
                await require_amd(ari)
            log.info("Asterisk %s reachable", (info.get("system") or {}).get("version", "?"))
            instance.connections += [ari.state, ami.state]
        redis_client: aioredis.Redis | None = None
        leadership: Leadership | None = None
        store: RedisStore | None = None
        if config.redis is not None:
            redis_client = connect_redis(config.redis, deadlines.redis_s)
            try:
                await redis_client.ping()
            except (RedisError, OSError) as exc:
                await redis_client.aclose()
                raise AsteriskUnreachable(f"cannot reach Redis at {redact_url(config.redis.where)}: {exc}") from None
            redis_state = ConnectionState("redis")
            redis_state.up()
            instance.connections.append(redis_state)
            store = RedisStore(redis_client, config.redis.prefix, config.redis.replicas_ack,
                               config.redis.replica_wait_ms)
            if role != "adapter":
                leadership = Leadership(store, config.redis.node_id, config.redis.lease_ms, redis_state)

        auth = Auth(config.auth, {a.agent.agent_id: a.pin_hash for a in config.agents if a.pin_hash},
                    {"admin": config.http.admin_token,
                     "reader": config.recording.reader_token if config.recording is not None else None})
        runner = web.AppRunner(build_app(instance, auth, FEATURES), access_log=None, shutdown_timeout=3.0)
        await runner.setup()
        site = web.TCPSite(runner, config.http.host, config.http.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise CtiError(f"cannot listen on {config.http.host}:{config.http.port}: {exc.strerror}") from None
        log.info("HTTP on %s:%d", config.http.host, config.http.port)
        try:
            if role == "adapter":
                assert ari is not None and ami is not None and store is not None
                await _adapt(config, instance, ari, ami, store, stop, auth)
            else:
                await _lead(config, instance, ari, ami, leadership, stop, session, auth)
        finally:
            if leadership is not None and instance.role == "leader":
                await leadership.release()
            await runner.cleanup()
            if redis_client is not None:
                await redis_client.aclose()
    log.info("engine stopped")


def _asterisk_node(config: Config, ari: AriClient, ami: AmiClient, submit: Submit,
                   calls: Callable[[], list[CallView]] | None, auth: Auth,
                   blocked: Callable[[str], bool] | None = None,
                   ask: Callable[[Any], bool] | None = None) -> StasisAdapter:
    """What runs beside one Asterisk node, the same alone or in a cluster: the ARI
    adapter, the IVR and the recorder, as configured, sharing the calls' lanes."""
    lanes = Lanes(config.deadlines.command_s, ari.faults)
    recorder = Recorder(config.recording, ami) if config.recording is not None else None
    ivr = IvrRunner(ari, submit, time.time, config.ivr, lanes) if config.ivr is not None else None
    endpoints = frozenset(entry.agent.endpoint for entry in config.agents)
    adapter = StasisAdapter(ari, submit, time.time, calls, ivr=ivr, recorder=recorder, lanes=lanes,
                            endpoints=endpoints, trunk=config.trunks[0] if config.trunks else None, blocked=blocked,
                            peers=dict(config.cluster.peers))
    # A phone's REFER names an agent by id or announced number, or a queue.
    adapter.transfers.agents = {**{x.agent.announced_number: x.agent.agent_id for x in config.agents},
                                **{x.agent.agent_id: x.agent.agent_id for x in config.agents}}
    adapter.transfers.queues = frozenset(q.name for q in config.queues)
    if ask is not None:
        adapter.transfers.ask = ask  # a refused REFER is declined to the phone

    async def pin_ok(agent_id: str, pin: str) -> bool:
        who = await auth.verify(f"agent:{agent_id}", pin)
        return who is not None and who.agent_id == agent_id

    adapter.listening.tone = config.desk.listen_tone
    adapter.phones = Phones(ari, ask or adapter.transfers.ask, time.time, adapter.then,
                            {x.agent.endpoint: x.agent.agent_id for x in config.agents}, pin_ok,
                            config.desk.pause_codes)
    adapter.hooks.insert(0, adapter.phones.on_event)
    return adapter


def _node_tasks(tg: asyncio.TaskGroup, ari: AriClient, ami: AmiClient, adapter: StasisAdapter,
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


async def _adapt(
    config: Config, instance: Instance, ari: AriClient, ami: AmiClient, store: RedisStore,
    stop: asyncio.Event, auth: Auth,
) -> None:
    """An adapter of one Asterisk node: ARI/AMI <-> the router's Redis streams; no decisions here."""
    redis_state = next(s for s in instance.connections if s.name == "redis")
    member = AdapterNode(store, config.cluster.node, redis_state)
    adapter = _asterisk_node(config, ari, ami, member.submit, None, auth)
    instance.role, instance.recorder = "adapter", adapter.recorder
    log.info("adapter for node %s running (app %s)", config.cluster.node, ari.app)
    async with asyncio.TaskGroup() as tg:
        tasks = _node_tasks(tg, ari, ami, adapter, config.cluster.node_gone_after_s) + [
            tg.create_task(member.run_publisher()),
            tg.create_task(member.run_commands(adapter)),
        ]
        await stop.wait()
        for task in tasks:
            task.cancel()


async def _lead(
    config: Config,
    instance: Instance,
    ari: AriClient | None,
    ami: AmiClient | None,
    leadership: Leadership | None,
    stop: asyncio.Event,
    session: aiohttp.ClientSession,
    auth: Auth,
) -> None:
    queues, agents = list(config.queues), [entry.agent for entry in config.agents]
    intake = config.intake()
    journal: RedisJournal | None = None
    if leadership is not None:
        if not await _leader_unless_stopped(leadership, stop):
            return
        started = time.monotonic()
        snapshot, replay = await leadership.store.load()
        engine = Engine(queues, agents, intake) if snapshot is None else Engine.restore(
            queues, agents, snapshot["state"], intake
        )
        for entry_id, event in replay:
            try:
                engine.handle(event)
            except AcdError:  # an agent request refused then is refused again: same state
                pass
            except Exception:  # a bug must not stop every restart: the rest still replays
                log.exception("replaying event %s (%s) failed", entry_id, type(event).__name__)
        fresh = snapshot is None and not replay
        last_id = replay[-1][0] if replay else (snapshot or {}).get("last_id")
        assert config.redis is not None
        journal = RedisJournal(leadership.store, leadership, config.redis.snapshot_every, last_id,
                               await leadership.store.appended_seq())
        log.info("state rebuilt from Redis in %.3f s (%d events replayed%s)",
                 time.monotonic() - started, len(replay), ", no snapshot" if snapshot is None else "")
    else:
        engine = Engine(queues, agents, intake)
        fresh = True

    runtime = Runtime(engine, time.time, journal)
    runtime.faults = instance.faults
    if leadership is not None and leadership.store.poisoned:
        log.error("%d journal entries did not decode and were set aside in %s",
                  leadership.store.poisoned, leadership.store.dead_key)
        instance.faults.counts[("poison", "redis journal")] = leadership.store.poisoned
    outbox: Outbox
    if leadership is not None:
        outbox = RedisOutbox(leadership.store.client, leadership.store.prefix)
    else:
        outbox = SqliteOutbox(config.notifications.outbox_path)
    plan_hook = config.supervision.plan_webhook_url
    notifier = Notifier(session, {
        "emergency": config.emergency.webhook_url,
        "callback-request": (config.ivr.callback_webhook_url if config.ivr is not None else None) or plan_hook,
        "standby-call-in": plan_hook, "PlanChanged": plan_hook, "PlanProposed": plan_hook,
    }, outbox, config.notifications, config.deadlines.webhook_s, full_numbers=frozenset(
        {"emergency"} | ({"callback-request"} if config.ivr is not None and config.ivr.callback_webhook_url else set())))
    runtime.notify = notifier.send
    db = Database(config.store.url, config.store.timeout_s, SCHEMA + sessions.SCHEMA + history_store.SCHEMA)
    try:
        await db.open()
        log.info("store open (%s); %d sessions kept", "PostgreSQL" if config.store.postgres else "SQLite",
                 await sessions.restore(auth, db))
    except (StoreUnavailable, OSError) as exc:
        await db.aclose()
        raise CtiError(f"cannot open the store ([store] url): {exc}") from None
    if config.store.postgres is False and leadership is not None:
        log.warning("the store is SQLite (%s): engines on other machines will not see its records; "
                    "use PostgreSQL ([store] url) there", config.store.sqlite_path)
    workorders = WorkOrders(config.workorders, WorkOrderStore(db), notifier)
    runtime.observers.append(workorders.observe)
    await workorders.start()
    history = History(HistoryStore(db, config.supervision.sl_threshold_s), timezone=config.timezone,
                      keep_months=config.workorders.retention_months)  # R13: the record
    runtime.observers.append(history.observe)
    history.seed([(a.agent_id, a.state, a.reason, a.since) for a in engine.agents() if a.since > 0])
    visits = ReturnVisits(config.return_visits, workorders.store, runtime)
    runtime.observers.append(visits.observe)
    await visits.start()
    live = Live(lambda who: desk_http.wallboard_figures(instance, who))
    live.agent_of = lambda call_id: next((k.agent_id for k in engine.calls() if k.call_id == call_id), None)
    runtime.observers.append(live.observe)
    workorders.listeners.append(live.order)
    instance.workorders, instance.live, instance.visits, instance.history = workorders, live, visits, history
    instance.trunk = config.trunks[0] if config.trunks else None
    adapter: StasisAdapter | None = None
    dispatcher: Dispatcher | None = None
    if ari is not None and ami is not None:
        adapter = _asterisk_node(config, ari, ami, runtime.submit, engine.calls, auth, visits.blocked,
                                 runtime.accepted)
        runtime.executor = adapter.dispatch
        instance.recorder, instance.adapter = adapter.recorder, adapter
    else:  # router of several nodes: call actions go to the adapters' streams
        assert leadership is not None
        dispatcher = Dispatcher(leadership.store, leadership, engine)
        runtime.executor = dispatcher.execute
    recorder = instance.recorder
    supervision = Supervision(config.supervision, runtime, instance.connections, notifier,
                              (lambda: recorder.coverage) if recorder is not None else None,
                              (lambda: recorder.maintenance_errors) if recorder is not None else None,
                              instance.faults)
    instance.supervision = supervision
    try:
        await history.restore(supervision.book)  # R13: today's figures go on after a restart
    except StoreUnavailable as exc:
        log.error("R13: the live windows start empty: the store is away (%s)", exc)
    supervision.workorders_overdue = lambda: workorders.overdue
    supervision.campaigns = lambda: visits.progress
    if fresh:
        for entry in config.agents:
            if entry.login_at_start:
                runtime.apply(e.AgentLoggedIn(entry.agent.agent_id, time.time()))
    runtime.apply(e.Tick(time.time(), resumed=True))  # what fell due while no router ran
    instance.runtime, instance.role = runtime, "leader"
    log.info("engine running as leader")

    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(runtime.run_commands()),
                tg.create_task(runtime.run_timers()),
                tg.create_task(notifier.run()),
                tg.create_task(supervision.run()),
                tg.create_task(workorders.run()),
                tg.create_task(visits.run()),
                tg.create_task(live.run()),
                tg.create_task(sessions.keep(auth, db)),
                tg.create_task(history.run()),
            ]
            if ari is not None and ami is not None and adapter is not None:
                tasks += _node_tasks(tg, ari, ami, adapter)
            if dispatcher is not None and leadership is not None:
                tasks.append(tg.create_task(
                    run_router_input(leadership.store, runtime, dispatcher, leadership.store.last_input)
                ))
            if leadership is not None:
                tasks.append(tg.create_task(leadership.keep()))
            await stop.wait()
            if leadership is None and adapter is not None:
                log.info("stopping: handing waiting callers to the fallback queue")
                await _hand_over(engine, adapter)
            else:
                log.info("stopping: calls stay in Stasis for the next leader")
            for task in tasks:
                task.cancel()
            await history.stop()
    finally:
        live.close_all()
        await db.aclose()
        if isinstance(outbox, SqliteOutbox):
            await outbox.aclose()


async def _leader_unless_stopped(leadership: Leadership, stop: asyncio.Event) -> bool:
    """Wait as a standby until this router leads (True) or a stop is asked for (False)."""
    async with asyncio.TaskGroup() as tg:
        waiting = tg.create_task(leadership.acquire())
        stopping = tg.create_task(stop.wait())
        await asyncio.wait([waiting, stopping], return_when=asyncio.FIRST_COMPLETED)
        (stopping if waiting.done() else waiting).cancel()
    return not waiting.cancelled()


async def _hand_over(engine: Engine, adapter: StasisAdapter, within_s: float = 3.0) -> None:
    """Callers not yet connected go back to the dialplan's fallback Queue(), all at
    once and within ``within_s`` whatever state Asterisk is in (a stop never hangs)."""
    async def hand(call: CallView) -> None:
        for agent_id in call.offered_to:
            await adapter.execute(c.CancelOffer(call.call_id, agent_id, "engine-stopping"))
        if call.state != "connected":
            await adapter.execute(c.RouteToFallback(call.call_id, "engine stopping"))

    try:
        async with asyncio.timeout(within_s):
            await asyncio.gather(*(hand(call) for call in engine.calls()), return_exceptions=True)
    except TimeoutError:
        log.error("handing callers to the fallback queue did not finish within %g s", within_s)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
