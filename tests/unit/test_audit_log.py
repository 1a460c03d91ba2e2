"""R5/R14: the audit log proves itself. Two processes writing at once (the engine and
the command line) keep one valid chain; a line edited, removed from the middle or cut
from the end is found, with its line number; an oversized detail cannot break the
chain after a restart."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

from recording.audit import MAX_LINE, AuditLog


def _writer(path: str, who: str, n: int) -> None:
    log = AuditLog(Path(path))
    for i in range(n):
        log.record(who, "list", i=i)


def test_R14_two_writers_at_once_keep_one_valid_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), who, 150)) for who in ("engine", "cli")]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    verdict = AuditLog(path).verify()
    assert verdict.ok and verdict.lines == 300, verdict
    assert {e["who"] for e in AuditLog(path).entries()} == {"engine", "cli"}


def test_R14_edits_removals_and_truncation_are_found(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = AuditLog(path)
    for i in range(10):
        log.record("li", "retrieve", call_id=f"c-{i}")
    assert log.verify().ok
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:4] + [lines[4].replace(b"c-4", b"c-X")] + lines[5:]))
    assert log.verify().first_bad == 6  # the line after the edited one no longer chains
    path.write_bytes(b"".join(lines[:3] + lines[4:]))
    assert log.verify().first_bad == 4
    path.write_bytes(b"".join(lines[:7]))  # cut from the end: the chain alone is valid
    verdict = log.verify()
    assert not verdict.ok and verdict.first_bad == 8 and "anchor records 10 lines" in verdict.reason


def test_R14_an_oversized_detail_cannot_break_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    AuditLog(path).record("li", "list", query={"caller": "x" * 100_000})
    AuditLog(path).record("li", "list", query={"caller": "y"})  # a restarted writer chains on
    assert all(len(raw) <= MAX_LINE for raw in path.read_bytes().splitlines())
    assert AuditLog(path).verify().ok
    first = json.loads(path.read_bytes().splitlines()[0])
    assert "details_sha256" in first and "query" not in first
