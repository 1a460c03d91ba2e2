"""`cti run`: a bad config or an unreachable Asterisk ends the start with one clear
line on stderr and a non-zero exit code, never a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cti(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cti.cli", *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def test_bad_config_value_gives_one_line_and_exit_2(tmp_path: Path) -> None:
    cfg = (ROOT / "config" / "sandbox.toml").read_text().replace("ring_cycle_s = 5", "ring_cycle_s = -5")
    path = tmp_path / "bad.toml"
    path.write_text(cfg)
    result = run_cti("run", "--config", str(path))
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith("cti: config error: queues[0].ring_cycle_s: expected a number >= 0.1")


def test_missing_config_file_gives_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_cti("run", "--config", str(tmp_path / "missing.toml"))
    assert result.returncode == 2
    assert "expected an existing file" in one_line(result.stderr)


def test_unreachable_asterisk_gives_one_line_and_exit_3(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    cfg = (ROOT / "config" / "sandbox.toml").read_text().replace(
        'ari_url = "http://127.0.0.1:8088"', f'ari_url = "http://127.0.0.1:{port}"'
    ).replace("connect_timeout_s = 5", "connect_timeout_s = 2") + (
        f'\n[audit]\nlog = "{tmp_path}/audit/audit.log"\nkey_file = "{tmp_path}/audit.key"\n')
    path = tmp_path / "unreachable.toml"
    path.write_text(cfg)
    result = run_cti("run", "--config", str(path))
    assert result.returncode == 3
    line = one_line(result.stderr)
    assert line.startswith(f"cti: cannot reach Asterisk ARI at http://127.0.0.1:{port}/ari")


def test_R11_campaign_import_from_the_command_line(tmp_path: Path) -> None:
    """`cti campaign` writes a CSV list into the engine's store (the running engine
    takes it up); lines that are not numbers are named; a queue that does not exist is
    refused."""
    import asyncio

    from cti.store.sql import Database
    from cti.orders.store import SCHEMA, WorkOrderStore

    store = tmp_path / "cti.sqlite"
    config = tmp_path / "cti.toml"
    config.write_text(f"""
[asterisk]
ari_user = "u"
ari_password = "p"
ami_user = "u"
ami_secret = "s"
[[queues]]
name = "support"
[store]
url = "sqlite:{store}"
""")
    listing = tmp_path / "customers.csv"
    listing.write_text("number,name\n13900000001,王\n13900000002,李\nnobody,x\n13900000001,again\n", encoding="utf-8")
    done = run_cti("campaign", "--config", str(config), "--name", "回訪", "--queue", "support", str(listing))
    assert done.returncode == 0, done.stderr
    assert "2 customers" in done.stdout and "lines refused (not a number): 4" in done.stdout

    async def read() -> list[dict[str, object]]:
        db = Database(f"sqlite:{store}", 5.0, SCHEMA)
        try:
            return await WorkOrderStore(db).campaigns()
        finally:
            db.close()
    (campaign,) = asyncio.run(read())
    assert campaign["name"] == "回訪" and campaign["progress"] == {"scheduled": 2}
    wrong = run_cti("campaign", "--config", str(config), "--name", "x", "--queue", "nope", str(listing))
    assert wrong.returncode != 0 and "no queue 'nope'" in wrong.stderr


def test_the_engine_runs_on_uvloop() -> None:
    """`cti run` drives the engine with uvloop's loop (what the benchmarks measured)."""
    import asyncio

    import uvloop

    from cti.cli import run_loop

    async def loop_type() -> type:
        return type(asyncio.get_running_loop())
    assert issubclass(run_loop(loop_type()), uvloop.Loop)
