"""What the soak runs and kills: Redis behind three sentinels, two engines (leader and
standby) reaching Asterisk's AMI and ARI through fault proxies, and their restarts.
Every process is started here (the e2e harness's starters) and stopped by its PID."""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.harness import HOST, Engine, EngineStarter, FaultProxy, Webhook
from tests.e2e.harness.sandbox import QUEUE_LOG
from tests.e2e.harness.sentinel import RedisGroup
from tests.e2e.harness.sipp import stop_group

from bench.soak.disk import ArchiveDisk

AGENTS = ["1001", "1002", "1003", "1004"]
LEASE_MS = 1500
# Fault reports become work orders, sent to the repair department's webhook (R12, R20).
WORKORDERS = """
[workorders]
check_interval_s = 5
[[workorders.departments]]
name = "repair"
webhook_url = "{url}"
[[workorders.rules]]
department = "repair"
due_h = 24
"""


class AnyRole(str):
    """The role an engine started again is waited for in: leader or standby, whichever
    it finds (a standby killed while the leader is down comes back as the leader).
    The harness's starter compares ``health["role"] == role``: a str subclass's own
    ``__eq__`` is asked first."""

    def __eq__(self, other: object) -> bool:
        return other in ("leader", "standby")

    __hash__ = str.__hash__


class SoakRedis(RedisGroup):
    """The harness's Redis group (primary, replica, three sentinels), whose dead server
    can be started again as a replica of whichever the sentinels promoted."""

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def current_primary(self) -> str | None:
        try:
            port = self.primary_port()
        except AssertionError:
            return None
        return next((n for n, p in self.ports.items() if p == port and n in ("primary", "replica")), None)

    def restart_as_replica(self, name: str) -> None:
        """``name``'s server, dead, comes back on its port as a replica of the primary
        the sentinels name now (its old data is thrown away by the full sync)."""
        primary = self.ports[self.current_primary() or ("replica" if name == "primary" else "primary")]
        base = "bind 127.0.0.1\nprotected-mode yes\ndaemonize no\nsave \"\"\nappendonly no\n"
        self._spawn(name, "redis-server", base + f"port {self.ports[name]}\ndir {self.dir}\n"
                    f"dbfilename {name}.rdb\nreplicaof 127.0.0.1 {primary}\n")


@dataclass
class Cluster:
    tmp: Path
    log: Any  # print-like
    starter: EngineStarter = field(init=False)
    redis: SoakRedis = field(init=False)
    ami: FaultProxy = field(init=False)
    ari: FaultProxy = field(init=False)
    webhook: Webhook = field(init=False)  # the repair department's receiver...
    hook: FaultProxy = field(init=False)  # ...and the proxy the engines reach it through
    engines: list[Engine] = field(default_factory=list)  # alive (or believed alive)
    lock: threading.Lock = field(default_factory=threading.Lock)
    starting: threading.Lock = field(default_factory=threading.Lock)
    restarts: int = 0
    killed: set[int] = field(default_factory=set)  # PIDs the schedule killed or stopped
    exits: list[str] = field(default_factory=list)  # engines that died of themselves: how
    disk: ArchiveDisk = field(init=False)  # the archive's own small disk (the disk-full fault)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self.disk = ArchiveDisk(self.tmp / "archive")  # (the harness's archive folder for the engines)
        self.disk.mount()
        self.redis = SoakRedis(self.tmp).start()
        self.ami = FaultProxy(5038, HOST)
        self.ari = FaultProxy(8088, HOST)
        self.webhook = Webhook()
        self.hook = FaultProxy(self.webhook.port)
        self.starter = EngineStarter(self.tmp)
        self.engines.append(self._start_engine("leader"))
        self.engines.append(self._start_engine("standby"))
        self._supervisor = threading.Thread(target=self._supervise, name="soak-supervisor", daemon=True)
        self._supervisor.start()

    def _supervise(self) -> None:
        """As systemd does with contrib/systemd/cti-engine.service (Restart=on-failure,
        RestartSec=2): an engine that exits of itself, not by the schedule, is written
        down (its exit code, its last error line) and, when it failed, started again 2 s
        later."""
        while not self._stop.wait(0.5):
            with self.lock:
                gone = [e for e in self.engines if e.proc.poll() is not None and e.proc.pid not in self.killed]
                for engine in gone:
                    self.engines.remove(engine)
            for engine in gone:
                lines = engine.log().splitlines()
                why = next((ln.strip() for ln in reversed(lines) if "Error" in ln or "ERROR" in ln or "Fenced" in ln),
                           lines[-1] if lines else "")
                self.exits.append(f"engine pid {engine.proc.pid} exited {engine.proc.returncode} of itself: {why[:300]}")
                self.log(f"  [supervisor] {self.exits[-1]}")
                if engine.proc.returncode != 0 and not self._stop.wait(2.0):
                    self.log(f"  [supervisor] {self.restart_engine()}")

    def _start_engine(self, role: str) -> Engine:
        env = {"CTI_AMI_HOST": "127.0.0.1", "CTI_AMI_PORT": str(self.ami.port),
               "CTI_ARI_URL": f"http://127.0.0.1:{self.ari.port}"}
        where = self.redis.sentinels_toml() + "replicas_ack = 1\nreplica_wait_ms = 500\n"
        tail = WORKORDERS.format(url=f"http://127.0.0.1:{self.hook.port}/repair")
        return self.starter.start(redis=True, lease_ms=LEASE_MS, role=role, agents=AGENTS, wrap_up_s=1,
                                  ring_cycle_s=5, recording=True, redis_where=where, env=env, tail=tail,
                                  recording_extra=f'queue_log = "{QUEUE_LOG}"\n')  # (the fallback queue's calls)

    # ------------------------------------------------------------ who is who

    def alive(self) -> list[Engine]:
        with self.lock:
            return [e for e in self.engines if e.proc.poll() is None]

    def leader(self) -> Engine | None:
        """The engine that says it leads and routes (status ok), if one does."""
        for engine in self.alive():
            try:
                health = engine.health()
            except OSError:
                continue
            if health.get("role") == "leader" and health.get("status") == "ok":
                return engine
        return None

    def by_role(self, role: str) -> Engine | None:
        for engine in self.alive():
            try:
                if engine.health().get("role") == role:
                    return engine
            except OSError:
                continue
        return None

    def wait_routing(self, timeout: float) -> float | None:
        """Seconds until an engine leads with its AMI, ARI and Redis up (None: not
        within ``timeout``)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.leader() is not None:
                return time.monotonic() - started
            time.sleep(0.1)
        return None

    def rss_mb(self) -> dict[int, float]:
        """Each live engine's resident memory (MB, from /proc), by PID."""
        out = {}
        for engine in self.alive():
            try:
                status = Path(f"/proc/{engine.proc.pid}/status").read_text()
            except OSError:
                continue
            kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            out[engine.proc.pid] = round(kb / 1024, 1)
        return out

    # ------------------------------------------------------------ faults

    def kill_engine(self, role: str, sig: int) -> str:
        engine = self.by_role(role)
        if engine is None:
            return f"no {role} alive: nothing to kill"
        pid = engine.proc.pid
        self.killed.add(pid)
        took = 0.0
        if sig == signal.SIGKILL:
            engine.kill()
        else:
            started = time.monotonic()
            code = engine.stop()
            took = time.monotonic() - started
            if code != 0 or took > 10:
                return f"SIGTERM of {role} pid {pid}: exit {code} after {took:.1f} s (expected 0 within 10 s)"
        with self.lock:
            self.engines.remove(engine)
        return f"{role} pid {pid} " + ("killed" if sig == signal.SIGKILL else f"stopped in {took:.1f} s (exit 0)")

    def restart_engine(self, attempts: int = 3) -> str:
        """An engine started again (as standby when another leads); a start that fails
        (Redis failing over, say) is tried again, ``attempts`` times in all."""
        last = ""
        with self.starting:  # (a scheduled restart and the supervisor's: one at a time, two engines at most)
            for _ in range(attempts):
                if len(self.alive()) >= 2:
                    return "two engines alive already"
                try:
                    engine = self._start_engine(AnyRole("either"))
                except AssertionError as exc:
                    last = str(exc).splitlines()[0]
                    time.sleep(2)
                    continue
                with self.lock:
                    self.engines.append(engine)
                self.restarts += 1
                return f"engine pid {engine.proc.pid} started, {engine.health().get('role')}"
        return f"could not start an engine: {last}"

    def kill_redis_primary(self) -> str:
        name = self.redis.current_primary()
        if name is None or self.redis.procs[name].poll() is not None:
            return "no live Redis primary: nothing to kill"
        self.redis.kill(name)
        return f"Redis {name} (port {self.redis.ports[name]}) killed"

    def restore_redis(self) -> str:
        """The dead server comes back as a replica once the sentinels have promoted the
        other one (up to 30 s)."""
        dead = [n for n in ("primary", "replica") if self.redis.procs[n].poll() is not None]
        if not dead:
            return "both Redis servers alive"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            primary = self.redis.current_primary()
            if primary is not None and primary not in dead:
                break
            time.sleep(0.2)
        else:
            return "the sentinels promoted nobody within 30 s"
        self.redis.restart_as_replica(dead[0])
        return f"Redis {dead[0]} started again as a replica of {self.redis.current_primary()}"

    # ------------------------------------------------------------ the end

    def close(self) -> None:
        self._stop.set()
        if hasattr(self, "_supervisor"):  # (a restart it is making ends first: no engine outlives the soak)
            self._supervisor.join(timeout=90)
        for engine in self.starter.started if hasattr(self, "starter") else []:
            if engine.proc.poll() is None:
                stop_group(engine.proc, signal.SIGTERM, grace=15)
        for proxy in (getattr(self, "ami", None), getattr(self, "ari", None), getattr(self, "hook", None)):
            if proxy is not None:
                proxy.close()
        if hasattr(self, "webhook"):
            self.webhook.close()
        if hasattr(self, "redis"):
            self.redis.close()
        if hasattr(self, "disk"):
            self.disk.close(self.tmp / "archive-kept")


