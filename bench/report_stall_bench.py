"""What four parallel year-long 15-minute agent reports cost routing (issue 28, item 5).

Not a test: run `python bench/report_stall_bench.py [store-url]` (default: a temporary
SQLite file; figures go to docs/BENCHMARKS.md by hand). The leader's real HTTP app
(every feature, the real core and store; tests/integration/world.py) listens on a
loopback port. The store holds a year of four agents' 8-hour days (agent_time and
agent_calls rows, as the record writes them). Then, twice (idle; while four other
processes each ask `GET /reports/agents?from=<a year>&interval=15m`, 46,720 rows of
JSON each, again and again):

- a prober process asks `GET /health` one request after another and times each;
- inside the engine, every 20 ms a thread hands the loop an offer (a call arrives, an
  agent answers, the caller hangs up: ``Runtime.apply``, what an ARI event causes) and
  times how long it waited for the loop and took.

Printed: p50, p99 and max of both, idle and under the reports, and the ratios.
"""

from __future__ import annotations

import asyncio
import http.client
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from acd import events as e  # noqa: E402
from tests.integration.world import TOKENS, world  # noqa: E402

AGENTS = ("1001", "1002", "1003", "1004")
DAYS = 365
FIRST = date(2025, 12, 1)
SECONDS_EACH = 12.0  # each phase


def _health_prober(port: int, until: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times = []
    while time.monotonic() < until:
        t0 = time.perf_counter()
        conn.request("GET", "/health")
        resp = conn.getresponse()
        resp.read()
        times.append(time.perf_counter() - t0)
        time.sleep(0.005)
    out.put(times)


def _reporter(port: int, until: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    last = FIRST + timedelta(days=DAYS - 1)
    done, sizes, status = 0, 0, set()
    while time.monotonic() < until:
        conn.request("GET", f"/reports/agents?from={FIRST}&to={last}&interval=15m",
                     headers={"Authorization": f"Bearer {TOKENS['supervisor']}"})
        resp = conn.getresponse()
        sizes += len(resp.read())
        status.add(resp.status)
        done += 1
    out.put((done, sizes, sorted(status)))


def _rows() -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    times, calls = [], []
    for d in range(DAYS):
        day = datetime.combine(FIRST + timedelta(days=d), datetime.min.time(), timezone.utc).timestamp()
        for agent in AGENTS:
            for q in range(36, 68):  # 09:00 to 17:00, quarter hours
                start = day + q * 900
                times += [(agent, start, "ready", "", 300.0), (agent, start, "on-call", "", 540.0),
                          (agent, start, "wrap-up", "", 60.0)]
                calls.append((agent, start, 3, 540.0, 20.0, 0, 0))
    return times, calls


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def phase(port: int, runtime: object, reports: int) -> tuple[list[float], list[float], list[object]]:
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    until = time.monotonic() + SECONDS_EACH
    procs = [ctx.Process(target=_reporter, args=(port, until, out)) for _ in range(reports)]
    for p in procs:
        p.start()
    await asyncio.sleep(1.0 if reports else 0.0)  # the reports under way first
    prober = ctx.Process(target=_health_prober, args=(port, until, out))
    prober.start()
    loop = asyncio.get_running_loop()
    offers: list[float] = []
    stop = threading.Event()

    def offer(t0: float, n: int) -> None:
        rt = runtime
        now = rt.clock()  # type: ignore[attr-defined]
        call = f"bench-{reports}-{n}"
        rt.apply(e.CallArrived(call, "support", "13800000000", now))  # type: ignore[attr-defined]
        rt.apply(e.OfferAnswered(call, "1001", now))  # type: ignore[attr-defined]
        rt.apply(e.CallerHungUp(call, now))  # type: ignore[attr-defined]
        rt.apply(e.AgentReady("1001", now))  # type: ignore[attr-defined]
        offers.append(time.perf_counter() - t0)

    def offering() -> None:
        n = 0
        while not stop.wait(0.02):
            n += 1
            loop.call_soon_threadsafe(offer, time.perf_counter(), n)

    thread = threading.Thread(target=offering, daemon=True)
    thread.start()
    results = []
    for _ in range(reports + 1):
        results.append(await asyncio.to_thread(out.get))
    stop.set()
    thread.join()
    for p in [*procs, prober]:
        await asyncio.to_thread(p.join)
    health = next(r for r in results if isinstance(r, list))
    others = [r for r in results if not isinstance(r, list)]
    return health, offers, others


async def main(url: str | None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="report-stall-"))
    store_url = url or f"sqlite:{tmp}/cti.sqlite"
    async with world(store_url, tmp) as w:
        times, calls = _rows()
        await w.db.do(lambda sql: sql.many("INSERT INTO agent_time VALUES (?, ?, ?, ?, ?)", times))
        await w.db.do(lambda sql: sql.many("INSERT INTO agent_calls VALUES (?, ?, ?, ?, ?, ?, ?)", calls))
        print(f"store: {'PostgreSQL' if w.db.postgres else 'SQLite'}; {len(times):,} agent_time rows, "
              f"{len(calls):,} agent_calls rows ({len(AGENTS)} agents, {DAYS} days of 8 hours)")
        w.runtime.apply(e.AgentLoggedIn("1001", w.runtime.clock()))
        port = w.http.port  # the app's test server: a real loopback socket
        assert port is not None
        if True:
            figures = {}
            for name, reports in (("idle", 0), ("4 reports", 4)):
                health, offers, others = await phase(port, w.runtime, reports)
                figures[name] = (health, offers)
                extra = "".join(f"; reporter: {n} reports, {size / 1e6:.0f} MB, status {st}"
                                for n, size, st in others)  # type: ignore[misc]
                print(f"{name}: {len(health)} /health, {len(offers)} offers{extra}")
            print("\n| measure | idle p50 ms | idle p99 ms | idle max ms | 4 reports p50 ms | p99 ms | max ms "
                  "| ratio p50 | ratio p99 |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
            for i, what in enumerate(("GET /health (round trip)", "an offer (wait for the loop + apply)")):
                idle, busy = figures["idle"][i], figures["4 reports"][i]
                row = [pct(idle, 0.5), pct(idle, 0.99), max(idle), pct(busy, 0.5), pct(busy, 0.99), max(busy)]
                print(f"| {what} | " + " | ".join(f"{v * 1000:.2f}" for v in row) +
                      f" | {row[3] / row[0]:.1f} | {row[4] / row[1]:.1f} |")
            print(f"\nmean /health idle {statistics.mean(figures['idle'][0]) * 1000:.2f} ms, "
                  f"under reports {statistics.mean(figures['4 reports'][0]) * 1000:.2f} ms")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))
