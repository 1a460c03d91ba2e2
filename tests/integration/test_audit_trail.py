"""R14/R5: one audit log of every access to customers' data, chained with a keyed MAC
(the key outside the log's directory). A line edited, inserted or removed, or an end
cut and its anchor rewritten, is found by ``cti audit verify`` at its line; a request
path with ``%0A`` stays one line; /state reads, number views, queue_log and report
exports and refusals all land in it (the recordings' lines too:
tests/integration/test_recordings_cli.py)."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from cti.audit import AuditSettings, open_log, parse_audit, trail
from cti.configreader import Table
from cti.errors import ConfigError
from cti.masking import MaskingFormatter
from recording.audit import AuditLog
from tests.integration.test_confidentiality import NUMBER, _data
from tests.integration.world import world
from tests.test_layout import ROOT


def _keyed(tmp_path: Path) -> tuple[AuditSettings, AuditLog]:
    settings = AuditSettings(tmp_path / "audit" / "audit.log", tmp_path / "keys" / "audit.key")
    return settings, open_log(settings)


def test_R14_a_tampered_line_fails_verify_at_that_line(tmp_path: Path) -> None:
    _, log = _keyed(tmp_path)
    for i in range(10):
        log.record("li", "state-read", path=f"/state?{i}")
    assert log.verify().ok and log.verify().lines == 10
    lines = log.path.read_bytes().splitlines(keepends=True)
    log.path.write_bytes(b"".join(lines[:4] + [lines[4].replace(b"/state?4", b"/state?X")] + lines[5:]))
    verdict = log.verify()
    assert not verdict.ok and verdict.first_bad == 5, verdict
    # Without the key, a forger who also recomputes a plain chain after the edit fails too.
    forged = json.loads(lines[4])
    forged["path"] = "/state?X"
    forged.pop("mac")
    body = json.dumps(forged, sort_keys=True, separators=(",", ":")).encode()
    fake = body[:-1] + b',"mac":"' + hashlib.sha256(body).hexdigest().encode() + b'"}\n'
    log.path.write_bytes(b"".join(lines[:4] + [fake] + lines[5:]))
    assert log.verify().first_bad == 5
    # An end cut and its anchor rewritten without the key: found.
    log.path.write_bytes(b"".join(lines[:7]))
    last = json.loads(lines[6])["mac"]
    log.anchor.write_text(json.dumps({"lines": 7, "sha256": last, "seal": "0" * 64}))
    assert not log.verify().ok


def test_R14_cti_audit_verify_checks_the_whole_chain_and_names_the_first_bad_line(tmp_path: Path) -> None:
    settings, log = _keyed(tmp_path)
    cfg = tmp_path / "cti.toml"
    cfg.write_text((ROOT / "config" / "sandbox.toml").read_text().split("[recording]")[0] +
                   f'\n[audit]\nlog = "{settings.log}"\nkey_file = "{settings.key_file}"\n')
    for i in range(6):
        log.record("engine", "info", message=f"line {i}")

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cti.cli", "audit", "--config", str(cfg), "verify"],
                              capture_output=True, text=True, timeout=60, cwd=ROOT)
    ok = verify()
    assert ok.returncode == 0 and "intact: 6 lines" in ok.stdout, ok.stdout + ok.stderr
    lines = settings.log.read_bytes().splitlines(keepends=True)
    settings.log.write_bytes(b"".join(lines[:2] + [lines[2].replace(b"line 2", b"line 9")] + lines[3:]))
    bad = verify()
    assert bad.returncode == 1 and "broken at line 3" in bad.stdout, bad.stdout


def test_R14_the_key_file_must_be_outside_the_logs_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="outside the audit log's directory"):
        parse_audit(Table({"log": f"{tmp_path}/a/audit.log", "key_file": f"{tmp_path}/a/audit.key"}, "audit"))
    with pytest.raises(ConfigError, match="outside the audit log's directory"):
        parse_audit(Table({"log": f"{tmp_path}/a/audit.log", "key_file": f"{tmp_path}/a/k/audit.key"}, "audit"))
    assert parse_audit(Table({"log": f"{tmp_path}/a/audit.log", "key_file": f"{tmp_path}/k/audit.key"},
                             "audit")).key_file == tmp_path / "k" / "audit.key"


async def test_R14_every_access_is_one_keyed_line_and_a_path_with_0A_cannot_forge_one(
        tmp_path: Path) -> None:
    settings, log = _keyed(tmp_path)
    async with world(f"sqlite:{tmp_path}/cti.sqlite", tmp_path) as w:
        with trail(log):
            ids = await _data(w)
            assert (await w.http.get("/state", headers=w.as_role("admin"))).status == 200
            assert (await w.http.get(f"/workorders/{ids['order_id']}", headers=w.as_role("reader"))).status == 200
            assert (await w.http.get("/reports/queue_log", headers=w.as_role("reader"))).status == 200
            assert (await w.http.get("/reports/agents?format=csv", headers=w.as_role("supervisor"))).status == 200
            forged = "/desk/1002%0A2026-12-05T07:00:00 INFO cti.audit: nothing happened"
            assert (await w.http.get(forged, headers=w.as_role("agent:1001"))).status == 403
    raw = settings.log.read_bytes().splitlines()
    entries = [json.loads(line) for line in raw]  # every line one JSON object: none forged
    messages = [e.get("message", "") for e in entries]
    assert log.verify().ok and log.verify().lines == len(raw)
    assert [m for m in messages if "nothing happened" in m] == [
        "agent:1001 (agent) refused GET /desk/1002\n2026-12-05T07:00:00 INFO cti.audit: nothing happened"]
    assert sum(b"nothing happened" in line for line in raw) == 1
    for expected in ("state read by token:ops", "token:quality (reader) shown full numbers: GET /workorders/",
                     "queue_log", "report agents"):
        assert any(expected in m for m in messages), (expected, messages)
    assert NUMBER not in settings.log.read_text()  # R14: the log itself holds no whole number


def test_R14_the_engines_log_line_escapes_newlines_from_a_request() -> None:
    record = logging.LogRecord("cti.audit", logging.WARNING, __file__, 1, "refused GET %s",
                               ("/desk/1%0A".replace("%0A", "\nforged line"),), None)
    text = MaskingFormatter("%(levelname)s %(name)s: %(message)s").format(record)
    assert text == "WARNING cti.audit: refused GET /desk/1\\nforged line"
