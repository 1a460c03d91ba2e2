"""`make demo`: the engine on the local Asterisk sandbox with simulated agents and a
trickle of simulated callers (SIPp). Prints what happens until Ctrl-C, then cleans up.

Agents 1001 and 1002 answer; agent 1003 never answers, to show R1's ring-no-answer
(RONA): its offer is cancelled after 2 rings and the call goes to the next agent. Every
30 s the demo makes 1003 ready again through the agent API, so RONA recurs.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SANDBOX = str(ROOT / "contrib" / "sandbox")
CONFIG = ROOT / "config" / "sandbox.toml"
HTTP = "http://127.0.0.1:8480"
# The demo's own admin token for this run (R14: every request needs a role); given to
# the engine through the environment, never written down.
TOKEN = secrets.token_urlsafe(24)
SHOWN = re.compile(r"offer call|announce|answered:|RONA|cancelled|hung up|agent \d+ is|overflow|hold|ERROR|WARNING|running")


def spawn(args: list[str], **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(args, start_new_session=True, text=True, **kw)  # type: ignore[call-overload]


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def sipp(*args: str) -> subprocess.Popen[str]:
    return spawn([SANDBOX, "sipp", *args, "-nostdin"], stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)


def ari(method: str, path: str) -> bytes:
    req = urllib.request.Request("http://127.0.0.1:8088/ari" + path, method=method)
    req.add_header("Authorization", "Basic Y3RpOmN0aS1zYW5kYm94")  # the sandbox's cti:cti-sandbox
    try:
        return urllib.request.urlopen(req, timeout=3).read()
    except urllib.error.HTTPError:
        return b""


def post(path: str) -> None:
    req = urllib.request.Request(HTTP + path, method="POST", data=b"{}", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    try:
        urllib.request.urlopen(req, timeout=3).read()
    except OSError:
        pass


def show(engine: subprocess.Popen[str]) -> None:
    assert engine.stdout is not None
    for line in engine.stdout:
        if SHOWN.search(line):
            print(line.rstrip().split(" ", 2)[-1], flush=True)


def main() -> int:
    procs: list[subprocess.Popen[str]] = []
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        for agent, port, scenario in (
            ("1001", 5071, "agent_answer.xml"),
            ("1002", 5072, "agent_answer.xml"),
            ("1003", 5073, "agent_noanswer.xml"),
        ):
            procs.append(sipp("-sf", scenario, "-i", "127.0.0.1", "-p", str(port),
                              "-mp", str(20000 + (port - 5070) * 100)))
        engine = spawn([sys.executable, "-m", "cti.cli", "run", "--config", str(CONFIG)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT,
                       env={**os.environ, "CTI_ADMIN_TOKEN": TOKEN})
        procs.append(engine)
        time.sleep(3)
        # One new caller every 7 s, each staying 20 s from the engine's answer (music on
        # hold, the agent-ID announcement, then talk); at most 500 calls.
        procs.append(sipp("-sf", "caller.xml", "-i", "127.0.0.1", "-p", "5090", "-mp", "31000",
                          "-s", "100", "-r", "1", "-rp", "7000", "-m", "500", "-d", "20000",
                          "127.0.0.1:5060"))
        print("demo running: agents 1001, 1002 answer; 1003 never answers. Ctrl-C to stop.")
        last_ready = time.monotonic()
        threading.Thread(target=show, args=(engine,), daemon=True).start()
        while engine.poll() is None:
            if time.monotonic() - last_ready > 30:
                post("/agents/1003/ready")
                last_ready = time.monotonic()
            time.sleep(0.2)
        print(f"engine exited with {engine.returncode}")
        return 1
    except KeyboardInterrupt:
        print("\nstopping the demo")
        return 0
    finally:
        for proc in reversed(procs):
            stop(proc)
        # The simulated phones are gone: hang up what they leave in the sandbox.
        try:
            left = json.loads(ari("GET", "/channels"))
            for channel in left:
                ari("DELETE", f"/channels/{channel['id']}")
            print(f"hung up {len(left)} simulated call legs left in the sandbox")
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main())
