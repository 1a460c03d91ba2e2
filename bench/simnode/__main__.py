"""Run simulated nodes in this process: ``python -m bench.simnode --nodes 10 --agents 2000``.

Node i (0-based) serves ARI on 127.0.2.(i+1):8088 and AMI on 127.0.2.(i+1):5038; its
agents are ``s<i>a<k>`` (endpoint ``PJSIP/agents<i>a<k>``). It prints one JSON line when
the nodes listen, waits for a line on stdin (the engines are up), then makes callers at
each rate of ``--rates`` for ``--step-s`` seconds, round-robin over the nodes, and
prints one JSON line of figures per step. It ends after the last step (bounded)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

from aiohttp import web

from bench.simnode import ami
from bench.simnode.ari import make_app
from bench.simnode.node import Node, Probe, Timing

USER, SECRET = "cti", "sim-not-a-secret"


def host(i: int) -> str:
    return f"127.0.2.{i + 1}"


def agent_ids(nodes: int, agents: int) -> list[list[str]]:
    return [[f"s{i}a{k}" for k in range(agents // nodes)] for i in range(nodes)]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


async def lag_probe(lags: list[float], stop: asyncio.Event) -> None:
    """How late this process's loop wakes (the stand-in must not be the bottleneck)."""
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(0.05)
        if len(lags) < 100_000:
            lags.append(time.perf_counter() - t - 0.05)


async def main(args: argparse.Namespace) -> None:
    timing = Timing(args.latency_ms / 1000, (args.answer_min_s, args.answer_max_s), (args.talk_min_s, args.talk_max_s))
    probe = Probe()
    nodes = [Node(f"n{i}", "cti", frozenset(ids), timing, probe, seed=i)
             for i, ids in enumerate(agent_ids(args.nodes, args.agents))]
    runners: list[web.AppRunner] = []
    servers: list[asyncio.Server] = []
    for i, node in enumerate(nodes):
        runner = web.AppRunner(make_app(node, USER, SECRET), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host(i), args.ari_port).start()
        runners.append(runner)
        servers.append(await ami.serve(host(i), args.ami_port, USER, SECRET))
    print(json.dumps({"ready": True, "nodes": args.nodes}), flush=True)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(args.wait_go_s):
            await loop.run_in_executor(None, sys.stdin.readline)
        stop = asyncio.Event()
        lags: list[float] = []
        prober = asyncio.create_task(lag_probe(lags, stop))
        n = 0
        for rate in [float(r) for r in args.rates.split(",")]:
            probe.decisions.clear()
            lags.clear()
            before, cpu0, t0 = dict(probe.counts), cpu_s(), time.monotonic()
            end, k = t0 + args.step_s, 0
            while (now := time.monotonic()) < end:
                due = t0 + k / rate
                if due > now:
                    await asyncio.sleep(due - now)
                nodes[n % len(nodes)].caller(f"1380000{n % 10000:04d}", "8000")
                n, k = n + 1, k + 1
            took = time.monotonic() - t0
            decisions = [d * 1000 for d in probe.decisions]
            delta = {key: probe.counts.get(key, 0) - before.get(key, 0) for key in probe.counts}
            out: dict[str, Any] = {
                "rate": rate, "seconds": round(took, 1), **delta,
                "decision_p50_ms": round(pct(decisions, 0.5), 1), "decision_p99_ms": round(pct(decisions, 0.99), 1),
                "decision_max_ms": round(max(decisions, default=float("nan")), 1),
                "waiting": len(probe.queued), "sim_cpu": round((cpu_s() - cpu0) / took, 2),
                "sim_lag_p99_ms": round(pct(lags, 0.99) * 1000, 1),
            }
            print(json.dumps(out), flush=True)
        stop.set()
        await prober
    finally:
        for server in servers:
            server.close()
        for runner in runners:
            await runner.cleanup()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.simnode", description=__doc__)
    p.add_argument("--nodes", type=int, default=10)
    p.add_argument("--agents", type=int, default=2000, help="in all, spread evenly over the nodes")
    p.add_argument("--rates", default="50", help="callers per second, one step each: 25,50,100")
    p.add_argument("--step-s", type=float, default=60.0)
    p.add_argument("--latency-ms", type=float, default=1.0, help="added to every REST answer")
    p.add_argument("--answer-min-s", type=float, default=0.5)
    p.add_argument("--answer-max-s", type=float, default=2.0)
    p.add_argument("--talk-min-s", type=float, default=20.0)
    p.add_argument("--talk-max-s", type=float, default=60.0)
    p.add_argument("--ari-port", type=int, default=8088)
    p.add_argument("--ami-port", type=int, default=5038)
    p.add_argument("--wait-go-s", type=float, default=600.0)
    return p.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
