"""One soak run: set up, traffic with the fault schedule, drain, invariants, figures.
Everything started is stopped by its PID in ``finally``, whatever happened."""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.e2e.harness import AriObserver, Sandbox, wait_for
from tests.e2e.harness.sandbox import asterisk_cli
from tests.e2e.harness.sipp import sandbox_root

from bench.soak import invariants
from bench.soak.cluster import Cluster
from bench.soak.faults import FaultRunner, percentile
from bench.soak.schedule import describe, draw
from bench.soak.traffic import KINDS, Dispositions, Traffic

DRAIN_S = 90.0  # after the last caller was due: every call ends by then (the longest talk is 24 s)


def log(text: str) -> None:
    print(text, flush=True)


def soak(seed: int, minutes: float, keep: Path | None = None) -> int:
    """Returns the exit code: 0 when every invariant held."""
    faults = draw(seed, minutes)
    log(describe(seed, minutes, faults))
    tmp = keep or Path(tempfile.mkdtemp(prefix=f"soak-{seed}-"))
    tmp.mkdir(parents=True, exist_ok=True)
    log(f"soak: files in {tmp}")
    sandbox = Sandbox(tmp)
    sandbox.clear()
    asterisk_cli("logger rotate")  # (the queue_log anew: the fallback calls of earlier runs are not this run's)
    cluster = Cluster(tmp, log)
    observer: AriObserver | None = None
    dispositions: Dispositions | None = None
    runner: FaultRunner | None = None
    found = invariants.Findings()
    traffic: Traffic | None = None
    try:
        observer = AriObserver()
        traffic = Traffic(sandbox, minutes)
        traffic.start_agents()
        cluster.start()
        log(f"soak: Redis (primary, replica, 3 sentinels), engines {[e.proc.pid for e in cluster.engines]} "
            f"(leader, standby), agents {list(traffic.agents)}; traffic for {minutes:g} min")
        found.figures["engines' memory at the start (MB by pid)"] = cluster.rss_mb()
        dispositions = Dispositions(cluster)
        t0 = time.time()
        traffic.start_callers()
        dispositions.start()
        runner = FaultRunner(cluster, faults, log)
        runner.start(t0)
        longest = max(k.every_s for k in KINDS)
        codes = traffic.wait_callers(minutes * 60 + longest + DRAIN_S)
        runner.join(180)
        runner.stop()
        dispositions.stop()
        ended = time.time()
        log(f"soak: traffic over after {ended - t0:.0f} s; SIPp exit codes {codes}")
        # the engines settle (the last calls archived, the audit), then the checks
        leader = cluster.wait_routing(60)
        try:
            wait_for(lambda: not sandbox.channels(), 60, "every call's channel to be gone from Asterisk")
            left: list[str] = []
        except AssertionError:
            stranded = sandbox.channels()
            left = [f"{ch.get('name')} (id {ch.get('id')}, {ch.get('state')}, created {ch.get('creationtime')}, "
                    f"at {(ch.get('dialplan') or {}).get('app_name')}({(ch.get('dialplan') or {}).get('app_data')}))"
                    for ch in stranded]
            (tmp / "channels-left.json").write_text(json.dumps(stranded, indent=1))
        time.sleep(8)  # (archiving runs every 2 s: the last recordings land)
        found.figures["engines' memory at the end (MB by pid)"] = cluster.rss_mb()
        found.check("an engine leads and routes at the end", leader is not None, f"after {leader} s")
        found.check("no channel left in Asterisk once the traffic ended", not left, str(left[:10]))
        check(found, cluster, traffic, observer, dispositions, runner, faults, tmp, ended)
    except Exception as exc:  # noqa: BLE001 - the soak could not run to its end: that is a failure too
        found.check("the soak ran to its end", False, f"{type(exc).__name__}: {exc}")
        import traceback

        traceback.print_exc()
    finally:
        if runner is not None:
            runner.stop()
        if dispositions is not None:
            dispositions.stop()
        cluster.close()
        sandbox.close()
        try:
            sandbox.clear()  # (a call stranded in Asterisk would meet the next run)
        except Exception as exc:  # noqa: BLE001 - the check above has said it already
            log(f"soak: clearing the sandbox failed: {exc}")
        for name, sipp in [*traffic.agents.items(), *traffic.callers.items()] if traffic is not None else []:
            events = sandbox_root() / "tmp" / f"cti-sipp-{sipp.proc.pid}.events"
            try:  # each SIPp's own trace, kept beside the rest
                shutil.copy(events, tmp / f"sipp-{name}.events")
            except OSError:
                pass
        if observer is not None and observer.lost is None:  # what Asterisk did, for the post-mortem
            with (tmp / "ari-events.jsonl").open("w") as out:
                for ev in list(observer._events):
                    out.write(json.dumps(ev) + "\n")
        if observer is not None:
            try:
                observer.close()
            except AssertionError as exc:
                found.check("the ARI observer heard everything", False, str(exc))
    report(found, seed, minutes, tmp)
    return 1 if found.broken else 0


def check(found: invariants.Findings, cluster: Cluster, traffic: Traffic, observer: AriObserver,
          dispositions: Dispositions, runner: FaultRunner, faults: list[Any], tmp: Path, ended: float) -> None:
    legs = invariants.callers(found, traffic.callers, traffic.planned)
    cut = [str(leg) for leg in legs if leg.answered is not None and leg.hung_up_by == "pbx"]
    never = [str(leg) for leg in legs if leg.answered is None]
    found.figures["calls"] = len(legs)
    found.figures["callers answered by Asterisk"] = len(legs) - len(never)
    found.check("no caller was refused (every one answered by Asterisk)", not never, f"{len(never)}: {never[:3]}")
    found.check("no caller was cut off by the PBX (each hung up itself)", not cut, f"{len(cut)}: {cut[:3]}")
    found.figures["agent phones: calls answered"] = {a: len(p.answered()) for a, p in traffic.agents.items()}
    invariants.one_call_per_agent(found, traffic.agents, observer)
    counts = invariants.outcomes(found, legs, traffic.agents)
    alerts = "\n".join(line for path in sorted(tmp.glob("engine-*.log"))
                       for line in path.read_text(errors="replace").splitlines() if "R4 ALERT" in line)
    invariants.recordings(found, traffic.agents, observer, tmp / "archive", alerts)
    engine = cluster.leader()
    try:
        report = engine.get("/reports/queues?by=all") if engine is not None else None
    except (OSError, ValueError) as exc:
        log(f"soak: the queue report failed: {exc}")
        report = None
    (tmp / "engine-report.json").write_text(json.dumps(report, indent=1))
    invariants.engine_report(found, report, counts)
    invariants.dispositions(found, dispositions.accepted, dispositions.refused, tmp / "cti.sqlite")
    invariants.work_orders(found, dispositions.orders, list(cluster.webhook.tries), tmp / "cti.sqlite")
    applied = list(runner.applied.values())
    for a in applied:
        for problem in a.problems:
            found.check(f"fault #{a.fault.number:02d} {a.fault.kind}", False, problem)
    done = [a for a in applied if a.started]
    found.check("every fault was applied", len(done) == len(faults), f"{len(done)} of {len(faults)}")
    if done:
        invariants.routing_after_last_fault(found, traffic.agents, max(a.healed for a in done), ended)
    recoveries = [a.recovery_s for a in done if a.recovery_s is not None]
    found.figures["faults"] = len(done)
    found.figures["engine restarts"] = cluster.restarts
    found.figures["engines that exited of themselves (restarted as systemd would)"] = cluster.exits
    found.figures["recovery after a fault (s): p50/max"] = (
        f"{percentile(recoveries, 0.5):.2f}/{max(recoveries):.2f}" if recoveries else "n/a")
    by_kind: dict[str, list[float]] = {}
    for a in done:
        if a.recovery_s is not None:
            by_kind.setdefault(a.fault.kind, []).append(a.recovery_s)
    found.figures["recovery by kind (s): median, max"] = {
        k: f"{statistics.median(v):.2f}, {max(v):.2f}" for k, v in sorted(by_kind.items())}


def report(found: invariants.Findings, seed: int, minutes: float, tmp: Path) -> None:
    log(f"\nsoak: seed {seed}, {minutes:g} min: invariants")
    for c in found.checks:
        log(f"  [{'ok' if c.ok else 'BROKEN'}] {c.name}" + ("" if c.ok and len(c.detail) > 160 else f": {c.detail}"))
    log("soak: figures")
    for key, value in found.figures.items():
        log(f"  {key}: {value}")
    (tmp / "soak-result.json").write_text(json.dumps(
        {"seed": seed, "minutes": minutes, "checks": [c.__dict__ for c in found.checks], "figures": found.figures},
        indent=1, default=str))
    verdict = f"{len(found.broken)} invariant(s) BROKEN" if found.broken else "every invariant held"
    log(f"soak: {verdict} (seed {seed}; files in {tmp})")
    sys.stdout.flush()
