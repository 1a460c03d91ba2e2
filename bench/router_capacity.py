"""Router capacity (issue 32, R6): N simulated Asterisk nodes (``bench/simnode``) against
ONE router with the Redis journal on; how fast it decides offers, and where it breaks.

Processes (loopback only; each stopped by its PID at the end):
- the stand-ins: all nodes in one process (node i: ARI 127.0.2.<i+1>:8088, AMI :5038);
- one engine adapter per node (``[cluster] role = "adapter"``, trunks to every other
  node as ``peers``), as a production node runs one beside its Asterisk;
- ONE router (``role = "router"``): the process this benchmark is about;
- Redis: the project's (``make redis``, 127.0.0.1:6390), a key prefix of its own per run.

Agents are spread evenly over the nodes (one pool: an agent whose phone is on node a is
rung for a call on node b through b's trunk to a). Callers arrive on the nodes in turn,
at each rate of the ramp for ``--step-s`` seconds. Per step:
- offer decision p50/p99: from the later of the caller's StasisStart leaving the
  stand-in and the agent's previous leg ending there, to the originate of the agent's
  leg arriving at the stand-in (adapter -> Redis -> router -> Redis -> adapter);
- calls, offers, callers still waiting at the step's end;
- CPU (% of one core) of the router, of all adapters, of Redis and of the stand-ins;
  Redis commands per second; the router's /health answer time p99 (its event loop's lag).
The break point: the first step whose p99 passes 20 ms.

    .venv/bin/python bench/router_capacity.py --size small|large|both [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
REDIS = ("127.0.0.1", 6390)
START, END = "<!-- router-capacity: start -->", "<!-- router-capacity: end -->"
SIZES = {"small": (2000, 10, "25,50,100,150"), "large": (10000, 20, "100,200,300")}
USER, SECRET = "cti", "sim-not-a-secret"
HZ = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / HZ


def redis_info() -> dict[str, str]:
    with socket.create_connection(REDIS, timeout=5) as s:
        s.settimeout(5)
        s.sendall(b"INFO\r\n")
        data = b""
        while not data.endswith(b"\r\n\r\n") and len(data) < 1_000_000:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if re.search(rb"# Keyspace\r\n(.*\r\n)*\r\n$", data):
                break
    return dict(re.findall(r"^(\w+):(.*?)\r?$", data.decode(errors="replace"), re.M))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def engine_config(tmp: Path, name: str, port: int, agents: list[tuple[str, int]], prefix: str,
                  role: str, node: int, nodes: int, snapshot_every: int = 1000) -> Path:
    text = f"""log_level = "WARNING"
[asterisk]
ari_url = "http://127.0.2.{node + 1}:8088"
ami_host = "127.0.2.{node + 1}"
ari_user = "{USER}"
ari_password = "{SECRET}"
ami_user = "{USER}"
ami_secret = "{SECRET}"
[http]
port = {port}
admin_token = "bench-admin-token-not-a-secret"
[redis]
url = "redis://{REDIS[0]}:{REDIS[1]}/0"
prefix = "{prefix}"
node_id = "{name}"
lease_ms = 5000
snapshot_every = {snapshot_every}
[cluster]
role = "{role}"
"""
    if role == "adapter":
        text += f'node = "n{node}"\n[cluster.peers]\n' + "".join(
            f'n{j} = "trunk-n{j}"\n' for j in range(nodes) if j != node)
    text += f"""[store]
url = "sqlite:{tmp / 'cti.sqlite' if role == 'router' else tmp / (name + '.sqlite')}"
[audit]
log = "{tmp / name / 'audit.log'}"
key_file = "{tmp / (name + '.key')}"
[notifications]
outbox_path = "{tmp / (name + '-outbox.sqlite')}"
[[queues]]
name = "support"
ring_cycle_s = 15
answer_within_rings = 2
wrap_up_s = 0
"""
    for agent_id, _ in agents:
        text += f'[[agents]]\nid = "{agent_id}"\nendpoint = "PJSIP/agent{agent_id}"\nqueues = ["support"]\n' \
                'login_at_start = true\n'
    path = tmp / f"{name}.toml"
    path.write_text(text)
    return path


def start_engine(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "cti.cli", "run", "--config", str(cfg)], cwd=ROOT,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)


def health(port: int) -> tuple[dict[str, Any], float]:
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
            return dict(json.loads(resp.read())), time.perf_counter() - t
    except urllib.error.HTTPError as exc:
        return dict(json.loads(exc.read())), time.perf_counter() - t
    except OSError:
        return {}, time.perf_counter() - t


def stop(procs: list[subprocess.Popen[Any]]) -> None:
    """Each process we started, by its PID (SIGTERM, then SIGKILL past 15 s)."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def wait_until(check: Any, within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.5)


def read_line(stream: IO[str], within_s: float) -> str:
    ready, _, _ = select.select([stream], [], [], within_s)
    if not ready:
        raise SystemExit(f"the stand-ins said nothing within {within_s:g} s")
    return stream.readline()


@dataclass
class Step:
    size: str
    rate: float
    row: dict[str, Any]


def run(size: str, args: argparse.Namespace) -> list[Step]:
    n_agents, nodes, rates = SIZES[size]
    rates = args.rates or rates
    per = n_agents // nodes
    agents = [(f"s{i}a{k}", i) for i in range(nodes) for k in range(per)]
    tmp = Path(tempfile.mkdtemp(prefix=f"router-capacity-{size}-"))
    prefix = f"bench-capacity-{size}-{os.getpid()}-{int(time.time())}:"
    procs: list[subprocess.Popen[Any]] = []
    steps: list[Step] = []
    try:
        sim = subprocess.Popen([sys.executable, "-m", "bench.simnode", "--nodes", str(nodes), "--agents",
                                str(n_agents), "--rates", rates, "--step-s", str(args.step_s),
                                "--talk-min-s", "10", "--talk-max-s", "20", "--latency-ms", str(args.latency_ms)],
                               cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=(tmp / "simnode.log").open("wb"), text=True, start_new_session=True)
        procs.append(sim)
        assert sim.stdout is not None and sim.stdin is not None
        json.loads(read_line(sim.stdout, 60))
        port = free_port()
        router = start_engine(engine_config(tmp, "router", port, agents, prefix, "router", 0, nodes, args.snapshot_every),
                              tmp / "router.log")
        procs.append(router)
        wait_until(lambda: health(port)[0].get("role") == "leader", 120, "the router to lead")
        adapters = []
        for i in range(nodes):
            name = f"adapter-n{i}"
            adapters.append(start_engine(engine_config(tmp, name, free_port(), agents, prefix, "adapter", i, nodes),
                                         tmp / f"{name}.log"))
        procs.extend(adapters)
        time.sleep(args.settle_s)  # adapters connect, agents' phones reported reachable
        dead = [p.pid for p in procs if p.poll() is not None]
        if dead:
            raise SystemExit(f"processes ended early: {dead}; logs in {tmp}")
        redis_pid = int(redis_info().get("process_id", "0"))
        lags: list[tuple[float, float]] = []
        stopping = threading.Event()

        def probe_loop() -> None:
            while not stopping.wait(0.5) and len(lags) < 100_000:
                lags.append((time.monotonic(), health(port)[1]))
        prober = threading.Thread(target=probe_loop, daemon=True)
        prober.start()
        spy = None
        if args.profile:  # py-spy: where the router's time goes (collapsed stacks, idle included)
            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(router.pid),
                                    "-o", args.profile, "-r", "100", "--nonblocking", "--idle", "--format", "raw"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            procs.append(spy)
        sim.stdin.write("go\n")
        sim.stdin.flush()
        for _ in rates.split(","):
            t0 = time.monotonic()
            cpu0 = (cpu_s(router.pid), sum(cpu_s(a.pid) for a in adapters), cpu_s(redis_pid), cpu_s(sim.pid))
            cmds0 = int(redis_info().get("total_commands_processed", "0"))
            line = read_line(sim.stdout, args.step_s + 60)
            took = time.monotonic() - t0
            cpu1 = (cpu_s(router.pid), sum(cpu_s(a.pid) for a in adapters), cpu_s(redis_pid), cpu_s(sim.pid))
            cmds1 = int(redis_info().get("total_commands_processed", "0"))
            row = json.loads(line)
            if cmds1 < cmds0 or int(redis_info().get("process_id", "0")) != redis_pid:
                cpu1 = (*cpu1[:2], float("nan"), cpu1[3])  # Redis restarted meanwhile (shared server): no figure
                cmds1 = -1
            step_lags = sorted(lag for at, lag in lags if at >= t0)
            row.update({
                "router_cpu": (cpu1[0] - cpu0[0]) / took, "adapters_cpu": (cpu1[1] - cpu0[1]) / took,
                "redis_cpu": (cpu1[2] - cpu0[2]) / took, "sim_cpu_proc": (cpu1[3] - cpu0[3]) / took,
                "redis_cmds_s": (cmds1 - cmds0) / took if cmds1 >= 0 else float("nan"),
                "health_p99_ms": 1000 * step_lags[min(len(step_lags) - 1, int(0.99 * len(step_lags)))]
                if step_lags else float("nan"),
            })
            steps.append(Step(size, float(row["rate"]), row))
            print(f"  {size} {row['rate']:g}/s: {json.dumps(row)}", file=sys.stderr, flush=True)
        stopping.set()
        prober.join(timeout=5)
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
            spy.wait(timeout=30)
    finally:
        stop(list(reversed(procs)))
        try:
            keys = subprocess.run(["redis-cli", "-p", str(REDIS[1]), "--scan", "--pattern", prefix + "*"],
                                  capture_output=True, text=True, timeout=60).stdout.split()
            for i in range(0, len(keys), 500):
                subprocess.run(["redis-cli", "-p", str(REDIS[1]), "DEL", *keys[i:i + 500]],
                               capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            pass
        print(f"  logs: {tmp}", file=sys.stderr)
    return steps


def table(steps: list[Step]) -> str:
    sizes = {"small": "2,000 agents, 10 nodes", "large": "10,000 agents, 20 nodes"}
    out = ["| agents, nodes | calls/s asked | calls/s made | offers/s | decision p50 ms | decision p99 ms "
           "| callers not yet with an agent at end | router CPU % | adapters CPU % (all) | Redis CPU % | Redis cmds/s "
           "| router /health p99 ms | stand-ins CPU % |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in steps:
        r = s.row
        secs = float(r["seconds"]) or 1.0
        p99 = float(r["decision_p99_ms"])
        mark = " **(> 20)**" if p99 > 20 else ""
        out.append(f"| {sizes[s.size]} | {s.rate:g} | {r.get('calls', 0) / secs:.0f} | {r.get('offers', 0) / secs:.0f} "
                   f"| {r['decision_p50_ms']:.1f} | {p99:.1f}{mark} | {r['waiting']} | {100 * r['router_cpu']:.0f} "
                   f"| {100 * r['adapters_cpu']:.0f} | {_num(100 * r['redis_cpu'])} | {_num(r['redis_cmds_s'])} "
                   f"| {r['health_p99_ms']:.1f} | {100 * r['sim_cpu_proc']:.0f} |")
    return "\n".join(out)


def _num(x: float) -> str:
    return "—" if x != x else f"{x:.0f}"  # (nan: Redis restarted during the step)


def write_doc(text: str) -> None:
    doc = ROOT / "docs/BENCHMARKS.md"
    body = doc.read_text()
    block = f"{START}\nRun of {time.strftime('%Y-%m-%d')} (Python {sys.version.split()[0]}, {os.cpu_count()} cores, shared):\n\n{text}\n{END}"
    if START in body and END in body:
        body = body[:body.index(START)] + block + body[body.index(END) + len(END):]
    else:
        body += f"\n{block}\n"
    doc.write_text(body)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=("small", "large", "both"), default="both")
    p.add_argument("--rates", default="", help="callers per second, one step each (default: per size)")
    p.add_argument("--step-s", type=float, default=30.0)
    p.add_argument("--settle-s", type=float, default=20.0)
    p.add_argument("--latency-ms", type=float, default=1.0, help="the stand-ins' own latency per REST answer")
    p.add_argument("--snapshot-every", type=int, default=1000, help="the router's [redis] snapshot_every")
    p.add_argument("--profile", metavar="TXT", help="sample the router with py-spy into collapsed stacks")
    p.add_argument("--write", action="store_true", help="put the table into docs/BENCHMARKS.md")
    args = p.parse_args()
    try:
        redis_info()
    except OSError:
        raise SystemExit("no Redis on 127.0.0.1:6390: run `make redis` first") from None
    steps: list[Step] = []
    for size in (("small", "large") if args.size == "both" else (args.size,)):
        steps += run(size, args)
    text = table(steps)
    print(text)
    if args.write:
        write_doc(text)


if __name__ == "__main__":
    main()
