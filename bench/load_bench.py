"""Load benchmark, side by side in one run on the sandbox: Asterisk's own app_queue, then
the engine (Redis journal and recording on), with the same agents and the same traffic.

- Agents: N endpoints ``bench3000``... whose static contacts differ only in the user
  part, all answered by one SIPp UAS (``contrib/sipp/bench_agent.xml``): each call
  rings 200 ms, then talks a log-normal time (median 8.1 s) and the agent hangs up.
- Callers: SIPp from 127.0.0.3 (``bench_caller.xml``), each with its own From user
  (passed on as the caller id, so the agent's INVITE names the call), arriving at a rate
  that ramps up (``-rate_increase``) past what the agents can serve: a queue of waiting
  callers builds up (1,000 and more), then drains. Callers wait as long as it takes.
- app_queue: ``Answer(), MixMonitor(), Queue(bench)`` (rrmemory, autofill, ringinuse
  no, the same N members); the engine: ``Stasis()``, longest-idle, recorded.

Measured from the SIP packets both SIPp processes trace with their times:
- completed calls (an agent talked to the caller) and failures (callers never served);
- completed calls per second while callers were waiting (the agents' pace);
- offer latency: a caller's INVITE to its agent's INVITE, for callers who arrived while
  an agent was free (p50, p99);
- hand-off latency: an agent's BYE to its next INVITE, when that INVITE's caller was
  already waiting at the BYE (p50, p99);
and from the processes: CPU ms per call (the engine's, and Asterisk's in each pass),
the engine's RSS per waiting caller at the peak, Redis commands per call.

    .venv/bin/python bench/load_bench.py [--agents 100] [--calls 900] [--rate-max 20] [--write]

``--write`` puts the table into docs/BENCHMARKS.md (between its load-benchmark marks). The
SIP traces and the engine's log stay in the sandbox's /opt/cti-sipp (bench-*).
Needs the sandbox and contrib/redis up (``make bench`` starts them).
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import wave
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Iterable
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SANDBOX = ROOT / "contrib" / "sandbox"
BOX = Path(subprocess.run([str(SANDBOX), "root"], capture_output=True, text=True).stdout.strip()
           or "/var/cache/cti-sandbox/root")
SIPP_DIR = BOX / "opt/cti-sipp"
SPOOL = BOX / "var/spool/asterisk/monitor"
REDIS = ("127.0.0.1", 6390)
TOKEN = "bench-admin-token-not-a-secret"
STAMP = re.compile(r"^-{20,} (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z?$")


# ------------------------------------------------------------------ the SIP traces

@dataclass
class Msg:
    at: float
    sent: bool
    first: str
    headers: dict[str, str]


def parse_trace(path: Path) -> list[Msg]:
    """SIPp's -trace_msg file: each message after a line with its time."""
    from datetime import datetime, timezone
    out: list[Msg] = []
    at, sent, lines = 0.0, False, list[str]()

    def flush() -> None:
        if lines:
            head = [x for x in lines if x.strip()]
            if head:
                headers: dict[str, str] = {}
                for x in head[1:]:
                    if ":" in x:
                        k, _, v = x.partition(":")
                        headers.setdefault(k.strip().lower(), v.strip())
                out.append(Msg(at, sent, head[0].strip(), headers))
    for raw in path.read_text(errors="replace").splitlines():
        m = STAMP.match(raw)
        if m:
            flush()
            lines = []
            at = datetime.strptime(m.group(1)[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()
            sent = False
            continue
        if raw.startswith(("UDP message sent", "UDP message received")):
            sent = "sent" in raw
            continue
        if not raw.strip() and lines and any(x.strip() for x in lines):
            lines.append(raw)
            continue
        lines.append(raw)
    flush()
    return out


def user_of(header: str) -> str:
    """The caller id a From header names: its user part (or its display name, when
    the user part says nothing)."""
    m = re.search(r"sip:([^@;>]+)@", header)
    user = m.group(1) if m else ""
    name = re.match(r'\s*"([^"]*)"', header)
    return name.group(1) if user in ("asterisk", "anonymous", "") and name else user


@dataclass
class Outcome:
    callers: int = 0
    completed: int = 0
    offer_ms: list[float] = field(default_factory=list)
    handoff_ms: list[float] = field(default_factory=list)
    peak_waiting: int = 0
    pace: float = 0.0  # completed calls per second while callers waited


def analyse(caller_trace: Path, agent_trace: Path, agents: int) -> Outcome:
    callers: dict[str, float] = {}  # caller id -> INVITE sent
    for m in parse_trace(caller_trace):
        if m.sent and m.first.startswith("INVITE "):
            callers.setdefault(user_of(m.headers.get("from", "")), m.at)
    offers: dict[str, float] = {}  # caller id -> its agent's INVITE
    talks: list[tuple[float, float, str]] = []  # (start, end, agent)
    talk_callers: list[str] = []  # the caller of each talk
    started: dict[str, tuple[float, str, str]] = {}  # call-id -> (INVITE, agent, caller id)
    talked: set[str] = set()  # callers an agent talked to
    for m in parse_trace(agent_trace):
        cid = m.headers.get("call-id", "")
        if not m.sent and m.first.startswith("INVITE ") and cid not in started:
            caller = user_of(m.headers.get("from", ""))
            agent = user_of(m.headers.get("to", ""))
            started[cid] = (m.at, agent, caller)
            offers.setdefault(caller, m.at)
        elif m.first.startswith("BYE ") and cid in started:
            begin, agent, caller = started.pop(cid)
            talks.append((begin, m.at, agent))
            talk_callers.append(caller)
            talked.add(caller)
    out = Outcome(callers=len(callers), completed=len(talked & set(callers)))
    served = sorted(offers.get(k, float("inf")) for k in callers)
    arrived = sorted(callers.values())

    def waiting(t: float) -> int:  # callers arrived by t and not yet offered to an agent
        return bisect.bisect_right(arrived, t) - bisect.bisect_right(served, t)

    busy_points = sorted([(s, 1) for s, _, _ in talks] + [(e, -1) for _, e, _ in talks])
    times = [p[0] for p in busy_points]
    running = []
    level = 0
    for _, d in busy_points:
        level += d
        running.append(level)

    def busy(t: float) -> int:
        i = bisect.bisect_right(times, t)
        return running[i - 1] if i else 0

    for caller, t0 in callers.items():  # nobody waiting ahead and an agent free: the idle offer
        if caller in offers and busy(t0) < agents and waiting(t0 - 1e-6) == 0:
            out.offer_ms.append((offers[caller] - t0) * 1000)
    by_agent: dict[str, list[tuple[float, float, str]]] = {}
    for (s, e, a), caller in zip(talks, talk_callers):
        by_agent.setdefault(a, []).append((s, e, caller))
    for spans in by_agent.values():
        spans.sort()
        for (_, end, _), (nxt, _, caller) in zip(spans, spans[1:]):
            # A hand-off: the agent's next caller was already waiting when it hung up
            # (not a caller who came later to an idle agent).
            if callers.get(caller, float("inf")) < end:
                out.handoff_ms.append((nxt - end) * 1000)
    out.peak_waiting = max((waiting(t) for t in arrived), default=0)
    ends = sorted(e for _, e, _ in talks if waiting(e) > 0)
    if len(ends) > 1:
        out.pace = (len(ends) - 1) / (ends[-1] - ends[0])
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


# ------------------------------------------------------------------ processes

STARTED: list[subprocess.Popen[bytes]] = []  # stopped at exit, whatever ends the run


def sipp(name: str, *args: str) -> subprocess.Popen[bytes]:
    log = open(SIPP_DIR / f"{name}.out", "wb")
    proc = subprocess.Popen([str(SANDBOX), "sipp", *args, "-nostdin"], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    STARTED.append(proc)
    return proc


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def cpu_s(pid: int) -> float:
    return sum(cpu_split(pid))


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process, its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def asterisk_pid() -> int:
    pidfile = BOX.parent / "asterisk.pid"
    return int(pidfile.read_text().strip())


def ast(command: str) -> str:
    return subprocess.run([str(SANDBOX), "exec", "asterisk", "-rx", command], capture_output=True, text=True,
                          timeout=30).stdout


def redis_commands() -> int:
    import socket
    with socket.create_connection(REDIS, timeout=5) as s:
        s.sendall(b"INFO stats\r\n")
        data = b""
        while b"total_commands_processed" not in data or not data.endswith(b"\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    m = re.search(rb"total_commands_processed:(\d+)", data)
    return int(m.group(1)) if m else 0


def configure(agents: int) -> None:
    """Exactly ``agents`` members in app_queue's bench queue (the engine gets the same)."""
    conf = BOX / "etc/asterisk/queues_bench.conf"
    lines = [x for x in conf.read_text().splitlines() if not x.startswith("member =>")]
    lines += [f"member => PJSIP/bench{3000 + i},0,Bench {3000 + i}" for i in range(agents)]
    conf.write_text("\n".join(lines) + "\n")
    ast("module reload app_queue.so")


# ------------------------------------------------------------------ one pass

@dataclass
class Pass:
    name: str
    outcome: Outcome
    seconds: float
    asterisk_cpu_ms: float
    engine_cpu_ms: float | None = None
    rss_per_waiting_kb: float | None = None
    redis_per_call: float | None = None
    recordings: int = 0
    engine_system_ms: float | None = None  # of engine_cpu_ms, in the kernel (system calls)
    recorded_s: float = 0.0  # the recordings' audio, in all


def recorded_seconds(files: Iterable[Path]) -> float:
    """The audio the WAV files hold, in seconds (a file that does not read counts 0)."""
    total = 0.0
    for path in files:
        try:
            with wave.open(str(path), "rb") as w:
                total += w.getnframes() / w.getframerate()
        except (OSError, EOFError, wave.Error, ZeroDivisionError):
            pass
    return total


def traffic(exten: str, tag: str, args: argparse.Namespace) -> tuple[Path, Path, float]:
    for name in (f"bench-agents-{tag}.log", f"bench-callers-{tag}.log"):
        (SIPP_DIR / name).unlink(missing_ok=True)
    agents = sipp(f"bench-agents-{tag}", "-sf", "bench_agent.xml", "-i", "127.0.0.1", "-p", "5300", "-mp", "26000",
                  "-l", "100000", "-trace_msg", "-message_file", f"bench-agents-{tag}.log")
    time.sleep(1.0)
    t0 = time.time()
    callers = sipp(f"bench-callers-{tag}", "-sf", "bench_caller.xml", "-i", "127.0.0.3", "-p", "5400",
                   "-mp", "27000", "-s", exten, "-m", str(args.calls), "-l", str(args.calls),
                   "-r", str(args.rate), "-rate_increase", str(args.step), "-rate_interval", str(args.every),
                   "-rate_max", str(args.rate_max), "-no_rate_quit", "-timeout", str(args.timeout_s),
                   "-trace_msg", "-message_file", f"bench-callers-{tag}.log", "127.0.0.1:5060")
    try:
        callers.wait(args.timeout_s + 30)
    except subprocess.TimeoutExpired:
        stop(callers)
    seconds = time.time() - t0
    time.sleep(2.0)
    stop(agents)
    return SIPP_DIR / f"bench-callers-{tag}.log", SIPP_DIR / f"bench-agents-{tag}.log", seconds


def run_app_queue(args: argparse.Namespace) -> Pass:
    shutil.rmtree(SPOOL / "cti-bench", ignore_errors=True)
    pid = asterisk_pid()
    before = cpu_s(pid)
    callers, agents, seconds = traffic("7001", "app_queue", args)
    used = cpu_s(pid) - before
    outcome = analyse(callers, agents, args.agents)
    files = list((SPOOL / "cti-bench").glob("*.wav")) if (SPOOL / "cti-bench").exists() else []
    return Pass("app_queue", outcome, seconds, used * 1000 / max(1, outcome.completed), recordings=len(files),
                recorded_s=recorded_seconds(files))


def engine_config(port: int, agents: int, tmp: Path, prefix: str) -> str:
    text = f"""log_level = "INFO"
[asterisk]
ari_user = "cti"
ari_password = "cti-sandbox"
ami_user = "cti"
ami_secret = "cti-sandbox"
[http]
port = {port}
admin_token = "{TOKEN}"
[redis]
url = "redis://{REDIS[0]}:{REDIS[1]}/0"
prefix = "{prefix}"
node_id = "bench"
[recording]
spool_dir = "{BOX / 'var/spool/asterisk/recording/cti'}"
archive_dir = "{tmp / 'archive'}"
reader_token = "bench-reader-token-not-a-secret"
[store]
url = "sqlite:{tmp / 'cti.sqlite'}"
[notifications]
outbox_path = "{tmp / 'outbox.sqlite'}"
[[queues]]
name = "bench"
ring_cycle_s = 5
answer_within_rings = 3
wrap_up_s = 0
announce_agent_id = false
[[routes]]
exten = "7002"
queue = "bench"
"""
    for i in range(agents):
        text += (f'[[agents]]\nid = "{3000 + i}"\nendpoint = "PJSIP/bench{3000 + i}"\nqueues = ["bench"]\n'
                 "login_at_start = true\n")
    return text


def get(port: int, path: str) -> Any:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def run_engine(args: argparse.Namespace) -> Pass:
    import socket
    tmp = Path(tempfile.mkdtemp(prefix="cti-bench-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp / "engine.toml"
    cfg.write_text(engine_config(port, args.agents, tmp, f"bench-{int(time.time())}:"))
    log = (tmp / "engine.log").open("w")
    engine = subprocess.Popen([sys.executable, "-m", "cti.cli", "run", "--config", str(cfg)], cwd=ROOT,
                              stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 30
        while True:
            try:
                if get(port, "/health")["status"] == "ok":
                    break
            except OSError:
                pass
            if time.time() > deadline or engine.poll() is not None:
                raise SystemExit(f"the engine did not start:\n{(tmp / 'engine.log').read_text()[-3000:]}")
            time.sleep(0.2)
        time.sleep(1.0)
        idle_rss = rss_kb(engine.pid)
        pid = asterisk_pid()
        ast_before, cpu_before, redis_before = cpu_s(pid), cpu_split(engine.pid), redis_commands()
        peak: list[tuple[int, int]] = []  # (waiting, rss)

        import threading
        done = threading.Event()

        def sample() -> None:
            while not done.wait(2.0):
                try:
                    text = urllib.request.urlopen(urllib.request.Request(
                        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}),
                        timeout=5).read().decode()
                    m = re.search(r'^cti_queue_waiting_calls\{queue="bench"\} (\S+)$', text, re.M)
                    peak.append((int(float(m.group(1))) if m else 0, rss_kb(engine.pid)))
                except OSError:
                    pass
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        spy = None
        if args.profile:  # py-spy (pip install py-spy): where the engine's CPU goes
            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(engine.pid),
                                    "-o", args.profile, "-r", "200", "--nonblocking",
                                    "--format", "raw" if args.profile.endswith(".txt") else "flamegraph"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        callers, agents, seconds = traffic("7002", "engine", args)
        done.set()
        sampler.join(10)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        time.sleep(3.0)  # the last recordings archived
        split = [after - before for after, before in zip(cpu_split(engine.pid), cpu_before)]
        used, ast_used = sum(split), cpu_s(pid) - ast_before
        redis_used = redis_commands() - redis_before
        outcome = analyse(callers, agents, args.agents)
        top = max(peak, default=(0, idle_rss))
        files = list((tmp / "archive").rglob("*.wav"))
        return Pass("engine", outcome, seconds, ast_used * 1000 / max(1, outcome.completed),
                    used * 1000 / max(1, outcome.completed),
                    (top[1] - idle_rss) / top[0] if top[0] else None,
                    redis_used / max(1, outcome.completed), len(files),
                    split[1] * 1000 / max(1, outcome.completed), recorded_seconds(files))
    finally:
        stop(engine)
        shutil.copy(tmp / "engine.log", SIPP_DIR / "bench-engine.log")  # (for a look afterwards)
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------ the table

def table(passes: list[Pass], args: argparse.Namespace) -> str:
    aq, en = passes
    rows: list[tuple[str, Callable[[Pass], str]]] = [
        ("callers", lambda p: f"{p.outcome.callers}"),
        ("callers an agent talked to", lambda p: f"{p.outcome.completed}"),
        ("failures (callers never served)", lambda p: f"{p.outcome.callers - p.outcome.completed}"),
        ("recordings", lambda p: f"{p.recordings}"),
        ("peak waiting callers", lambda p: f"{p.outcome.peak_waiting}"),
        ("completed calls/s while callers waited", lambda p: f"{p.outcome.pace:.2f}"),
        ("offer latency p50 ms (an agent free)", lambda p: f"{pct(p.outcome.offer_ms, .5):.1f}"),
        ("offer latency p99 ms", lambda p: f"{pct(p.outcome.offer_ms, .99):.1f}"),
        ("hand-off latency p50 ms (callers waiting)", lambda p: f"{pct(p.outcome.handoff_ms, .5):.1f}"),
        ("hand-off latency p99 ms", lambda p: f"{pct(p.outcome.handoff_ms, .99):.1f}"),
        ("Asterisk CPU ms per call", lambda p: f"{p.asterisk_cpu_ms:.1f}"),
        ("recorded s per call (from the answer: waiting and talk)",
         lambda p: f"{p.recorded_s / max(1, p.outcome.completed):.1f}"),
        ("Asterisk CPU ms per recorded s",
         lambda p: f"{p.asterisk_cpu_ms * p.outcome.completed / p.recorded_s:.2f}" if p.recorded_s else "—"),
        ("engine CPU ms per call", lambda p: "—" if p.engine_cpu_ms is None else f"{p.engine_cpu_ms:.1f}"),
        ("of which in the kernel", lambda p: "—" if p.engine_system_ms is None else f"{p.engine_system_ms:.1f}"),
        ("engine RSS KB per waiting caller (peak)",
         lambda p: "—" if p.rss_per_waiting_kb is None else f"{p.rss_per_waiting_kb:.1f}"),
        ("Redis commands per call", lambda p: "—" if p.redis_per_call is None else f"{p.redis_per_call:.1f}"),
        ("run time s", lambda p: f"{p.seconds:.0f}"),
    ]
    out = [f"{args.agents} agents, {args.calls} callers arriving from {args.rate}/s, +{args.step}/s every "
           f"{args.every} s up to {args.rate_max}/s; callers send audio from the answer; talk log-normal, median 8.1 s; "
           "every call recorded.", "",
           "| figure | app_queue | engine | engine ÷ app_queue |", "|---|---:|---:|---:|"]
    for name, value in rows:
        a, b = value(aq), value(en)
        try:
            ratio = f"{float(b) / float(a):.2f}" if float(a) else ""
        except ValueError:
            ratio = ""
        out.append(f"| {name} | {a} | {b} | {ratio} |")
    return "\n".join(out)


def write_doc(text: str) -> None:
    doc = ROOT / "docs/BENCHMARKS.md"
    body = doc.read_text()
    start, end = "<!-- load-bench: start -->", "<!-- load-bench: end -->"
    block = f"{start}\nRun of {time.strftime('%Y-%m-%d')} (Python {sys.version.split()[0]}, {os.cpu_count()} cores):\n\n{text}\n{end}"
    if start in body:
        body = body[:body.index(start)] + block + body[body.index(end) + len(end):]
    else:
        body += f"\n## Load, side by side with app_queue (`bench/load_bench.py`)\n\n{block}\n"
    doc.write_text(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--calls", type=int, default=900)
    parser.add_argument("--rate", type=int, default=5, help="callers per second at the start")
    parser.add_argument("--step", type=int, default=5, help="added to the rate every --every seconds")
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--rate-max", type=int, default=20)
    parser.add_argument("--timeout-s", type=int, default=900, help="the whole traffic's limit")
    parser.add_argument("--write", action="store_true", help="put the table into docs/BENCHMARKS.md")
    parser.add_argument("--engine-only", action="store_true", help="skip the app_queue pass (profiling)")
    parser.add_argument("--profile", metavar="SVG", help="sample the engine with py-spy into this flame graph (.svg) or collapsed stacks (.txt)")
    args = parser.parse_args()
    if subprocess.run([str(SANDBOX), "status"], capture_output=True).returncode != 0:
        raise SystemExit("the sandbox is not running: contrib/sandbox up (make bench does it)")
    configure(args.agents)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # (so that the finally below runs)
    try:
        passes = ([] if args.engine_only else [run_app_queue(args)]) + [run_engine(args)]
    finally:
        for proc in STARTED:
            stop(proc)
        ast("channel request hangup all")  # what an interrupted run left in Asterisk
    if args.engine_only:
        passes.insert(0, Pass("app_queue (not run)", Outcome(), 0.0, 0.0))
    text = table(passes, args)
    print(text)
    if args.write and not args.engine_only:
        write_doc(text)


if __name__ == "__main__":
    main()
