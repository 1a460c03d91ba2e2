"""The composition root: every object of the running engine is built here.

Start order: probe Asterisk (ARI, then AMI) so a wrong address fails the start at once;
build the core and the adapter; start the HTTP server; then one TaskGroup owns the
ARI websocket, the AMI connection, the command runner and the timer until a stop is
asked for. Stop order is the reverse; callers still waiting are handed to the PBX's
fallback queue, so stopping the engine loses no caller.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time

import aiohttp
from aiohttp import web

from acd import Engine
from acd import commands as c
from acd import events as e
from cti.ami import AmiClient
from cti.ari import AriClient
from cti.config import Config
from cti.errors import CtiError
from cti.http import build_app
from cti.runtime import Runtime
from cti.stasis import StasisAdapter

log = logging.getLogger("cti.app")


async def serve(config: Config, stop: asyncio.Event | None = None) -> None:
    stop = stop or _stop_on_signals()
    ast = config.asterisk
    async with aiohttp.ClientSession() as session:
        ari = AriClient(session, ast.ari_url, ast.ari_user, ast.ari_password, ast.app)
        ami = AmiClient(ast.ami_host, ast.ami_port, ast.ami_user, ast.ami_secret)
        info = await ari.probe(ast.connect_timeout_s)
        await ami.probe(ast.connect_timeout_s)
        log.info("Asterisk %s reachable", (info.get("system") or {}).get("version", "?"))

        engine = Engine(list(config.queues), [entry.agent for entry in config.agents])
        runtime = Runtime(engine, time.time)
        adapter = StasisAdapter(ari, runtime.submit, time.time, config.routes, config.default_queue)
        runtime.executor = adapter.execute
        for entry in config.agents:
            if entry.login_at_start:
                runtime.apply(e.AgentLoggedIn(entry.agent.agent_id, time.time()))

        runner = web.AppRunner(build_app(runtime, [ari.state, ami.state]), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, config.http.host, config.http.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise CtiError(f"cannot listen on {config.http.host}:{config.http.port}: {exc.strerror}") from None
        log.info("engine running; HTTP on %s:%d", config.http.host, config.http.port)
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(ari.run_events(adapter.on_event, adapter.resync)),
                    tg.create_task(ami.run()),
                    tg.create_task(runtime.run_commands()),
                    tg.create_task(runtime.run_timers()),
                ]
                await stop.wait()
                log.info("stopping: handing waiting callers to the fallback queue")
                await _hand_over(engine, adapter)
                for task in tasks:
                    task.cancel()
        finally:
            await runner.cleanup()
    log.info("engine stopped")


async def _hand_over(engine: Engine, adapter: StasisAdapter) -> None:
    """Callers not yet connected go back to the dialplan's fallback Queue()."""
    for call in engine.calls():
        if call.state == "offered" and call.agent_id is not None:
            await adapter.execute(c.CancelOffer(call.call_id, call.agent_id, "engine-stopping"))
        if call.state != "connected":
            await adapter.execute(c.RouteToFallback(call.call_id, "engine stopping"))


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
