"""`make demo` as a newcomer meets it: ``scripts/demo.py`` prints the addresses of the
wallboard, the agent desk and the reports with credentials made for that run; signed
in to the wallboard in Chromium with what it printed, a supervisor sees a call
answered (R13: the live wallboard; R14: the run's own supervisor account and agent
PINs, on no file of the repository). Stopped by its process group, the demo leaves no
call in the sandbox and none of its processes behind."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import free_port, stop_group, wait_for
from tests.e2e.harness.browser import Page

pytestmark = pytest.mark.instance0  # the demo runs on the sandbox's node a

ROOT = Path(__file__).resolve().parents[2]
DEMO_ARI = "http://127.0.0.1:8088/ari"  # node a, where the demo's calls are
DEMO_ARI_AUTH = "Basic " + base64.b64encode(b"cti:cti-sandbox").decode()
BANNER = re.compile(
    r"wallboard\s+(?P<wallboard>http://\S+/wallboard)\s+sign in: (?P<name>\S+) / (?P<password>\S+)\n"
    r"\s+agent desk\s+(?P<desk>http://\S+/agent)\s+sign in: (?P<agent>\d+) / (?P<pin>\d+)\s.*\n"
    r"\s+reports\s+(?P<reports>http://\S+/reports)\s+sign in: (?P=name) / (?P=password)\n")


def demo_ari(path: str) -> Any:
    req = urllib.request.Request(DEMO_ARI + path, headers={"Authorization": DEMO_ARI_AUTH})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def status(url: str, body: dict[str, str] | None = None) -> int:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def children(pid: int) -> set[int]:
    try:
        return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_demo_prints_addresses_and_one_time_credentials_and_the_wallboard_shows_a_call_answered(
        sandbox_running: None, browser: Any) -> None:
    python = ROOT / ".venv" / "bin" / "python"
    port = free_port()
    demo = subprocess.Popen(
        [str(python if python.exists() else sys.executable), str(ROOT / "scripts" / "demo.py"),
         "--port", str(port), "--minutes", "10"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        start_new_session=True)
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(iter(demo.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    started: set[int] = set()
    try:
        def printed() -> re.Match[str] | None:
            if demo.poll() is not None:
                raise AssertionError(f"the demo exited {demo.returncode}:\n{''.join(out)}")
            return BANNER.search("".join(out))
        banner = wait_for(printed, 90, "the demo's addresses and credentials")
        base = f"http://127.0.0.1:{port}"
        assert (banner["wallboard"], banner["desk"], banner["reports"]) == (
            f"{base}/wallboard", f"{base}/agent", f"{base}/reports")
        name, password, agent, pin = banner["name"], banner["password"], banner["agent"], banner["pin"]
        # One-time: the password is written to no file of the repository (nor its config).
        found = subprocess.run(["git", "grep", "-q", "-F", "--untracked", password], cwd=ROOT, timeout=30)
        assert found.returncode == 1, "the printed password is in the repository's files"
        # The three pages are served; the agent's PIN signs in (the desk's sign-in).
        assert [status(u) for u in (banner["wallboard"], banner["desk"], banner["reports"])] == [200, 200, 200]
        assert status(f"{base}/auth/login", {"name": agent, "secret": pin}) == 200
        assert status(f"{base}/auth/login", {"name": agent, "secret": pin + "0"}) == 401
        started = children(demo.pid)  # the SIPp agents and callers, the engine

        page = Page(browser, base)
        page.open("/wallboard")
        page.sign_in(name, password)

        def talking() -> str | None:
            return next((a for a in ("1001", "1002") if "On call" in page.text(f"agent-{a}")), None)
        on_call = page.until(talking, 120, "an agent shown on a call on the wallboard")
        # Asterisk holds that call: the caller's and the agent's legs in one bridge.
        wait_for(lambda: [b for b in demo_ari("/bridges") if len(b["channels"]) >= 2], 10,
                 "the answered call bridged in Asterisk")

        def answered() -> int:
            """Today's "Offered / Answered / Abandoned" on the support tile (read in one
            step: the page redraws its tiles on every update)."""
            shown = page.driver.execute_script(
                "const b = document.querySelector('#queue-support .fig-today b'); return b ? b.textContent : '';")
            counts = str(shown).split(" / ")
            return int(counts[1]) if len(counts) == 3 and counts[1].isdigit() else 0
        assert "On call" in page.text(f"agent-{on_call}")
        # The tile counts a call answered once it is handled to its end (the callers talk 20-45 s).
        assert page.until(answered, 90, "today's answered count above 0 on the support tile") >= 1
        page.shot("demo-wallboard")
        started |= children(demo.pid)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGTERM)  # the demo's own group: it stops what it started
        try:
            demo.wait(60)
        except subprocess.TimeoutExpired:
            stop_group(demo, signal.SIGKILL)
            raise AssertionError(f"the demo did not stop within 60 s:\n{''.join(out)[-3000:]}") from None
        reader.join(10)
    log = "".join(out)
    assert demo.returncode == 0, log[-3000:]
    assert "stopping the demo" in log
    assert started and not [p for p in started if alive(p)], "a process the demo started is still running"
    wait_for(lambda: not demo_ari("/channels"), 15, "no channel left in the sandbox")
    time.sleep(0.5)
    assert not demo_ari("/channels")
