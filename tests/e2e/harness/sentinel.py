"""A Redis that fails over, for the tests: a primary, a replica and three sentinels
(Debian's redis-server and redis-sentinel, installed by contrib/redis), each on a free
loopback port, in a directory of the test. The processes are the test's own: stopped
by their PIDs at its end. Missing programs: the test fails."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.e2e.harness.sandbox import free_port
from tests.e2e.harness.sipp import stop_group

SERVICE = "cti"


class RedisGroup:
    def __init__(self, tmp: Path) -> None:
        self.dir = tmp / "redis-group"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}
        for program in ("redis-server", "redis-sentinel"):
            if shutil.which(program) is None:
                pytest.fail(f"{program} is needed (contrib/redis up installs Debian's package)")

    def _spawn(self, name: str, program: str, conf: str) -> None:
        path = self.dir / f"{name}.conf"
        path.write_text(conf)  # sentinels rewrite their file: it is theirs
        log = (self.dir / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen([program, str(path)], stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, cwd=self.dir, start_new_session=True)

    def start(self) -> RedisGroup:
        for name in ("primary", "replica", "s1", "s2", "s3"):
            self.ports[name] = free_port()
        base = "bind 127.0.0.1\nprotected-mode yes\ndaemonize no\nsave \"\"\nappendonly no\n"
        self._spawn("primary", "redis-server", base + f"port {self.ports['primary']}\ndir {self.dir}\n"
                    f"dbfilename primary.rdb\n")
        self._wait(lambda: self.client("primary").ping(), "the primary")
        self._spawn("replica", "redis-server", base + f"port {self.ports['replica']}\ndir {self.dir}\n"
                    f"dbfilename replica.rdb\nreplicaof 127.0.0.1 {self.ports['primary']}\n")
        self._wait(lambda: self.client("replica").info("replication").get("master_link_status") == "up",
                   "the replica in sync")
        for name in ("s1", "s2", "s3"):
            self._spawn(name, "redis-sentinel",
                        f"bind 127.0.0.1\nport {self.ports[name]}\ndaemonize no\ndir {self.dir}\n"
                        f"sentinel monitor {SERVICE} 127.0.0.1 {self.ports['primary']} 2\n"
                        f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                        f"sentinel failover-timeout {SERVICE} 5000\n"
                        f"sentinel parallel-syncs {SERVICE} 1\n")

        def watching() -> bool:  # each sentinel knows the replica and the two others
            for name in ("s1", "s2", "s3"):
                info = self.client(name).sentinel_master(SERVICE)
                if int(info["num-slaves"]) < 1 or int(info["num-other-sentinels"]) < 2:
                    return False
            return True

        self._wait(watching, "the sentinels watching the primary, its replica and each other", 30)
        return self

    def client(self, name: str) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.ports[name], socket_timeout=2, socket_connect_timeout=2)

    def sentinels_toml(self) -> str:
        listed = ", ".join(f'"127.0.0.1:{self.ports[k]}"' for k in ("s1", "s2", "s3"))
        return f'sentinels = [{listed}]\nservice = "{SERVICE}"\n'

    def primary_port(self) -> int:
        """The primary's port as the sentinels name it now."""
        for name in ("s1", "s2", "s3"):
            try:
                _, port = self.client(name).sentinel_get_master_addr_by_name(SERVICE)
                return int(port)
            except (redis.RedisError, OSError):
                continue
        raise AssertionError("no sentinel answers")

    def kill_primary(self) -> None:
        """kill -9 of the primary's process (by its PID)."""
        proc = self.procs["primary"]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                stop_group(proc)

    @staticmethod
    def _wait(predicate: object, what: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                if predicate():  # type: ignore[operator]
                    return
            except (redis.RedisError, OSError, KeyError) as exc:
                last = exc
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last error: {last})")


class OwnRedis(RedisGroup):
    """One redis-server of the test's own (append-only file, like contrib/redis), for a
    test that restarts Redis under the engine without touching the server the other
    tests, running at the same time, share."""

    def start(self) -> OwnRedis:
        self.ports["own"] = self.ports.get("own") or free_port()
        self._spawn("own", "redis-server", f"bind 127.0.0.1\nprotected-mode yes\ndaemonize no\nport {self.ports['own']}\n"
                    f"dir {self.dir}\nappendonly yes\nappendfsync everysec\nsave \"\"\n")
        self._wait(lambda: self.client("own").ping(), "the test's own redis-server")
        return self

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports['own']}/0"

    def restart(self) -> None:
        """SIGTERM (Redis writes its append-only file and exits), a second away (as a
        restart takes: the engine's connections fail, not just its pooled one), then
        started again on the same port with the same data."""
        stop_group(self.procs["own"], signal.SIGTERM, grace=10)
        time.sleep(1.0)
        self.start()
