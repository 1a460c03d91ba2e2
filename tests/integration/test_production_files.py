"""The files for running the engine for real: the systemd unit passes systemd's own
check, and the example production configuration loads (secrets from the environment,
none in the file), bound to loopback, with Redis and recording on."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from cti import config as config_mod

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"CTI_ARI_PASSWORD": "p" * 20, "CTI_AMI_SECRET": "s" * 20, "CTI_ADMIN_TOKEN": "t" * 32,
           "CTI_REDIS_URL": "redis://127.0.0.1:6390/0", "CTI_STORE_URL": "sqlite:/tmp/cti-example.sqlite",
           "CTI_WEBHOOK_SECRET": "w" * 32, "CTI_RECORDING_READER_TOKEN": "r" * 32}


def test_the_example_production_config_loads_with_its_secrets_from_the_environment() -> None:
    text = (ROOT / "config/production.example.toml").read_text()
    for value in SECRETS.values():
        assert value not in text
    cfg = config_mod.load(ROOT / "config/production.example.toml", environ=SECRETS)
    assert cfg.http.host == "127.0.0.1" and cfg.redis is not None and cfg.recording is not None
    assert cfg.asterisk.ari_password == SECRETS["CTI_ARI_PASSWORD"]
    assert {q.name for q in cfg.queues} == {"service", "emergency"}


def test_the_systemd_unit_passes_systemd_analyze(tmp_path: Path) -> None:
    """``systemd-analyze verify`` on the unit, its program pointed at this checkout's."""
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze (Debian's systemd package) is needed"
    unit = (ROOT / "contrib/systemd/cti-engine.service").read_text()
    cli = Path(sys.executable).with_name("cti")
    assert cli.exists(), cli
    unit = unit.replace("/opt/cti-engine/.venv/bin/cti", str(cli)).replace("/opt/cti-engine", str(ROOT))
    (tmp_path / "cti-engine.service").write_text(unit)
    out = subprocess.run([analyze, "verify", str(tmp_path / "cti-engine.service")], capture_output=True, text=True,
                         timeout=60)
    problems = [x for x in (out.stdout + out.stderr).splitlines() if "cti-engine.service" in x]
    assert out.returncode == 0 and not problems, out.stdout + out.stderr
    for hardening in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "CapabilityBoundingSet=",
                      "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "SystemCallFilter=@system-service"):
        assert hardening in unit
