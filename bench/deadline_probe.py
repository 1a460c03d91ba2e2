"""How long ARI requests, AMI actions and Redis calls take on the sandbox: the
measurements the default deadlines of ``[deadlines]`` are chosen from.

Not a test: with the sandbox and redis up (`make sandbox redis`), run
`python bench/deadline_probe.py [samples]` (default 300). Each operation is timed
``samples`` times in a row with the engine's own clients; p50, p99 and max in ms.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402

from cti.asterisk.ami import AmiClient  # noqa: E402
from cti.asterisk.ari import AriClient  # noqa: E402


async def timed(samples: int, op: Callable[[int], Awaitable[Any]]) -> tuple[float, float, float]:
    took = []
    for i in range(samples):
        started = time.perf_counter()
        await op(i)
        took.append((time.perf_counter() - started) * 1000)
    took.sort()
    return statistics.median(took), took[int(len(took) * 0.99) - 1], took[-1]


async def main(samples: int) -> None:
    rows: list[tuple[str, tuple[float, float, float]]] = []
    async with aiohttp.ClientSession() as session:
        ari = AriClient(session, "http://127.0.0.1:8088", "cti", "cti-sandbox", "cti-probe")
        rows.append(("ARI GET /asterisk/info", await timed(samples, lambda i: ari.request("GET", "/asterisk/info"))))
        rows.append(("ARI GET /channels", await timed(samples, lambda i: ari.request("GET", "/channels"))))

        async def bridge(i: int) -> None:
            await ari.request("POST", "/bridges", type="mixing", bridgeId=f"probe-{i}")
            await ari.request("DELETE", f"/bridges/probe-{i}")
        rows.append(("ARI POST + DELETE a bridge", await timed(samples, bridge)))
        ami = AmiClient("127.0.0.1", 5038, "cti", "cti-sandbox")
        runner = asyncio.ensure_future(ami.run())
        while not ami.state.connected:
            await asyncio.sleep(0.05)
        rows.append(("AMI Ping", await timed(samples, lambda i: ami.action({"Action": "Ping"}))))
        # (no CoreStatus any more: the engine's AMI account has no class, it only pings)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    client = aioredis.Redis.from_url("redis://127.0.0.1:6390/0")
    rows.append(("Redis PING", await timed(samples, lambda i: client.ping())))
    rows.append(("Redis XADD + XDEL", await timed(samples, lambda i: _xadd(client))))
    await client.aclose()
    print(f"{samples} samples each\n\n| operation | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|")
    for name, (p50, p99, worst) in rows:
        print(f"| {name} | {p50:.2f} | {p99:.2f} | {worst:.2f} |")


async def _xadd(client: aioredis.Redis) -> None:
    entry = await client.xadd("cti-probe:stream", {"e": "x"})
    await client.xdel("cti-probe:stream", entry)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
