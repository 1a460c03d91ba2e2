"""The Asterisk sandbox as the tests see it: where it is, its ARI, and the SIPp
processes a test starts in it (stopped by their own process group, never by name)."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.harness.instance import ASTERISK_SPOOL, HOST, INSTANCE
from tests.e2e.harness.sipp import Sipp, stop_group

ROOT = Path(__file__).resolve().parents[3]
SANDBOX = ROOT / "contrib" / "sandbox"
ARI = f"http://{HOST}:8088/ari"
ARI_AUTH = "Basic " + base64.b64encode(b"cti:cti-sandbox").decode()
SANDBOX_ROOT = Path(subprocess.run([str(SANDBOX), "root"], capture_output=True,
                                   text=True).stdout.strip() or "/var/cache/cti-sandbox/root")
SPOOL = SANDBOX_ROOT / ASTERISK_SPOOL.lstrip("/")
# R4: what the dialplan's fallback queue records while no engine leads (extensions.conf,
# [cti-fallback-record]), and the queue_log that names those calls
FALLBACK_SPOOL = SPOOL / "fallback"
QUEUE_LOG = SANDBOX_ROOT / ("var/log/asterisk" if INSTANCE == 0 else f"var/log/asterisk-w{INSTANCE}") / "queue_log"
AGENT_PORTS = {"1001": 5071, "1002": 5072, "1003": 5073, "1004": 5074, "1005": 5075, "1006": 5076}
# Node b (contrib/sandbox node-b up): a second Asterisk on 127.0.0.2; agents 1005 and
# 1006 have their contacts there (and only there), callers reach it from 127.0.0.4.
NODE_B_IP = "127.0.0.2"
ARI_B = f"http://{NODE_B_IP}:8088/ari"
SPOOL_B = SANDBOX_ROOT / "var/spool/asterisk-b/recording/cti"
ON_NODE_B = {"1005", "1006"}


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


def asterisk_cli(command: str) -> str:
    """An Asterisk CLI command on this process's instance (``asterisk -rx``)."""
    conf = [] if INSTANCE == 0 else ["-C", f"/etc/asterisk-w{INSTANCE}/asterisk.conf"]
    return subprocess.run([str(SANDBOX), "exec", "asterisk", *conf, "-rx", command], capture_output=True,
                          text=True, timeout=20, check=True).stdout


def asterisk_stop() -> None:
    """Stop this process's Asterisk (the other instances go on)."""
    args = ["stop"] if INSTANCE == 0 else ["instance", str(INSTANCE), "down"]
    subprocess.run([str(SANDBOX), *args], check=True, capture_output=True, timeout=60)


def asterisk_start() -> None:
    args = ["up"] if INSTANCE == 0 else ["instance", str(INSTANCE), "up"]
    subprocess.run([str(SANDBOX), *args], check=True, capture_output=True, timeout=120)


HOLD_BRIDGE = "cti-hold"  # the engine's holding bridge (cti/calls/media.py)

class Sandbox:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._procs: list[subprocess.Popen[str]] = []
        self._port = 5100
        # Agents started before the first call or engine are waited for together
        # (Asterisk qualifies each contact once a second: one wait, not one per agent).
        self._pending: list[tuple[str, Sipp]] = []
        self._deferring = True

    def ari(self, method: str, path: str, base: str = ARI) -> Any:
        req = urllib.request.Request(base + path, method=method, headers={"Authorization": ARI_AUTH})
        with urllib.request.urlopen(req, timeout=5) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def channels(self) -> list[dict[str, Any]]:
        """The calls' channels: not the music source of the engine's holding bridge (an
        ``Announcer/`` channel that lasts as long as the bridge, issue 32)."""
        return [ch for ch in self.ari("GET", "/channels") if not str(ch.get("name", "")).startswith("Announcer/")]

    def bridges(self) -> list[dict[str, Any]]:
        """The calls' bridges: not the engine's holding bridge (made once, kept)."""
        return [b for b in self.ari("GET", "/bridges") if b.get("id") != HOLD_BRIDGE]

    def assert_no_channels(self, timeout: float = 10.0) -> None:
        wait_for(lambda: not self.channels(), timeout, "every channel to be gone from Asterisk")

    def sipp(self, name: str, *args: str) -> Sipp:
        if not name.startswith("agent"):
            self.settle()  # traffic: every agent started so far is online first
        log = self.tmp / f"sipp-{name}.log"
        out = log.open("w")
        proc = subprocess.Popen(
            [str(SANDBOX), "sipp", *args, "-nostdin"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, start_new_session=True,
        )
        self._procs.append(proc)
        return Sipp(proc, name, log)

    def agent(self, agent_id: str, scenario: str = "agent_answer.xml", *extra: str) -> Sipp:
        """``extra``: more SIPp arguments (``-set ring_ms 4000`` rings 4 s before answering)."""
        port = AGENT_PORTS[agent_id]
        sipp = self.sipp(
            f"agent{agent_id}", "-sf", scenario, "-i", HOST, "-p", str(port),
            "-mp", str(20000 + (port - 5070) * 100), "-trace_err", *extra,
        )
        self._pending.append((agent_id, sipp))
        if not self._deferring:
            self.settle()
        return sipp

    def settle(self) -> None:
        """Wait until Asterisk sees every agent started so far online (it qualifies the
        contacts every second); from the first call or engine on, each new agent is
        waited for as it starts."""
        self._deferring = False
        pending, self._pending = self._pending, []

        def online() -> bool:
            for agent_id, sipp in pending:
                assert sipp.proc.poll() is None, f"SIPp agent {agent_id} exited:\n{sipp.output()}"
            return all(self.ari("GET", f"/endpoints/PJSIP/agent{agent_id}",
                                ARI_B if agent_id in ON_NODE_B else ARI)["state"] == "online"
                       for agent_id, _ in pending)

        if pending:
            wait_for(online, 10, f"agents {', '.join(a for a, _ in pending)} to be online in Asterisk")

    def call_node_b(self, exten: str = "100", talk_ms: int = 3000, calls: int = 1, rate: float = 1) -> Sipp:
        """Callers of node b: from 127.0.0.4 (node b's identify) to 127.0.0.2:5060."""
        return self.call(exten, talk_ms, calls, rate, source="127.0.0.4", node=NODE_B_IP)

    def call(self, exten: str = "100", talk_ms: int = 3000, calls: int = 1, rate: float = 1,
             source: str = HOST, node: str = HOST) -> Sipp:
        self._port += 1
        return self.sipp(
            f"caller{self._port}", "-sf", "caller.xml", "-i", source,
            "-p", str(self._port), "-mp", str(30000 + (self._port - 5100) * 100),
            "-s", exten, "-m", str(calls), "-r", str(rate), "-d", str(talk_ms),
            "-trace_err", f"{node}:5060",
        )

    def call_scenario(self, scenario: str, exten: str = "100", talk_ms: int = 3000) -> Sipp:
        """One caller of this instance running SIPp scenario ``scenario`` (a file of the
        sandbox's scenario directory: see ``sipp.write_scenario``)."""
        self._port += 1
        return self.sipp(
            f"caller{self._port}", "-sf", scenario, "-i", HOST, "-p", str(self._port),
            "-mp", str(30000 + (self._port - 5100) * 100), "-s", exten, "-m", "1", "-d", str(talk_ms),
            "-trace_err", f"{HOST}:5060",
        )

    def close(self) -> None:
        for proc in self._procs:
            stop_group(proc)

    def clear(self) -> None:
        for kind in ("channels", "bridges"):  # (the holding bridge too: each test starts without it)
            items = list(self.ari("GET", f"/{kind}"))
            for item in items:
                try:
                    self.ari("DELETE", f"/{kind}/{item['id']}")
                except urllib.error.HTTPError:
                    pass
        wait_for(lambda: not self.channels(), 10, "leftover channels to go")
        # Fallback recordings of calls before this test (the dialplan records every call
        # of its fallback queue): not this test's, an engine here would archive them.
        for leftover in FALLBACK_SPOOL.glob("*.wav"):
            leftover.unlink(missing_ok=True)
