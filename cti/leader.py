"""The router that leads: it rebuilds the core (snapshot + replay from Redis, or fresh),
opens the store and the outbox, builds the features that follow the core (work orders,
the record, return visits, the live pages, supervision) and the way call actions reach
Asterisk (the node's adapter in this process, or the adapters' streams), then runs them
all in one TaskGroup until a stop is asked for.

Resources are entered in order on one exit stack and closed in reverse: the outbox
and the store first, then each feature through its own ``setup(app, deps)`` (an async
context manager in its folder's ``http.py``, in the manner of aiohttp's cleanup
contexts: it builds the feature from typed dependencies, makes it follow the core and
serves it in its ``Part``; on the way out it stops serving and closes what it holds),
the node's adapter and recorder, and last the runtime. They close in reverse: requests
get 503 ``not-routing`` while the record writes what ended last, the live streams
close, and the store and the outbox close on their worker threads (never joined on
the loop). aiohttp's own ``cleanup_ctx`` is not used because the HTTP app starts as a
standby's, long before (and whether or not) this engine leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import aiohttp
from aiohttp import web

from acd import AcdError, CallView, Engine
from acd import commands as c
from acd import events as e
from cti.asterisk.ami import AmiClient
from cti.asterisk.ari import AriClient
from cti.calls.stasis import StasisAdapter
from cti.cluster.streams import Dispatcher, run_router_input
from cti.config import Config
from cti.customers import http as customers_http
from cti.customers.store import SCHEMA as CUSTOMERS_SCHEMA
from cti.desk import http as desk_http
from cti.errors import CtiError
from cti.health import Faults
from cti.journal.leadership import Leadership, RedisJournal
from cti.node import asterisk_node, node_tasks
from cti.node import setup as node_setup
from cti.notify import Notifier
from cti.orders import http as orders_http
from cti.orders.store import SCHEMA
from cti.quality import http as quality_http
from cti.quality.store import SCHEMA as QUALITY_SCHEMA
from cti.knowledge import http as knowledge_http
from cti.knowledge.store import SCHEMA as KNOWLEDGE_SCHEMA
from cti.recording.http import legal_holds, player
from cti.outbound import http as outbound_http
from cti.reports import http as reports_http
from cti.reports import store as history_store
from cti.runtime import Runtime
from cti.store.outbox import Outbox, RedisOutbox, SqliteOutbox
from cti.store.sql import Database, StoreUnavailable
from cti.supervision import http as supervision_http
from cti.supervision.wallboard import wallboard_figures
from cti.web import sessions
from cti.web.auth import Auth
from cti.web.server import ROLE, RUNTIME, serving

log = logging.getLogger("cti.app")


async def lead(config: Config, app: web.Application, faults: Faults, ari: AriClient | None, ami: AmiClient | None,
               leadership: Leadership | None, stop: asyncio.Event, session: aiohttp.ClientSession,
               auth: Auth) -> None:
    if leadership is not None and not await leader_unless_stopped(leadership, stop):
        return
    engine, journal, fresh = await rebuild(config, leadership, faults)
    async with contextlib.AsyncExitStack() as resources:
        outbox = await _outbox(config, leadership, resources)
        notifier = _notifier(config, session, outbox)
        db = await open_store(config, auth, leadership is not None, resources)
        await _run(config, app, faults, engine, journal, fresh, notifier, db, ari, ami, leadership, stop, auth,
                   resources)


async def rebuild(config: Config, leadership: Leadership | None,
                  faults: Faults) -> tuple[Engine, RedisJournal | None, bool]:
    """The core as the last leader left it (snapshot + replay), or fresh without Redis;
    and whether it is fresh (nothing to rebuild from)."""
    queues, agents = list(config.queues), [entry.agent for entry in config.agents]
    intake = config.intake()
    if leadership is None:
        return Engine(queues, agents, intake), None, True
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
    last_id = replay[-1][0] if replay else (snapshot or {}).get("last_id")
    assert config.redis is not None
    journal = RedisJournal(leadership.store, leadership, config.redis.snapshot_every, last_id,
                           await leadership.store.appended_seq())
    log.info("state rebuilt from Redis in %.3f s (%d events replayed%s)",
             time.monotonic() - started, len(replay), ", no snapshot" if snapshot is None else "")
    if leadership.store.poisoned:
        log.error("%d journal entries did not decode and were set aside in %s",
                  leadership.store.poisoned, leadership.store.dead_key)
        faults.counts[("poison", "redis journal")] = leadership.store.poisoned
    return engine, journal, snapshot is None and not replay


async def _outbox(config: Config, leadership: Leadership | None, resources: contextlib.AsyncExitStack) -> Outbox:
    if leadership is not None:
        return RedisOutbox(leadership.store.client, leadership.store.prefix)
    outbox = SqliteOutbox(config.notifications.outbox_path)
    resources.push_async_callback(outbox.aclose)
    return outbox


def _notifier(config: Config, session: aiohttp.ClientSession, outbox: Outbox) -> Notifier:
    plan_hook = config.supervision.plan_webhook_url
    return Notifier(session, {
        "emergency": config.emergency.webhook_url,
        "callback-request": (config.ivr.callback_webhook_url if config.ivr is not None else None) or plan_hook,
        "standby-call-in": plan_hook, "PlanChanged": plan_hook, "PlanProposed": plan_hook,
    }, outbox, config.notifications, config.deadlines.webhook_s, full_numbers=frozenset(
        {"emergency"} | ({"callback-request"} if config.ivr is not None and config.ivr.callback_webhook_url else set())))


def database(config: Config) -> Database:
    """The one SQL store (sessions, work orders, the record), as the engine and the CLI use it."""
    return Database(config.store.url, config.store.timeout_s, SCHEMA + sessions.SCHEMA + history_store.SCHEMA + QUALITY_SCHEMA
                    + KNOWLEDGE_SCHEMA + CUSTOMERS_SCHEMA,
                    config.store.read_timeout_s)


async def open_store(config: Config, auth: Auth, clustered: bool, resources: contextlib.AsyncExitStack) -> Database:
    """The store, open (or the start fails), with the sessions it kept."""
    db = database(config)
    resources.push_async_callback(db.aclose)
    try:
        await db.open()
        log.info("store open (%s); %d sessions kept", "PostgreSQL" if config.store.postgres else "SQLite",
                 await sessions.restore(auth, db))
    except (StoreUnavailable, OSError) as exc:
        raise CtiError(f"cannot open the store ([store] url): {exc}") from None
    if config.store.postgres is False and clustered:
        log.warning("the store is SQLite (%s): engines on other machines will not see its records; "
                    "use PostgreSQL ([store] url) there", config.store.sqlite_path)
    return db


async def _run(config: Config, app: web.Application, faults: Faults, engine: Engine, journal: RedisJournal | None,
               fresh: bool, notifier: Notifier, db: Database, ari: AriClient | None, ami: AmiClient | None,
               leadership: Leadership | None, stop: asyncio.Event, auth: Auth,
               resources: contextlib.AsyncExitStack) -> None:
    node: StasisAdapter | None = None

    async def on_node(cmd: c.CallAction) -> None:  # the node's adapter, built below: it needs the runtime too
        assert node is not None
        await node.dispatch(cmd)

    dispatcher = Dispatcher(leadership.store, leadership, engine) if ari is None and leadership is not None else None
    runtime = Runtime(engine, time.time, journal, executor=dispatcher.execute if dispatcher else on_node,
                      notify=notifier.send, faults=faults)
    # The features, each started by its ``setup`` on the exit stack (in this order;
    # stopped in reverse, before the store and the outbox close).
    live = await resources.enter_async_context(desk_http.setup(app, desk_http.LiveDeps(
        lambda who: wallboard_figures(app, who), agent_of=lambda call_id: next(
            (k.agent_id for k in engine.calls() if k.call_id == call_id), None), runtime=runtime,
        streams_per_identity=config.desk.streams_per_identity)))
    hold, release = legal_holds(app)  # R16: a complaint's recordings held while it is open (the recorder, below)
    customers = await resources.enter_async_context(customers_http.setup(app, customers_http.CustomersDeps(
        db, config.workorders.retention_months, lambda *a: visits.set_blocked(*a))))  # R19 (visits: below)
    orders = await resources.enter_async_context(orders_http.setup(app, orders_http.OrdersDeps(
        config.workorders, db, notifier, runtime, listeners=(live.order,), hold=hold, release=release,
        recorded=(customers.remember,))))
    history = await resources.enter_async_context(reports_http.setup(app, reports_http.ReportsDeps(
        db, config.supervision.sl_threshold_s, config.timezone, config.workorders.retention_months, runtime)))
    visits = await resources.enter_async_context(outbound_http.setup(app, outbound_http.OutboundDeps(
        config.return_visits, orders.store, runtime)))
    if ari is not None and ami is not None:
        node = await resources.enter_async_context(node_setup(app, asterisk_node(
            config, ari, ami, runtime.submit, engine.calls, auth, visits.blocked, runtime.accepted)))
    recorder = node.recorder if node is not None else None
    if recorder is not None:  # R13: the fallback queue's calls (no engine led) in the reports too
        recorder.fallback.report_to(history.add)
    supervision = await resources.enter_async_context(supervision_http.setup(app, supervision_http.SupervisionDeps(
        config.supervision, runtime, notifier, faults,
        (lambda: recorder.coverage) if recorder is not None else None,
        (lambda: recorder.maintenance_errors) if recorder is not None else None,
        workorders_overdue=lambda: orders.overdue, workorders_late_on_site=lambda: orders.late_on_site,
        campaigns=lambda: visits.progress,
        complaints_escalated=(lambda: book.escalated) if (book := orders.complaints) is not None else None)))
    quality = await resources.enter_async_context(quality_http.setup(app, quality_http.QualityDeps(
        config.quality, db, config.timezone, player(app))))  # R18: its sampling in the loop below
    await resources.enter_async_context(knowledge_http.setup(app, knowledge_http.KnowledgeDeps(
        db, orders.get, config.timezone)))  # R19: the knowledge base (cases from closed orders)
    try:
        await history.restore(supervision.book)  # R13: today's figures go on after a restart
    except StoreUnavailable as exc:
        log.error("R13: the live windows start empty: the store is away (%s)", exc)
    if fresh:
        for entry in config.agents:
            if entry.login_at_start:
                runtime.apply(e.AgentLoggedIn(entry.agent.agent_id, time.time()))
    runtime.apply(e.Tick(time.time(), resumed=True))  # what fell due while no router ran
    await resources.enter_async_context(serving(app, RUNTIME, runtime))
    app[ROLE].become("leader")
    log.info("engine running as leader")

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(work) for work in (
            runtime.run_commands(), runtime.run_timers(), notifier.run(), supervision.run(), orders.run(),
            visits.run(), live.run(), sessions.keep(auth, db), history.run(), quality.run(),
            customers.run())]
        if ari is not None and ami is not None and node is not None:
            tasks += node_tasks(tg, ari, ami, node)
        if dispatcher is not None and leadership is not None:
            tasks.append(tg.create_task(
                run_router_input(leadership.store, runtime, dispatcher, leadership.store.last_input)))
        if leadership is not None:
            tasks.append(tg.create_task(leadership.keep()))
        await stop.wait()
        if leadership is None and node is not None:
            log.info("stopping: handing waiting callers to the fallback queue")
            await hand_over(engine, node)
        else:
            log.info("stopping: calls stay in Stasis for the next leader")
        for task in tasks:
            task.cancel()


async def leader_unless_stopped(leadership: Leadership, stop: asyncio.Event) -> bool:
    """Wait as a standby until this router leads (True) or a stop is asked for (False)."""
    async with asyncio.TaskGroup() as tg:
        waiting = tg.create_task(leadership.acquire())
        stopping = tg.create_task(stop.wait())
        await asyncio.wait([waiting, stopping], return_when=asyncio.FIRST_COMPLETED)
        (stopping if waiting.done() else waiting).cancel()
    return not waiting.cancelled()


async def hand_over(engine: Engine, adapter: StasisAdapter, within_s: float = 3.0) -> None:
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
