"""Routing decision latency of the pure core at 1k, 10k and 100k agents / waiting calls.

Not a test: run `python bench/routing_bench.py` (figures go to docs/BENCHMARKS.md).

Three decisions, each timed around one ``Engine.handle`` call with
``time.perf_counter_ns`` (setup and bookkeeping events are not timed):

- arrival: a call arrives while N agents are ready (the index picks one);
- agent-ready: an agent becomes ready while N calls wait (the index picks the best);
- hang-up at scale: one of 10k busy agents hangs up while 100k calls wait: it finishes
  the call and takes the best waiting call (the hot path of a busy center).

Agents have one of 20 skill profiles; calls one of 10 requirements and priorities
0..3. The baseline in the same run is a naive linear scan over the same waiting calls
(what a design without indexes does per decision), to show how cost grows.
"""

from __future__ import annotations

import gc
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from acd import AgentConfig, Engine, QueueConfig  # noqa: E402
from acd import commands as c  # noqa: E402
from acd import events as e  # noqa: E402
from acd.routing import satisfies  # noqa: E402

SKILLS = ["billing", "gas", "water", "repair", "complaint"]
PROFILES = [tuple(sorted({s: (i + j) % 5 + 1 for j, s in enumerate(SKILLS) if (i >> j) & 1 or j == i % 5}.items()))
            for i in range(20)]
REQUIREMENTS = [((SKILLS[i % 5], 1 + i // 5),) for i in range(10)]
SAMPLES = 2000


def make_engine(n_agents: int) -> Engine:
    queue = QueueConfig("q", wrap_up_s=0, announce_agent_id=False, ring_cycle_s=1e9)
    agents = [AgentConfig(f"a{i}", f"PJSIP/a{i}", ("q",), PROFILES[i % 20]) for i in range(n_agents)]
    return Engine([queue], agents)


def pct(samples: list[int]) -> tuple[float, float, float]:
    s = sorted(samples)
    return (s[len(s) // 2] / 1000, s[int(len(s) * 0.99)] / 1000, statistics.fmean(s) / 1000)


def bench_arrival(n: int) -> tuple[float, float, float]:
    """A call arrives with n agents ready."""
    rng = random.Random(1)
    eng = make_engine(n)
    for i in range(n):
        eng.handle(e.AgentLoggedIn(f"a{i}", float(i)))
    now = float(n)
    samples = []
    gc.collect()
    for k in range(SAMPLES):
        now += 1.0
        ev = e.CallArrived(f"k{k}", "q", "", now, rng.randrange(4), "", REQUIREMENTS[rng.randrange(10)])
        t0 = time.perf_counter_ns()
        out = eng.handle(ev)
        samples.append(time.perf_counter_ns() - t0)
        offer = next(x for x in out if isinstance(x, c.OfferCall))
        eng.handle(e.OfferAnswered(offer.call_id, offer.agent_id, now))
        eng.handle(e.AgentHungUp(offer.call_id, offer.agent_id, now + 0.5))
    return pct(samples)


def bench_agent_ready(n: int) -> tuple[float, float, float]:
    """An agent becomes ready with n calls waiting."""
    rng = random.Random(2)
    eng = make_engine(20)
    for k in range(n):
        eng.handle(e.CallArrived(f"k{k}", "q", "", float(k), rng.randrange(4), "", REQUIREMENTS[rng.randrange(10)]))
    for i in range(20):
        eng.handle(e.AgentLoggedIn(f"a{i}", float(n), ready=False))
    now = float(n)
    samples = []
    gc.collect()
    for s in range(SAMPLES):
        now += 1.0
        aid = f"a{s % 20}"
        t0 = time.perf_counter_ns()
        out = eng.handle(e.AgentReady(aid, now))
        samples.append(time.perf_counter_ns() - t0)
        offer = next(x for x in out if isinstance(x, c.OfferCall))
        eng.handle(e.AgentPaused(aid, "bench", now))  # pending: applies at the end
        eng.handle(e.OfferAnswered(offer.call_id, offer.agent_id, now))
        eng.handle(e.AgentHungUp(offer.call_id, offer.agent_id, now + 0.5))
        eng.handle(e.CallArrived(f"n{s}", "q", "", now, rng.randrange(4), "", REQUIREMENTS[rng.randrange(10)]))
    return pct(samples)


def bench_hangup_at_scale(n_agents: int, n_calls: int) -> tuple[float, float, float]:
    """One of n_agents busy agents hangs up while n_calls wait; it takes the best one."""
    rng = random.Random(3)
    eng = make_engine(n_agents)
    for i in range(n_agents):
        eng.handle(e.AgentLoggedIn(f"a{i}", 0.0))
    now = 1.0
    for k in range(n_agents):  # everyone busy
        eng.handle(e.CallArrived(f"busy{k}", "q", "", now))
    for view in eng.calls():
        eng.handle(e.OfferAnswered(view.call_id, view.offered_to[0], now))
    for k in range(n_calls):
        eng.handle(e.CallArrived(f"k{k}", "q", "", now + k * 1e-3, rng.randrange(4), "",
                                 REQUIREMENTS[rng.randrange(10)]))
    on_call = {v.agent_id: v.call_id for v in eng.agents() if v.call_id}
    samples = []
    now += n_calls
    gc.collect()
    agents = sorted(on_call)
    for s in range(SAMPLES):
        now += 1.0
        aid = agents[rng.randrange(len(agents))]
        call_id = on_call[aid]
        t0 = time.perf_counter_ns()
        out = eng.handle(e.AgentHungUp(call_id, aid, now))
        samples.append(time.perf_counter_ns() - t0)
        offer = next(x for x in out if isinstance(x, c.OfferCall))
        eng.handle(e.OfferAnswered(offer.call_id, aid, now))
        on_call[aid] = offer.call_id
        eng.handle(e.CallArrived(f"n{s}", "q", "", now, rng.randrange(4), "", REQUIREMENTS[rng.randrange(10)]))
    return pct(samples)


def bench_naive_scan(n: int) -> tuple[float, float, float]:
    """Baseline: pick the best of n waiting calls for an agent by scanning them all."""
    rng = random.Random(2)
    calls = [((-rng.randrange(4), float(k), k), REQUIREMENTS[rng.randrange(10)]) for k in range(n)]
    profile = PROFILES[7]
    samples = []
    for _ in range(200):
        t0 = time.perf_counter_ns()
        best = None
        for order, need in calls:
            if satisfies(profile, need) and (best is None or order < best):
                best = order
        samples.append(time.perf_counter_ns() - t0)
    return pct(samples)


def main() -> None:
    rows = []
    for n in (1_000, 10_000, 100_000):
        rows.append((f"arrival, {n:,} agents ready", bench_arrival(n)))
    for n in (1_000, 10_000, 100_000):
        rows.append((f"agent ready, {n:,} calls waiting", bench_agent_ready(n)))
        rows.append((f"baseline: naive scan of {n:,} waiting calls", bench_naive_scan(n)))
    rows.append(("hang-up, 10,000 agents busy, 100,000 calls waiting", bench_hangup_at_scale(10_000, 100_000)))
    print(f"Python {sys.version.split()[0]}, {SAMPLES} timed decisions per row (baseline: 200)\n")
    print("| decision | p50 µs | p99 µs | mean µs |")
    print("|---|---:|---:|---:|")
    for name, (p50, p99, mean) in rows:
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {mean:.1f} |")


if __name__ == "__main__":
    main()
