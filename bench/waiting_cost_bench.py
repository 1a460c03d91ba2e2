"""Where Asterisk's CPU goes per waiting caller (issue 32): the same waiting callers held
in each of the ways the engine could ask Asterisk to hold them, one after another in one
run, Asterisk's CPU measured over a steady window while they wait.

- SIPp callers from 127.0.0.3 (``bench_caller.xml``: no audio sent, waiting for a BYE)
  dial 7002, which enters the ``cti`` Stasis application; this script is that
  application (the engine must not be running on the sandbox meanwhile).
- Each caller is answered, then, by mode:
  ``silence`` (nothing played), ``moh`` (music on the channel: what the engine did until
  issue 32), ``moh+snoop`` (and the R4 recording as the engine made it: a snoop channel
  spying both directions, recorded), ``hold`` (one holding bridge for all, with one
  music stream: ``POST /bridges/{id}/moh``), ``hold+snoop``.
- Asterisk's CPU (``/proc/<pid>/stat``, its threads included) is read over
  ``--window`` seconds once every caller is in place; the setup (answer, bridge, snoop)
  is measured separately, per caller. Then every caller is hung up and the next mode
  starts from an idle Asterisk.

    .venv/bin/python bench/waiting_cost_bench.py [--callers 200] [--window 20] [--modes moh,hold+snoop]

Needs the sandbox up (``contrib/sandbox up``), and nothing else on its Stasis app.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_bench import SANDBOX, SIPP_DIR, asterisk_pid, cpu_s, sipp, stop  # noqa: E402

ARI = "http://127.0.0.1:8088/ari"
AUTH = aiohttp.BasicAuth("cti", "cti-sandbox")
MODES = ("silence", "moh", "moh+snoop", "hold", "hold+snoop", "hold+mixmonitor")


class Holder:
    def __init__(self, http: aiohttp.ClientSession, mode: str) -> None:
        self.http, self.mode = http, mode
        self.callers: set[str] = set()
        self.snoops: set[str] = set()
        self.bridge = ""
        self.setup_s = 0.0
        self.failures = 0

    async def req(self, method: str, path: str, **params: Any) -> Any:
        query = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in params.items()}
        async with self.http.request(method, ARI + path, params=query, auth=AUTH,
                                     timeout=aiohttp.ClientTimeout(total=10)) as resp:
            if resp.status >= 300:
                self.failures += 1
                return None
            return await resp.json() if resp.content_type == "application/json" else None

    async def start(self) -> None:
        if self.mode.startswith("hold"):
            self.bridge = f"cti-hold-bench-{os.getpid()}"
            await self.req("POST", f"/bridges/{self.bridge}", type="holding", name="bench-hold")
            await self.req("POST", f"/bridges/{self.bridge}/moh", mohClass="default")

    async def entered(self, channel: dict[str, Any], args: list[str]) -> None:
        cid = channel["id"]
        if cid.startswith("bench-snoop-"):
            await self.req("POST", f"/channels/{cid}/record", name=f"cti-exp/{cid}", format="wav",
                           ifExists="overwrite")
            return
        t0 = time.perf_counter()
        self.callers.add(cid)
        await self.req("POST", f"/channels/{cid}/answer")
        if self.mode.startswith("moh"):
            await self.req("POST", f"/channels/{cid}/moh")
        elif self.mode.startswith("hold"):
            await self.req("POST", f"/bridges/{self.bridge}/addChannel", channel=cid)
        if self.mode.endswith("+mixmonitor"):  # (for comparison: the engine has no right to start one)
            await asyncio.to_thread(subprocess.run, [str(SANDBOX), "exec", "asterisk", "-rx",
                                    f"mixmonitor start {channel['name']} cti-exp/mix-{cid}.wav"],
                                    capture_output=True, timeout=30)
        if self.mode.endswith("+snoop"):
            snoop = f"bench-snoop-{cid}"
            self.snoops.add(snoop)
            await self.req("POST", f"/channels/{cid}/snoop", spy="both", whisper="none", app="cti",
                           snoopId=snoop)
        self.setup_s += time.perf_counter() - t0

    async def end(self) -> None:
        await asyncio.gather(*(self.req("DELETE", f"/channels/{c}") for c in list(self.callers)))
        if self.bridge:
            await self.req("DELETE", f"/bridges/{self.bridge}")


async def run_mode(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    pid = asterisk_pid()
    async with aiohttp.ClientSession() as http:
        holder = Holder(http, mode)
        async with http.ws_connect(f"ws://127.0.0.1:8088/ari/events?app=cti&subscribeAll=false", auth=AUTH,
                                   heartbeat=10, timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
            await holder.start()
            tasks: set[asyncio.Task[None]] = set()

            async def events() -> None:
                async for msg in ws:
                    event = json.loads(msg.data)
                    if event.get("type") == "StasisStart":
                        task = asyncio.create_task(holder.entered(event["channel"], event.get("args", [])))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)

            reader = asyncio.create_task(events())
            cpu0 = cpu_s(pid)
            callers = sipp(f"bench-waiting-{mode.replace('+', '-')}", "-sf", "bench_caller.xml", "-i", "127.0.0.3",
                           "-p", "5400", "-mp", "27000", "-s", "7002", "-m", str(args.callers),
                           "-l", str(args.callers), "-r", str(args.rate), "-timeout", "300", "127.0.0.1:5060")
            deadline = time.monotonic() + 60
            while len(holder.callers) < args.callers and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            await asyncio.sleep(2.0)  # the last setups done
            setup_cpu = cpu_s(pid) - cpu0
            w0 = cpu_s(pid)
            await asyncio.sleep(args.window)
            waiting_cpu = cpu_s(pid) - w0
            await holder.end()
            try:
                await asyncio.to_thread(callers.wait, 30)
            except subprocess.TimeoutExpired:
                stop(callers)
            reader.cancel()
            await asyncio.sleep(2.0)
    n = max(1, len(holder.callers))
    return {"mode": mode, "callers": len(holder.callers), "failures": holder.failures,
            "wait_ms_per_caller_s": waiting_cpu * 1000 / n / args.window,
            "setup_ms_per_caller": setup_cpu * 1000 / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callers", type=int, default=200)
    parser.add_argument("--rate", type=int, default=50, help="callers per second arriving")
    parser.add_argument("--window", type=int, default=20, help="seconds of steady waiting measured")
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    rows = []
    for mode in args.modes.split(","):
        if mode not in MODES:
            raise SystemExit(f"--modes: one of {', '.join(MODES)}")
        rows.append(asyncio.run(run_mode(mode, args)))
        print(rows[-1], flush=True)
    base = next((r for r in rows if r["mode"] == "moh+snoop"), rows[0])
    print(f"\n{args.callers} callers waiting, Asterisk CPU over {args.window} s\n")
    print("| mode | callers | ms CPU per waiting caller per second | ÷ moh+snoop | setup ms per caller | failed requests |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['mode']} | {r['callers']} | {r['wait_ms_per_caller_s']:.2f} | "
              f"{r['wait_ms_per_caller_s'] / max(1e-9, base['wait_ms_per_caller_s']):.2f} | "
              f"{r['setup_ms_per_caller']:.1f} | {r['failures']} |")


if __name__ == "__main__":
    try:
        main()
    finally:
        for p in list(__import__("load_bench").STARTED):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
