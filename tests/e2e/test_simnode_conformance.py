"""The simulated Asterisk node (``bench/simnode``, the router-capacity benchmark's
stand-in, issue 32, R6) speaks the ARI the engine uses as Asterisk 22 does.

One scenario, run twice through a recording proxy between the engine and ARI: a
caller enters Stasis, the engine rings agent 1002, the agent answers, the two are
bridged, the caller hangs up. Once against the real sandbox instance, once against
the stand-in. The frames the engine received on its events websocket are compared by
type, and per type by every field path with its JSON type (``channel.caller.number:
str``, the nested objects' shapes included): a field the stand-in lacks, or has more,
fails. Not timed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bench.simnode import ami
from bench.simnode.ari import make_app
from bench.simnode.node import Node, Probe, Timing
from cti.asterisk.ari import EVENTS_USED
from tests.e2e.harness import Engine, Sandbox, free_port, wait_for
from tests.e2e.harness.ariproxy import AriProxy
from tests.e2e.harness.instance import HOST

COMPARED = frozenset((*EVENTS_USED, "RESTResponse"))
SECRET = "sim-not-a-secret"


def shape(value: Any, path: str = "") -> set[str]:
    """Every field path with its JSON type; list items merged under ``path[]``."""
    if isinstance(value, dict):
        out = {f"{path}:object"} if path else set()
        for key, item in value.items():
            out |= shape(item, f"{path}.{key}" if path else key)
        return out
    if isinstance(value, list):
        out = {f"{path}:list"}
        for item in value:
            out |= shape(item, f"{path}[]")
        return out
    kind = {bool: "bool", int: "int", float: "number", str: "str", type(None): "null"}.get(type(value), "?")
    return {f"{path}:{kind}"}


def by_type(frames: list[dict[str, Any]]) -> dict[str, set[str]]:
    shapes: dict[str, set[str]] = {}
    for frame in frames:
        kind = str(frame.get("type"))
        if kind in COMPARED:
            shapes.setdefault(kind, set()).update(shape(frame))
    return shapes


class StandIn:
    """One stand-in node on loopback, in a thread of its own."""

    def __init__(self) -> None:
        self.ari_port, self.ami_port = free_port(), free_port()
        self.node = Node("sim", "cti", frozenset({"1002"}), Timing(0.001, (0.5, 0.5), (3.0, 3.0)), Probe())
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the stand-in did not start"

    async def _run(self) -> None:
        runner = web.AppRunner(make_app(self.node, "cti", SECRET), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.ari_port).start()
        server = await ami.serve("127.0.0.1", self.ami_port, "cti", SECRET)
        self._ready.set()
        await self._stop.wait()
        server.close()
        await runner.cleanup()

    def call(self) -> None:
        self.loop.call_soon_threadsafe(self.node.caller, "13800138000", "100")

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def one_call(engine: Any, start_call: Any) -> None:
    start_call()
    wait_for(lambda: engine.agent("1002")["state"] == "on-call", 20, "agent 1002 on the call")
    wait_for(lambda: engine.agent("1002")["state"] == "ready", 30, "agent 1002 ready again after the hang-up")
    time.sleep(1.0)  # the last events (the leg's end) reach the proxy


def test_R6_stand_in_sends_the_events_real_asterisk_sends(sandbox: Sandbox, start_engine: Callable[..., Engine]) -> None:
    # The real sandbox instance.
    sandbox.agent("1002")
    real_proxy = AriProxy(f"http://{HOST}:8088")
    try:
        real_engine = start_engine(agents=["1002"], wrap_up_s=0.5, env={"CTI_ARI_URL": real_proxy.url})
        callers: list[Any] = []
        one_call(real_engine, lambda: callers.append(sandbox.call(talk_ms=3000)))
        assert callers[0].wait(30) == 0, callers[0].output()
        real_engine.stop()
    finally:
        real_proxy.close()
    # The stand-in, the same engine configuration but for where ARI and AMI are.
    stand_in = StandIn()
    sim_proxy = AriProxy(f"http://127.0.0.1:{stand_in.ari_port}")
    try:
        sim_engine = start_engine(agents=["1002"], wrap_up_s=0.5, env={
            "CTI_ARI_URL": sim_proxy.url, "CTI_ARI_PASSWORD": SECRET, "CTI_AMI_HOST": "127.0.0.1",
            "CTI_AMI_PORT": str(stand_in.ami_port), "CTI_AMI_SECRET": SECRET})
        one_call(sim_engine, stand_in.call)
        sim_engine.stop()
    finally:
        sim_proxy.close()
        stand_in.close()

    real, sim = by_type(real_proxy.events()), by_type(sim_proxy.events())
    for needed in ("StasisStart", "StasisEnd", "ChannelDestroyed", "RESTResponse"):
        assert needed in real, f"the real scenario sent no {needed}: {sorted(real)}"
    assert sorted(sim) == sorted(real), f"event types differ: stand-in {sorted(sim)}, Asterisk {sorted(real)}"
    diverging = {kind: {"missing in the stand-in": sorted(real[kind] - sim[kind]),
                        "only in the stand-in": sorted(sim[kind] - real[kind])}
                 for kind in real if real[kind] != sim[kind]}
    assert not diverging, f"the stand-in's events differ from Asterisk's: {diverging}"
