"""The engine under test: `cti run` as a subprocess with a config written per test,
and its HTTP API, log and health as a user sees them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.harness.sandbox import ASTERISK_SPOOL, ROOT, SANDBOX_ROOT, SPOOL, free_port, wait_for
from tests.e2e.harness.sipp import stop_group
from tests.e2e.harness.toml import ADMIN_TOKEN, READER_TOKEN, engine_config

REDIS_URL = "redis://127.0.0.1:6390/0"


@dataclass
class Engine:
    proc: subprocess.Popen[str]
    port: int
    log_path: Path
    config_path: Path
    _stopped: bool = field(default=False)

    def get(self, path: str) -> Any:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}",
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def text(self, path: str) -> str:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}",
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return str(resp.read().decode())

    def recordings(self, path: str = "") -> Any:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/recordings{path}",
                                     headers={"Authorization": f"Bearer {READER_TOKEN}",
                                              "X-CTI-User": "e2e-auditor"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
            return json.loads(body) if resp.headers.get_content_type() == "application/json" else body

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", method="POST",
            data=json.dumps(body or {}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def agent(self, agent_id: str) -> dict[str, Any]:
        return dict(self.get(f"/agents/{agent_id}"))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def lines(self, pattern: str, wait: float = 10.0) -> list[re.Match[str]]:
        """Log lines matching ``pattern``, waiting up to ``wait`` s for a first one (a
        SIPp caller exits as soon as its BYE is answered, before the engine logs)."""
        deadline = time.monotonic() + wait
        while True:
            found = list(re.finditer(pattern, self.log()))
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def stop(self) -> int:
        stop_group(self.proc, signal.SIGTERM, grace=15)
        self._stopped = True
        return int(self.proc.returncode)

    def kill(self) -> None:
        """kill -9: no cleanup, no goodbye."""
        stop_group(self.proc, signal.SIGKILL)
        self._stopped = True

    def health(self, details: bool = False) -> dict[str, Any]:
        """``/health`` as anyone reads it (up or down), or with ``details`` (reconnects,
        last errors: shown to supervisors and above) as the admin."""
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if details else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{self.port}/health",
                                                               headers=headers), timeout=5) as resp:
                return dict(json.loads(resp.read()))
        except urllib.error.HTTPError as exc:
            return dict(json.loads(exc.read()))


class EngineStarter:
    """Starts engines for one test (each with its config, log and HTTP port; those of
    one test share the test's own Redis keys) and stops them at its end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.started: list[Engine] = []
        self.prefix = f"e2e-{tmp.name}-{int(time.time())}:"

    def start(self, redis: bool = False, lease_ms: int = 1500, role: str = "leader",
              cluster: str | None = None, node: str = "local", app: str = "cti",
              recording: bool = False, env: dict[str, str] | None = None, tail: str = "",
              snapshot_every: int = 20, redis_ca: str | None = None, port: int | None = None,
              redis_where: str | None = None, peers: str = "", spool: Path | None = None,
              recording_extra: str = "", **kwargs: Any) -> Engine:
        """``env``: environment overrides (CTI_AMI_PORT=... to go through a fault
        proxy); ``tail``: TOML appended to the config (a [deadlines] table...);
        ``redis_where``: the [redis] keys that say where Redis is (sentinels...),
        instead of the shared server's url; ``recording_extra``: more [recording] keys."""
        port = port or free_port()  # the same port: a restart the pages reconnect to
        cfg = self.tmp / f"engine-{len(self.started)}.toml"
        text = engine_config(port, **kwargs).replace('ari_user = "cti"', f'app = "{app}"\nari_user = "cti"', 1)
        if cluster:
            text += f'\n[cluster]\nrole = "{cluster}"\nnode = "{node}"\n{peers}'
            redis = True
        if recording:  # one archive per test (per node in a cluster), kept across restarts
            archive = self.tmp / ("archive" if cluster != "adapter" else f"archive-{node}")
            inside = f'asterisk_spool_dir = "{ASTERISK_SPOOL if spool is None else "/" + str(spool.relative_to(SANDBOX_ROOT))}"\n'
            text += (f'\n[recording]\nspool_dir = "{spool or SPOOL}"\narchive_dir = "{archive}"\n{inside}'
                     f'reader_token = "{READER_TOKEN}"\naudit_interval_s = 2\n{recording_extra}')
        if redis:  # every engine of one test shares the test's own keys
            where = redis_where if redis_where is not None else f'url = "{REDIS_URL}"\n'
            text += (f'\n[redis]\n{where}prefix = "{self.prefix}"\n'
                     f'node_id = "node-{len(self.started)}"\nlease_ms = {lease_ms}\nsnapshot_every = {snapshot_every}\n')
            if redis_ca is not None:
                text += f'ca_file = "{redis_ca}"\n'
        if "[store]" not in tail:  # one store of records per test, kept across its restarts
            tail += f'\n[store]\nurl = "sqlite:{self.tmp / "cti.sqlite"}"\n'
        if "[audit]" not in tail:  # one audit log per test, its key outside the log's directory
            tail += f'\n[audit]\nlog = "{self.tmp / "audit" / "audit.log"}"\nkey_file = "{self.tmp / "audit.key"}"\n'
        if "[notifications]" not in tail:  # one outbox per test, kept across its restarts
            tail += f'\n[notifications]\noutbox_path = "{self.tmp / "outbox.sqlite"}"\n'
        cfg.write_text(text + tail)
        log_path = self.tmp / f"engine-{len(self.started)}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "cti.cli", "run", "--config", str(cfg)],
            stdout=log_path.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, cwd=ROOT, start_new_session=True, env={**os.environ, **(env or {})},
        )
        engine = Engine(proc, port, log_path, cfg)
        self.started.append(engine)

        def healthy() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"engine exited {proc.returncode}:\n{engine.log()}")
            try:
                health = engine.health()
            except OSError:
                return False
            return health["role"] == role and (role == "standby" or health["status"] == "ok")

        wait_for(healthy, 20, f"the engine to report healthy as {role}")
        return engine

    def stop_all(self) -> None:
        for engine in self.started:
            if not engine._stopped:
                engine.stop()
