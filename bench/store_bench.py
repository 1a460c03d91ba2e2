"""Work orders on the two stores, measured in the same run: dispositions that become
orders per second (each one transaction on the store's worker thread), a search by
caller, and the overdue check, on SQLite and on the test PostgreSQL (contrib/postgres).

    .venv/bin/python bench/store_bench.py [orders]
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cti.store.sql import Database  # noqa: E402
from cti.orders.service import WorkOrders  # noqa: E402
from cti.orders.settings import WorkOrderSettings  # noqa: E402
from cti.orders.store import SCHEMA, Search, WorkOrderStore  # noqa: E402
from workorders import Department, Rule, Rules  # noqa: E402
from workorders.model import DEFAULT_KINDS  # noqa: E402

FIELDS = {"customer_name": "王小明", "address": "北區 1 號", "contact_number": "13812345678",
          "content": "燃氣表漏氣", "occurred_at": "今晨", "urgency": "high", "region": "north"}


async def run(url: str, n: int) -> dict[str, float]:
    db = Database(url, 10.0, SCHEMA)
    await db.open()
    settings = WorkOrderSettings(Rules({k.name: k for k in DEFAULT_KINDS}, (Rule("repair", 3600.0),)),
                                 (Department("repair", "http://127.0.0.1:9/"),), enabled=True)
    wo = WorkOrders(settings, WorkOrderStore(db), None)
    took = []
    started = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        await wo.dispose({"call_id": f"k{i}", "caller": f"1380000{i % 1000:04d}", "arrived_at": time.time()},
                         "1001", "fault-report", FIELDS, "agent:1001")
        took.append(time.perf_counter() - t)
    total = time.perf_counter() - started
    t = time.perf_counter()
    for i in range(100):
        await wo.search(Search(caller=f"1380000{i:04d}"))
    search_ms = (time.perf_counter() - t) * 10
    t = time.perf_counter()
    await wo.check_overdue(time.time() + 7200)
    overdue_ms = (time.perf_counter() - t) * 1000
    db.close()
    took.sort()
    return {"per_s": n / total, "p50_ms": statistics.median(took) * 1000, "p99_ms": took[int(n * 0.99) - 1] * 1000,
            "search_ms": search_ms, "overdue_ms": overdue_ms}


def main() -> None:
    logging.getLogger("cti").setLevel(logging.ERROR)  # the overdue alerts are the point, not the output
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    base = subprocess.run([str(ROOT / "contrib" / "postgres"), "url"], capture_output=True, text=True,
                          check=True).stdout.strip()
    name = f"cti_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            results = {"SQLite": asyncio.run(run(f"sqlite:{tmp}/bench.sqlite", n)),
                       "PostgreSQL": asyncio.run(run(base.rsplit("/", 1)[0] + "/" + name, n))}
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    print(f"{n} dispositions that become work orders, one at a time")
    print(f"{'store':<12}{'orders/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'search ms':>11}{'overdue ms':>12}")
    for store, r in results.items():
        print(f"{store:<12}{r['per_s']:>10.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['search_ms']:>11.2f}"
              f"{r['overdue_ms']:>12.1f}")


if __name__ == "__main__":
    main()
