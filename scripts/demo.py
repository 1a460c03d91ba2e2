"""`make demo`: the engine on the local Asterisk sandbox, with simulated agents and a
trickle of simulated callers (SIPp), to look at in a browser.

It prints, first, the addresses of the wallboard, the agent desk and the reports and
the credentials to sign in with: a supervisor account and the agents' PINs made for
this run only (random; hashed with the engine's own argon2 ``hash_secret`` into a
configuration written to a temporary directory, never into the repository). Then the
calls, one line each step:

- callers dial the IVR (200) and press keys as a phone does (RFC 2833 DTMF): a
  consultation (1), a service request (2), a fault report (3), a complaint (4 then 1),
  a suggestion (4 then 2); now and then an emergency (0); every ten minutes a burst of
  callers on the direct number (100) raises the emergency plan's level III;
- agents 1001 and 1002 answer; 1003 never answers, so its offers ring out (R1's RONA)
  and the call goes to the next agent; every 30 s the demo makes 1003 ready again;
- now and then an agent puts its caller on hold for a few seconds, and the action
  kinds get a disposition through the API that becomes a work order, which the demo's
  department receives (its webhook, in this process).

The calls stop by themselves after ``--minutes`` (60 by default); Ctrl-C (or SIGTERM)
stops the demo sooner. Everything it started is stopped by its own process group, the
call legs left in the sandbox are hung up, and the temporary directory, the run's
Redis keys and SIPp scenarios are removed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # (run as a script: the project's packages)

from cti.web.accounts import hash_secret, token_digest  # noqa: E402

SANDBOX = str(ROOT / "contrib" / "sandbox")
CONFIG = ROOT / "config" / "sandbox.toml"
ARI = "http://127.0.0.1:8088/ari"
ARI_AUTH = "Basic " + base64.b64encode(b"cti:cti-sandbox").decode()  # the sandbox's own (loopback)
AGENTS = {"1001": (5071, "agent_answer.xml"), "1002": (5072, "agent_answer.xml"),
          "1003": (5073, "agent_noanswer.xml")}
# What callers press in the IVR (config/sandbox.toml), and how often.
KINDS = [("1", "consultation", 30), ("2", "service request", 20), ("3", "fault report", 25),
         ("41", "complaint", 12), ("42", "suggestion", 5)]
CALLER_PORTS = range(5300, 5380)  # one SIPp caller process per call, each its own ports
NAMES = ["王小明", "陳美玲", "林志強", "張淑芬", "李建國", "黃雅婷"]
ADDRESSES = ["北區和平路 1 號", "南區中山路 88 號", "東區民生街 12 號", "西區光復路 5 號"]
CONTENT = {"service-request": "申請過戶 transfer of ownership", "fault-report": "燃氣表漏氣 gas meter leaking",
           "complaint": "維修人員遲到 the technician came late", "emergency": "聞到燃氣味 smell of gas"}
SHOWN = re.compile(r"IVR routes|offer call|announce agent|answered:|RONA|hung up|EMERGENCY|R9 plan level"
                   r"|overflow|hold|agent 1003 is|ERROR|WARNING")
LOG_LINE = re.compile(r"^\S+ (\d\d:\d\d:\d\d),\d+ (\w+) ([\w.]+): (.*)$")

_print_lock = threading.Lock()


def say(text: str) -> None:
    with _print_lock:
        print(f"{time.strftime('%H:%M:%S')}  {text}", flush=True)


class Stop(Exception):
    """SIGTERM: stop as Ctrl-C does."""


# ---------------------------------------------------------------- processes


def spawn(args: list[str], **kw: Any) -> subprocess.Popen[str]:
    """Its own session, hence its own process group: stopped by that group, never by name."""
    return subprocess.Popen(args, start_new_session=True, text=True, stdin=subprocess.DEVNULL, **kw)


def stop(proc: subprocess.Popen[str], grace: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(grace)
    except ProcessLookupError:
        pass


def sipp(*args: str) -> subprocess.Popen[str]:
    return spawn([SANDBOX, "sipp", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def sandbox_root() -> Path:
    out = subprocess.run([SANDBOX, "root"], capture_output=True, text=True, timeout=10).stdout.strip()
    return Path(out or "/var/cache/cti-sandbox/root")


def keys_scenario(sipp_dir: Path, keys: str, tag: str) -> str:
    """A caller scenario (contrib/sipp/caller.xml) that presses ``keys`` inside its audio
    stream, 2.5 s apart, as a phone does (sip-tester's RFC 2833 pcaps), then talks on."""
    name = f"demo-{tag}-keys-{keys or 'none'}.xml"
    base = (ROOT / "contrib" / "sipp" / "caller.xml").read_text()
    audio = '  <nop><action><exec play_pcap_audio="/opt/cti-sipp/caller-audio.pcap" /></action></nop>\n'
    presses = "".join(
        f'  <pause milliseconds="2500" />\n  <nop><action><exec play_pcap_audio='
        f'"/usr/share/sip-tester/dtmf_2833_{k}.pcap" /></action></nop>\n  <pause milliseconds="300" />\n' + audio
        for k in keys)
    start = base.index("  <!-- real audio for the whole call")
    pause = base.index("  <pause />", start)
    (sipp_dir / name).write_text(base[:pause] + presses + base[pause:])
    return name


# ---------------------------------------------------------------- HTTP


def request(base: str, token: str, method: str, path: str, body: dict[str, Any] | None = None,
            timeout: float = 3.0) -> Any:
    """The engine's API with the demo's token; None when refused or unreachable."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, method=method, data=data,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")
    except (OSError, ValueError):
        return None


def ari(method: str, path: str) -> Any:
    req = urllib.request.Request(ARI + path, method=method, headers={"Authorization": ARI_AUTH})
    try:
        with urllib.request.urlopen(req, timeout=3) as resp:
            body = resp.read()
        return json.loads(body) if body else None
    except (OSError, ValueError):
        return None


class Department(BaseHTTPRequestHandler):
    """The departments' system and the emergency desk: receives the engine's webhooks."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        try:
            length = min(int(self.headers.get("Content-Length", "0")), 1_000_000)
            doc = json.loads(self.rfile.read(length) or b"{}")
        except (ValueError, OSError):
            doc = {}
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if not isinstance(doc, dict):
            return
        if doc.get("type") == "work-order":
            say(f"department {doc.get('department')} received work order {doc.get('order_id')} ({doc.get('kind')})")
        elif doc.get("type") == "emergency":
            say(f"emergency desk notified: call {doc.get('call_id', '?')} in queue {doc.get('queue', '?')}")

    def log_message(self, *args: Any) -> None:
        pass


# ---------------------------------------------------------------- the run


@dataclass
class Credentials:
    supervisor: tuple[str, str]
    pins: dict[str, str]
    token: str  # the demo's own supervisor token (holds, dispositions, agent 1003 ready)


@dataclass
class Run:
    base: str
    creds: Credentials
    sipp_dir: Path
    tag: str
    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    callers: dict[int, subprocess.Popen[str]] = field(default_factory=dict)  # port -> SIPp
    scenarios: list[Path] = field(default_factory=list)
    placed: int = 0
    seen: dict[str, float] = field(default_factory=dict)  # connected call -> first seen
    decided: set[str] = field(default_factory=set)  # calls whose disposition was decided
    unhold: dict[str, tuple[float, str]] = field(default_factory=dict)  # call -> (when, agent)
    plan_seen: set[str] = field(default_factory=set)  # the plan's changes already shown

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return request(self.base, self.creds.token, method, path, body)

    def reap(self) -> None:
        for port in [p for p, proc in self.callers.items() if proc.poll() is not None]:
            del self.callers[port]

    def call(self, keys: str | None, what: str, talk_ms: int, exten: str = "200") -> None:
        """One caller (its own SIPp process and ports)."""
        free = [p for p in CALLER_PORTS if p not in self.callers]
        if not free:
            return
        port = free[0]
        if keys is None:
            scenario = "caller.xml"
        else:
            path = self.sipp_dir / f"demo-{self.tag}-keys-{keys or 'none'}.xml"
            if not path.exists():
                keys_scenario(self.sipp_dir, keys, self.tag)
                self.scenarios.append(path)
            scenario = path.name
        self.placed += 1
        self.callers[port] = sipp("-sf", scenario, "-i", "127.0.0.1", "-p", str(port),
                                  "-mp", str(30000 + (port - CALLER_PORTS[0]) * 40), "-s", exten, "-m", "1",
                                  "-d", str(talk_ms), "127.0.0.1:5060")
        say(f"caller {self.placed} dials {exten}" + (f": {what}" if what else ""))

    def act_on_calls(self, now: float, rng: random.Random, hold_due: bool) -> bool:
        """Dispositions (work orders) and holds on connected calls; True when a hold was made."""
        calls = self.api("GET", "/calls")
        if not isinstance(calls, list):
            return False
        connected = [k for k in calls if k.get("state") == "connected" and k.get("agent_id")]
        for call_id in [c for c in self.seen if c not in {k["call_id"] for k in connected}]:
            del self.seen[call_id]  # ended
        for k in connected:
            self.seen.setdefault(k["call_id"], now)
        held = False
        # A hold: on the call answered last (its caller has the most of its talk left).
        fresh = [k for k in connected if not k.get("on_hold") and k["call_id"] not in self.unhold
                 and now - self.seen[k["call_id"]] > 2]
        if hold_due and fresh:
            k = max(fresh, key=lambda k: self.seen[k["call_id"]])
            if self.api("POST", f"/calls/{k['call_id']}/hold") is not None:
                secs = rng.randint(5, 8)
                self.unhold[k["call_id"]] = (now + secs, k["agent_id"])
                say(f"agent {k['agent_id']} puts call {k['call_id']} on hold for {secs} s")
                held = True
        for k in connected:
            call_id, agent, kind = k["call_id"], k["agent_id"], k.get("kind") or "consultation"
            if call_id in self.decided or now - self.seen[call_id] < 6 or call_id in self.unhold:
                continue
            self.decided.add(call_id)
            if kind in CONTENT and rng.random() < 0.7:
                self.dispose(call_id, agent, kind, rng)
        for call_id, (when, agent) in list(self.unhold.items()):
            if now >= when:
                del self.unhold[call_id]
                if self.api("POST", f"/calls/{call_id}/unhold") is not None:
                    say(f"agent {agent} takes call {call_id} off hold")
        return held

    def dispose(self, call_id: str, agent: str, kind: str, rng: random.Random) -> None:
        fields = {"customer_name": rng.choice(NAMES), "address": rng.choice(ADDRESSES),
                  "contact_number": f"1380013{rng.randint(0, 9999):04d}", "content": CONTENT[kind],
                  "occurred_at": "今晨 this morning", "urgency": "high" if kind == "emergency" else "normal",
                  "region": rng.choice(["north", "south"])}
        done = self.api("POST", f"/calls/{call_id}/disposition", {"kind": kind, "fields": fields, "agent_id": agent})
        if isinstance(done, dict) and isinstance(done.get("order"), dict):
            order = done["order"]
            say(f"agent {agent} records call {call_id} as {kind}: work order {order.get('order_id')} "
                f"for {order.get('department')}")
        elif done is not None:
            say(f"agent {agent} records call {call_id} as {kind}")


def config_text(creds: Credentials, tmp: Path, prefix: str, hook: str) -> str:
    """config/sandbox.toml with this run's accounts, PINs, token, Redis keys, store,
    work orders and plan; nothing of it outside ``tmp``."""
    text = CONFIG.read_text()
    for agent, pin in creds.pins.items():
        text, n = re.subn(rf'(?m)^id = "{agent}"$', f'id = "{agent}"\npin_hash = "{hash_secret(pin)}"', text)
        assert n == 1, f"agent {agent} in {CONFIG}"
    text, n = re.subn(r'(?m)^prefix = .*$', f'prefix = "{prefix}"', text)
    assert n == 1, f"[redis] prefix in {CONFIG}"
    text, n = re.subn(r'(?m)^archive_dir = .*$', f'archive_dir = "{tmp / "recordings"}"', text)
    assert n == 1, f"[recording] archive_dir in {CONFIG}"
    name, password = creds.supervisor
    return text + f"""
# ---- this demo run only ----
[auth]
cookie_secure = false   # the pages on http://127.0.0.1 (loopback only)
[[auth.accounts]]
name = "{name}"
role = "supervisor"
password_hash = "{hash_secret(password)}"
[[auth.tokens]]
name = "demo"
role = "supervisor"
sha256 = "{token_digest(creds.token)}"

[store]
url = "sqlite:{tmp / 'cti.sqlite'}"
[notifications]
outbox_path = "{tmp / 'outbox.sqlite'}"

[emergency]
webhook_url = "{hook}/emergency"

[[workorders.departments]]
name = "repair"
webhook_url = "{hook}/repair"
[[workorders.departments]]
name = "service-desk"
webhook_url = "{hook}/service-desk"
[[workorders.rules]]
kind = "fault-report"
department = "repair"
due_h = 4
onsite_h = 2   # R20: the crew on site within two hours
[[workorders.rules]]
kind = "emergency"
department = "repair"
due_h = 0.5
onsite_h = 0.5
[[workorders.rules]]
department = "service-desk"
due_h = 24

[plan]
queue = "support"
mode = "auto"
min_time_s = 20
[plan.levels.III]
enter = {{ waiting_at_least = 3 }}
leave = {{ waiting_at_most = 1 }}
"""


def wait_until(check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    return None


def follow(engine: subprocess.Popen[str], shown: threading.Event, early: list[str]) -> None:
    """The engine's log, a line per step of a call, once the banner is out."""
    assert engine.stdout is not None
    for line in engine.stdout:
        if not shown.is_set():
            early.append(line)
            del early[:-200]
            continue
        m = LOG_LINE.match(line.rstrip())
        if m is None:
            continue
        clock, level, logger, message = m.groups()
        if logger == "cti.audit":
            continue  # (the plan's changes come as their own line below)
        if SHOWN.search(message) or level in ("WARNING", "ERROR"):
            with _print_lock:
                print(f"{clock}  {message}", flush=True)


def banner(base: str, creds: Credentials, minutes: float) -> None:
    name, password = creds.supervisor
    pins = list(creds.pins.items())
    first, rest = pins[0], ", ".join(f"{a} / {p}" for a, p in pins[1:])
    lines = [
        "",
        "CTI demo: the engine on the local Asterisk sandbox, simulated agents and callers",
        f"  wallboard   {base}/wallboard   sign in: {name} / {password}",
        f"  agent desk  {base}/agent       sign in: {first[0]} / {first[1]}   (also {rest})",
        f"  reports     {base}/reports     sign in: {name} / {password}",
        "These credentials work for this run only. Agents 1001 and 1002 answer; 1003 never does (RONA).",
        f"Calls for {minutes:g} minutes; Ctrl-C stops the demo.",
        "",
    ]
    with _print_lock:
        print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8480, help="the engine's HTTP port (default 8480)")
    parser.add_argument("--minutes", type=float, default=60.0, help="how long calls keep coming (default 60)")
    args = parser.parse_args(argv)
    status = subprocess.run([SANDBOX, "status"], capture_output=True, text=True, timeout=30)
    if "running" not in status.stdout:
        print("the Asterisk sandbox is not running: `make sandbox redis` (make demo does it)", file=sys.stderr)
        return 1

    def terminate(*_: Any) -> None:
        raise Stop()
    signal.signal(signal.SIGTERM, terminate)

    base = f"http://127.0.0.1:{args.port}"
    creds = Credentials(("supervisor", secrets.token_hex(5)),
                        {a: f"{secrets.randbelow(10**6):06d}" for a in AGENTS}, secrets.token_urlsafe(32))
    tmp = Path(tempfile.mkdtemp(prefix="cti-demo-"))
    tag = tmp.name.removeprefix("cti-demo-")
    redis_url = str(tomllib.loads(CONFIG.read_text())["redis"]["url"])
    prefix = f"cti-demo-{tag}:"
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Department)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    run = Run(base, creds, sandbox_root() / "opt" / "cti-sipp", tag)
    rng = random.Random()
    early: list[str] = []
    try:
        (tmp / "demo.toml").write_text(config_text(creds, tmp, prefix, f"http://127.0.0.1:{receiver.server_port}"))
        for agent, (port, scenario) in AGENTS.items():
            run.procs.append(sipp("-sf", scenario, "-i", "127.0.0.1", "-p", str(port),
                                  "-mp", str(20000 + (port - 5070) * 100)))
        # Asterisk qualifies the agents' phones once a second: online before the engine looks.
        wait_until(lambda: all((ari("GET", f"/endpoints/PJSIP/agent{a}") or {}).get("state") == "online"
                               for a in AGENTS), 15)
        engine = spawn([sys.executable, "-m", "cti.cli", "run", "--config", str(tmp / "demo.toml"),
                        "--http-port", str(args.port)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
        run.procs.append(engine)
        shown = threading.Event()
        threading.Thread(target=follow, args=(engine, shown, early), daemon=True).start()

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as resp:
                    return bool(json.loads(resp.read()).get("status") == "ok")
            except (OSError, ValueError):
                return False
        if not wait_until(lambda: engine.poll() is not None or healthy(), 40) or engine.poll() is not None:
            time.sleep(0.5)
            print("the engine did not start:\n" + "".join(early[-40:]), file=sys.stderr)
            return 1
        banner(base, creds, args.minutes)
        shown.set()

        started = time.monotonic()
        deadline = started + args.minutes * 60
        next_call = started + 1
        next_emergency = started + rng.uniform(60, 120)
        next_burst = started + 90
        next_hold = started + rng.uniform(30, 60)
        next_ready = started + 30
        next_look = started
        while engine.poll() is None:
            now = time.monotonic()
            run.reap()
            if now < deadline:
                if now >= next_call:
                    keys, what, _ = rng.choices(KINDS, weights=[w for *_, w in KINDS])[0]
                    run.call(keys, f"presses {keys} ({what})", rng.randint(25000, 50000))
                    next_call = now + rng.uniform(15, 30)
                if now >= next_emergency:
                    run.call("0", "presses 0 (EMERGENCY)", rng.randint(25000, 40000))
                    next_emergency = now + rng.uniform(150, 240)
                if now >= next_burst:
                    say("a burst of 4 callers on the direct number (the plan's level III enters at 3 waiting)")
                    for _ in range(4):  # they wait (music) and talk; some give up waiting
                        run.call(None, "", rng.randint(40000, 80000), exten="100")
                    next_burst = now + 600
            elif not run.callers:
                say(f"the demo's {args.minutes:g} minutes are over: {run.placed} calls placed")
                return 0
            elif now > deadline + 120:
                say("the last callers did not finish within 2 minutes; stopping")
                return 0
            if now >= next_ready:
                run.api("POST", "/agents/1003/ready")
                next_ready = now + 30
            if now >= next_look:
                hold_due = now >= next_hold
                if run.act_on_calls(time.time(), rng, hold_due) or (hold_due and now > next_hold + 60):
                    next_hold = now + rng.uniform(60, 120)
                plan = run.api("GET", "/plan")
                if isinstance(plan, dict):
                    for change in plan.get("changes", []):
                        key = f"{change.get('type')}-{change.get('at')}"
                        if key not in run.plan_seen:
                            run.plan_seen.add(key)
                            say(f"emergency plan level {change.get('level') or 'none'}: {change.get('reason')}")
                next_look = now + 2
            time.sleep(0.2)
        say(f"the engine exited with {engine.returncode}")
        return 1
    except (KeyboardInterrupt, Stop):
        say("stopping the demo")
        return 0
    finally:
        for proc in [*run.callers.values(), *reversed(run.procs)]:
            stop(proc)
        receiver.shutdown()
        left = ari("GET", "/channels") or []
        for channel in left:  # the simulated phones are gone: their legs too
            ari("DELETE", f"/channels/{channel['id']}")
        if left:
            say(f"hung up {len(left)} call legs left in the sandbox")
        for path in run.scenarios:
            path.unlink(missing_ok=True)
        forget(redis_url, prefix)
        shutil.rmtree(tmp, ignore_errors=True)


def forget(url: str, prefix: str) -> None:
    """The run's Redis keys (its state and journal) go with it."""
    try:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
        keys = list(client.scan_iter(match=prefix + "*", count=500))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i:i + 500])
        client.close()
    except Exception as exc:  # the demo ends anyway
        print(f"could not remove the run's Redis keys ({prefix}*): {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
