"""The fault schedule carried out: each fault at its moment (a thread of its own, so
faults overlap as drawn), its heal and its restart, and how long routing took to come
back after each (an engine leading with AMI, ARI and Redis up)."""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from bench.soak.cluster import Cluster
from bench.soak.schedule import Fault

RECOVERY_LIMIT_S = 120.0


@dataclass
class Applied:
    fault: Fault
    started: float = 0.0  # epoch s
    healed: float = 0.0  # epoch s: the fault over (a blackhole lifted; a kill: at once)
    notes: list[str] = field(default_factory=list)
    recovery_s: float | None = None  # heal -> an engine leading and routing
    problems: list[str] = field(default_factory=list)  # broken promises seen while applying


class FaultRunner:
    def __init__(self, cluster: Cluster, faults: list[Fault], log: Any) -> None:
        self.cluster, self.faults, self.log = cluster, faults, log
        self.applied: dict[int, Applied] = {f.number: Applied(f) for f in faults}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._holes: dict[str, int] = {}
        self._holes_lock = threading.Lock()
        self.t0 = 0.0

    def start(self, t0: float) -> None:
        """``t0``: the epoch second the traffic started (the schedule's zero)."""
        self.t0 = t0
        for fault in self.faults:
            thread = threading.Thread(target=self._carry_out, args=(fault,), name=f"fault-{fault.number}",
                                      daemon=True)
            self._threads.append(thread)
            thread.start()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()

    def _note(self, a: Applied, text: str) -> None:
        a.notes.append(text)
        self.log(f"  [t+{time.time() - self.t0:7.1f}] #{a.fault.number:02d} {a.fault.kind}: {text}")

    def _carry_out(self, fault: Fault) -> None:
        if self._stop.wait(max(0.0, self.t0 + fault.at_s - time.time())):
            return
        a = self.applied[fault.number]
        a.started = time.time()
        try:
            self._apply(fault, a)
        except Exception as exc:  # noqa: BLE001 - the soak itself failed here: say so, go on
            a.problems.append(f"applying it failed: {type(exc).__name__}: {exc}")
            self._note(a, a.problems[-1])
        a.healed = a.healed or time.time()
        if fault.restart_after_s:  # (on its own: the restart does not wait for the recovery)
            threading.Thread(target=self._restart, args=(fault, a), name=f"restart-{fault.number}",
                             daemon=True).start()
        waited_from = time.time()
        back = self.cluster.wait_routing(RECOVERY_LIMIT_S)
        # (timed from the heal: a SIGTERM's heal is the signal, not the engine's exit)
        a.recovery_s = None if back is None else back + waited_from - a.healed
        if a.recovery_s is None:
            a.problems.append(f"no engine led and routed within {RECOVERY_LIMIT_S:g} s after it healed")
        self._note(a, f"routing back {a.recovery_s:.2f} s after it healed" if a.recovery_s is not None
                   else a.problems[-1])

    def _restart(self, fault: Fault, a: Applied) -> None:
        if self._stop.wait(max(0.0, a.started + fault.restart_after_s - time.time())):
            return
        what = (self.cluster.restore_redis() if fault.kind == "kill9-redis-primary"
                else self.cluster.restart_engine())
        self._note(a, what)
        if what.startswith("could not") or what.startswith("the sentinels"):
            a.problems.append(what)

    def _apply(self, fault: Fault, a: Applied) -> None:
        c = self.cluster
        kind = fault.kind
        if kind == "kill9-leader":
            self._note(a, c.kill_engine("leader", signal.SIGKILL))
        elif kind == "kill9-standby":
            self._note(a, c.kill_engine("standby", signal.SIGKILL))
        elif kind == "sigterm-leader":
            a.healed = time.time()
            what = c.kill_engine("leader", signal.SIGTERM)
            self._note(a, what)
            if "expected" in what:
                a.problems.append(what)
        elif kind == "kill9-redis-primary":
            self._note(a, c.kill_redis_primary())
            time.sleep(0.5)  # (the leader notices on its next command: recovery is timed from there)
        elif kind in ("ami-drop", "ari-drop"):
            (c.ami if kind == "ami-drop" else c.ari).drop()
            self._note(a, "connections reset")
            time.sleep(0.3)
        elif kind in ("ami-blackhole", "ari-blackhole", "webhook-hang"):
            proxy = {"ami-blackhole": c.ami, "ari-blackhole": c.ari, "webhook-hang": c.hook}[kind]
            with self._holes_lock:  # two blackholes of one proxy overlapping: lifted by the last
                self._holes[kind] = self._holes.get(kind, 0) + 1
                proxy.set("blackhole")
            self._note(a, "blackholed")
            self._stop.wait(fault.duration_s)
            with self._holes_lock:
                self._holes[kind] -= 1
                if self._holes[kind] == 0:
                    proxy.set("pass")
                    proxy.drop()  # (the held connections would deliver stale bytes; a real cut ends them)
            a.healed = time.time()
            self._note(a, "passing again" if self._holes[kind] == 0 else "over (another blackhole goes on)")
        elif kind == "disk-full":
            self._note(a, c.disk.fill())
            self._stop.wait(fault.duration_s)
            self._note(a, c.disk.free())
            a.healed = time.time()
        else:
            raise ValueError(kind)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]
