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

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from cti import audit
from cti.agents import http as agents_http
from cti.asterisk.ami import AmiClient
from cti.asterisk.ari import AriClient
from cti.web.auth import Auth
from cti.calls import http as calls_http
from cti.outbound.customers import require_amd
from cti.config import Config
from cti.customers import http as customers_http
from cti.desk import http as desk_http
from cti.journal.leadership import Leadership
from cti.journal.store import RedisStore, connect as connect_redis
from cti.errors import AsteriskUnreachable, CtiError
from cti.health import ConnectionState, Faults
from cti.reports import http as history_http
from cti.leader import lead
from cti.masking import redact_url
from cti.node import adapt
from cti.recording import http as recording_http
from cti.supervision import http as supervision_http
from cti.supervision import wallboard
from cti.web.server import ROLE, build_app
from cti.orders import http as orders_http
from cti.orders import tracking_http
from cti.outbound import http as outbound_http
from cti.quality import http as quality_http
from cti.knowledge import http as knowledge_http

log = logging.getLogger("cti.app")
ARI_CONNECTIONS = 32
FEATURES = (agents_http.FEATURE, recording_http.FEATURE, supervision_http.FEATURE, orders_http.FEATURE,
            outbound_http.FEATURE, desk_http.FEATURE, history_http.FEATURE, calls_http.FEATURE, wallboard.FEATURE,
            quality_http.FEATURE, tracking_http.FEATURE, knowledge_http.FEATURE, customers_http.FEATURE)


def http_app(config: Config, auth: Auth, connections: list[ConnectionState]) -> web.Application:
    """The HTTP API with every feature; the parts that run only on the leader (or only
    on a node's adapter) are started into it when they run."""
    app = build_app(auth, FEATURES, connections, config.locale)
    app[desk_http.DESK] = config.desk
    if config.trunks:
        app[calls_http.TRUNK].start(config.trunks[0])
    return app


async def serve(config: Config, stop: asyncio.Event | None = None) -> None:
    """The engine until ``stop``; every access to customers' data is written to the one
    keyed audit log (``cti.audit``) meanwhile."""
    with audit.trail(audit.open_log(config.audit)):
        await _serve(config, stop or _stop_on_signals())


async def _serve(config: Config, stop: asyncio.Event) -> None:
    ast = config.asterisk
    role = config.cluster.role
    deadlines = config.deadlines
    faults = Faults()
    connections: list[ConnectionState] = []
    # Per host (an Asterisk's HTTP server) at most ARI_CONNECTIONS at once, well below its
    # sessionlimit; idle ones closed before Asterisk closes them (15 s), so that a request
    # never goes out on a connection the server is closing.
    connector = aiohttp.TCPConnector(limit_per_host=ARI_CONNECTIONS, keepalive_timeout=5.0)
    async with aiohttp.ClientSession(connector=connector) as session:
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
            connections += [ari.state, ami.state]
        redis_client: aioredis.Redis | None = None
        leadership: Leadership | None = None
        store: RedisStore | None = None
        redis_state = ConnectionState("redis")
        if config.redis is not None:
            redis_client = connect_redis(config.redis, deadlines.redis_s)
            try:
                await redis_client.ping()
            except (RedisError, OSError) as exc:
                await redis_client.aclose()
                raise AsteriskUnreachable(f"cannot reach Redis at {redact_url(config.redis.where)}: {exc}") from None
            redis_state.up()
            connections.append(redis_state)
            store = RedisStore(redis_client, config.redis.prefix, config.redis.replicas_ack,
                               config.redis.replica_wait_ms)
            if role != "adapter":
                leadership = Leadership(store, config.redis.node_id, config.redis.lease_ms, redis_state)

        auth = Auth(config.auth, {a.agent.agent_id: a.pin_hash for a in config.agents if a.pin_hash},
                    {"admin": config.http.admin_token,
                     "reader": config.recording.reader_token if config.recording is not None else None})
        app = http_app(config, auth, connections)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=3.0)
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
                await adapt(config, app, redis_state, ari, ami, store, stop, auth)
            else:
                await lead(config, app, faults, ari, ami, leadership, stop, session, auth)
        finally:
            if leadership is not None and app[ROLE].name == "leader":
                await leadership.release()
            await runner.cleanup()
            if redis_client is not None:
                await redis_client.aclose()
    log.info("engine stopped")


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
