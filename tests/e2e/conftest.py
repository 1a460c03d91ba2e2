"""e2e harness: real SIP calls from SIPp through the real Asterisk sandbox to the
running engine (`cti run`, a subprocess). Needs `contrib/sandbox up` (make test does
it); without the sandbox these tests fail, they never skip."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = ROOT / "contrib" / "sandbox"
ARI = "http://127.0.0.1:8088/ari"
ARI_AUTH = "Basic " + base64.b64encode(b"cti:cti-sandbox").decode()
ADMIN_TOKEN = "e2e-admin-token-not-a-secret"
READER_TOKEN = "e2e-recordings-reader-not-a-secret"
SANDBOX_ROOT = Path(subprocess.run([str(ROOT / "contrib" / "sandbox"), "root"], capture_output=True,
                                   text=True).stdout.strip() or "/var/cache/cti-sandbox/root")
SPOOL = SANDBOX_ROOT / "var/spool/asterisk/monitor/cti"  # Asterisk's spool, seen from here
AGENT_PORTS = {"1001": 5071, "1002": 5072, "1003": 5073, "1004": 5074}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def stop_group(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, grace: float = 5.0) -> None:
    """Stop a process we started, and its children, by its own process group."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(grace)
    except ProcessLookupError:
        pass


@dataclass
class Sipp:
    proc: subprocess.Popen[str]
    name: str
    log: Path

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop_group(self.proc)
            raise AssertionError(f"SIPp {self.name} did not finish in {timeout:g} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


class Sandbox:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._procs: list[subprocess.Popen[str]] = []
        self._port = 5100

    def ari(self, method: str, path: str) -> Any:
        req = urllib.request.Request(ARI + path, method=method, headers={"Authorization": ARI_AUTH})
        with urllib.request.urlopen(req, timeout=5) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def channels(self) -> list[dict[str, Any]]:
        return list(self.ari("GET", "/channels"))

    def bridges(self) -> list[dict[str, Any]]:
        return list(self.ari("GET", "/bridges"))

    def assert_no_channels(self, timeout: float = 10.0) -> None:
        wait_for(lambda: not self.channels(), timeout, "every channel to be gone from Asterisk")

    def sipp(self, name: str, *args: str) -> Sipp:
        log = self.tmp / f"sipp-{name}.log"
        out = log.open("w")
        proc = subprocess.Popen(
            [str(SANDBOX), "sipp", *args, "-nostdin"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, start_new_session=True,
        )
        self._procs.append(proc)
        return Sipp(proc, name, log)

    def agent(self, agent_id: str, scenario: str = "agent_answer.xml") -> Sipp:
        port = AGENT_PORTS[agent_id]
        sipp = self.sipp(
            f"agent{agent_id}", "-sf", scenario, "-i", "127.0.0.1", "-p", str(port),
            "-mp", str(20000 + (port - 5070) * 100), "-trace_err",
        )
        # Asterisk qualifies agent contacts every second: wait until it sees this one.
        def online() -> bool:
            assert sipp.proc.poll() is None, f"SIPp agent {agent_id} exited:\n{sipp.output()}"
            return bool(self.ari("GET", f"/endpoints/PJSIP/agent{agent_id}")["state"] == "online")

        wait_for(online, 10, f"agent{agent_id} to be online in Asterisk")
        return sipp

    def call(self, exten: str = "100", talk_ms: int = 3000, calls: int = 1, rate: float = 1) -> Sipp:
        self._port += 1
        return self.sipp(
            f"caller{self._port}", "-sf", "caller.xml", "-i", "127.0.0.1",
            "-p", str(self._port), "-mp", str(30000 + (self._port - 5100) * 100),
            "-s", exten, "-m", str(calls), "-r", str(rate), "-d", str(talk_ms),
            "-trace_err", "127.0.0.1:5060",
        )

    def close(self) -> None:
        for proc in self._procs:
            stop_group(proc)

    def clear(self) -> None:
        for kind, items in (("channels", self.channels()), ("bridges", self.bridges())):
            for item in items:
                try:
                    self.ari("DELETE", f"/{kind}/{item['id']}")
                except urllib.error.HTTPError:
                    pass
        wait_for(lambda: not self.channels(), 10, "leftover channels to go")


class AriObserver:
    """Every ARI event in the sandbox, seen through an app of its own subscribed to
    everything: what Asterisk really did (playbacks, bridges, holds)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(),), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise AssertionError("the ARI observer could not connect")

    async def _run(self) -> None:
        import aiohttp

        self._stop = asyncio.Event()
        url = "ws://127.0.0.1:8088/ari/events?app=cti-observer&subscribeAll=true"
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url, headers={"Authorization": ARI_AUTH}) as ws:
                self._ready.set()
                reader = asyncio.ensure_future(self._read(ws))
                await self._stop.wait()
                reader.cancel()

    async def _read(self, ws: Any) -> None:
        async for msg in ws:
            self.events.append(json.loads(msg.data))

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [ev for ev in list(self.events) if ev.get("type") == kind]

    def agent_peaks(self) -> dict[str, int]:
        """Per agent endpoint, the most channels it ever had at once (Asterisk's view)."""
        active: dict[str, int] = {}
        peak: dict[str, int] = {}
        for ev in list(self.events):
            name = (ev.get("channel") or {}).get("name", "")
            if not name.startswith("PJSIP/agent"):
                continue
            agent = name.split("-")[0]
            if ev["type"] == "ChannelCreated":
                active[agent] = active.get(agent, 0) + 1
                peak[agent] = max(peak.get(agent, 0), active[agent])
            elif ev["type"] == "ChannelDestroyed":
                active[agent] -= 1
        return peak


@pytest.fixture
def observer(sandbox_running: None) -> Iterator[AriObserver]:
    obs = AriObserver()
    yield obs
    obs.close()


@pytest.fixture(scope="session")
def sandbox_running() -> None:
    result = subprocess.run([str(SANDBOX), "status"], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail("the Asterisk sandbox is not running: `contrib/sandbox up` (make test does it)")


@pytest.fixture
def sandbox(sandbox_running: None, tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path)
    box.clear()  # whatever ran before (a demo, a failed test) leaves nothing here
    yield box
    box.close()
    box.clear()


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

    def health(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5) as resp:
                return dict(json.loads(resp.read()))
        except urllib.error.HTTPError as exc:
            return dict(json.loads(exc.read()))


def engine_config(
    http_port: int,
    agents: list[str],
    ring_cycle_s: float = 5,
    answer_within_rings: int = 2,
    wrap_up_s: float = 1,
    login_at_start: bool = True,
    announce: bool = False,
    extra: str = "",
) -> str:
    """A one-queue engine config, or, with ``extra``, the sandbox connection settings
    followed by ``extra`` (queues, agents, routes) as given."""
    header = f"""
log_level = "INFO"
[asterisk]
ari_user = "cti"
ari_password = "cti-sandbox"
ami_user = "cti"
ami_secret = "cti-sandbox"
[http]
port = {http_port}
admin_token = "{ADMIN_TOKEN}"
"""
    if extra:
        return header + extra
    text = header + f"""
[[queues]]
name = "support"
ring_cycle_s = {ring_cycle_s}
answer_within_rings = {answer_within_rings}
wrap_up_s = {wrap_up_s}
announce_agent_id = {str(announce).lower()}
"""
    for agent_id in agents:
        text += f"""
[[agents]]
id = "{agent_id}"
endpoint = "PJSIP/agent{agent_id}"
queues = ["support"]
login_at_start = {str(login_at_start).lower()}
"""
    return text


REDIS_URL = "redis://127.0.0.1:6390/0"


@pytest.fixture
def start_engine(sandbox_running: None, tmp_path: Path) -> Iterator[Callable[..., Engine]]:
    started: list[Engine] = []
    prefix = f"e2e-{tmp_path.name}-{int(time.time())}:"

    def start(redis: bool = False, lease_ms: int = 1500, role: str = "leader",
              cluster: str | None = None, node: str = "local", app: str = "cti",
              recording: bool = False, **kwargs: Any) -> Engine:
        port = free_port()
        cfg = tmp_path / f"engine-{len(started)}.toml"
        text = engine_config(port, **kwargs).replace('ari_user = "cti"', f'app = "{app}"\nari_user = "cti"', 1)
        if cluster:
            text += f'\n[cluster]\nrole = "{cluster}"\nnode = "{node}"\n'
            redis = True
        if recording:  # one archive per test (per node in a cluster), kept across restarts
            archive = tmp_path / ("archive" if cluster != "adapter" else f"archive-{node}")
            text += (f'\n[recording]\nspool_dir = "{SPOOL}"\narchive_dir = "{archive}"\n'
                     f'reader_token = "{READER_TOKEN}"\naudit_interval_s = 2\n')
        if redis:  # every engine of one test shares the test's own keys
            text += (f'\n[redis]\nurl = "{REDIS_URL}"\nprefix = "{prefix}"\n'
                     f'node_id = "node-{len(started)}"\nlease_ms = {lease_ms}\nsnapshot_every = 20\n')
        cfg.write_text(text)
        log_path = tmp_path / f"engine-{len(started)}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "cti.cli", "run", "--config", str(cfg)],
            stdout=log_path.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, cwd=ROOT, start_new_session=True,
        )
        engine = Engine(proc, port, log_path, cfg)
        started.append(engine)

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

    yield start
    for engine in started:
        if not engine._stopped:
            engine.stop()
