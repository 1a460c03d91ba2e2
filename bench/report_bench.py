"""R13: a month of a busy site in the record, and how fast its reports answer, on the
two stores in the same run. Calls (default 1,000,000 over December 2026, four queues,
five business kinds, waits, talks, holds, abandons and ring-no-answers drawn at random)
are written through the engine's own path (``HistoryStore.write``: the call row and its
15-minute sums, in batches as the engine's writer does), then the month's reports are
asked for the way ``GET /reports/queues`` asks (read the buckets, merge, compute).

    .venv/bin/python bench/report_bench.py [calls] [sqlite|postgres|both]
"""

from __future__ import annotations

import asyncio
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cti.store.sql import Database  # noqa: E402
from cti.reports.store import SCHEMA, HistoryStore  # noqa: E402
from reports.intervals import report  # noqa: E402
from reports.records import CallRecord, Offer  # noqa: E402

ZONE = "Asia/Shanghai"
START = datetime(2026, 12, 1, tzinfo=ZoneInfo(ZONE)).timestamp()
END = datetime(2027, 1, 1, tzinfo=ZoneInfo(ZONE)).timestamp()
BATCH = 5000


def calls(n: int, seed: int = 13) -> list[CallRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ended = rng.uniform(START, END - 3600)
        waited = rng.expovariate(1 / 25)
        outcome = "abandoned" if rng.random() < 0.08 else "handled"
        talk = rng.expovariate(1 / 180) if outcome == "handled" else 0.0
        offers = (Offer(f"a{rng.randrange(200)}", ended - talk - waited + 1, 12.0, "no-answer"),) \
            if rng.random() < 0.03 else ()
        out.append(CallRecord(f"k{i}", rng.choice(("gas", "repair", "billing", "vip")), f"138{i:08d}",
                              rng.choice(("leak", "repair", "billing", "complaint", "")), rng.random() < 0.005,
                              ended - talk - waited, ended, outcome, f"a{rng.randrange(200)}" if talk else None,
                              waited, talk, min(talk, rng.expovariate(1 / 20)) if rng.random() < 0.2 else 0.0,
                              rng.choice(("caller", "agent")), len(offers), 0, (), False, offers))
    return out


async def run(url: str, records: list[CallRecord]) -> dict[str, float]:
    db = Database(url, 60.0, SCHEMA)
    await db.open()
    store = HistoryStore(db)
    started = time.perf_counter()
    for i in range(0, len(records), BATCH):
        await store.write(records[i:i + BATCH], [])
    write_s = time.perf_counter() - started
    timings: dict[str, list[float]] = {"month by day and queue": [], "month by 15 min": [], "month by kind": []}
    for _ in range(5):
        for name, interval, by in (("month by day and queue", "day", "queue"), ("month by 15 min", "15m", "all"),
                                   ("month by kind", "month", "kind")):
            t0 = time.perf_counter()
            rows = report(await store.buckets(START, END, by), interval, ZONE, by)
            timings[name].append(time.perf_counter() - t0)
            assert rows
    total = sum(int(r["offered"]) for r in report(await store.buckets(START, END, "all"), "month", ZONE, "all"))
    assert total == len(records), (total, len(records))
    db.close()
    return {"write_per_s": len(records) / write_s, **{k: statistics.median(v) for k, v in timings.items()}}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    which = sys.argv[2] if len(sys.argv) > 2 else "both"
    records = calls(n)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if which in ("sqlite", "both"):
            results["SQLite"] = asyncio.run(run(f"sqlite:{tmp}/bench.sqlite", records))
        if which in ("postgres", "both"):
            base = subprocess.run([str(ROOT / "contrib" / "postgres"), "url"], capture_output=True, text=True,
                                  check=True).stdout.strip()
            name = f"cti_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(base, autocommit=True) as admin:
                admin.execute(f"CREATE DATABASE {name}")
            try:
                results["PostgreSQL"] = asyncio.run(run(base.rsplit("/", 1)[0] + "/" + name, records))
            finally:
                with psycopg.connect(base, autocommit=True) as admin:
                    admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    print(f"{n:,} calls over December 2026 ({ZONE}); reports read the 15-minute sums")
    print(f"{'store':<12}{'written/s':>11}{'by day+queue ms':>17}{'by 15 min ms':>14}{'by kind ms':>12}")
    for store, r in results.items():
        print(f"{store:<12}{r['write_per_s']:>11.0f}{r['month by day and queue'] * 1000:>17.1f}"
              f"{r['month by 15 min'] * 1000:>14.1f}{r['month by kind'] * 1000:>12.1f}")


if __name__ == "__main__":
    main()
