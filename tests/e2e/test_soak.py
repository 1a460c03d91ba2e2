"""Issue 33, the soak's short form: three minutes of traffic (SIPp callers and agents on
this process's Asterisk instance; Redis with Sentinel; a leader and a standby engine
through AMI/ARI fault proxies) under the fault schedule of a fixed seed: the repair
department's webhook hanging for 19 s, kill -9 of the Redis primary, AMI blackholed for
19 s, and, meanwhile, kill -9 of the leader, then the recording archive's disk full for a
minute (``make soak SEED=9 MINUTES=3`` prints it). The invariants come from SIPp's traces and
statistics, Asterisk's ARI events, the archive's files and the store's database:

- R6: every caller accounted for once (served, gave up), none refused, none cut off,
  none left in Asterisk; no agent had two calls at once; routing back within 30 s of
  the last fault; the engines' reports equal the callers' traces (R13);
- R4: every call an agent talked in has its recording (hash, audio, length);
- R12: every disposition the API accepted is in the store; every work order made from
  a fault report is in the store and reached its department's webhook under its one
  idempotency key (or still waits in the outbox).

About 5 minutes (3 of traffic, the start, the drain and the checks)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.harness import INSTANCE, ROOT, Sandbox

SEED = 9
MINUTES = 3


def test_R6_R4_R12_R13_soak_of_three_minutes_under_overlapping_faults_keeps_every_invariant(
        sandbox: Sandbox, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--seed", str(SEED), "--minutes", str(MINUTES),
         "--dir", str(tmp_path / "soak")],
        cwd=ROOT, env={**os.environ, "CTI_E2E_INSTANCE": str(INSTANCE)}, capture_output=True, text=True,
        timeout=MINUTES * 60 + 600)
    print(run.stdout[-6000:])
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert "every invariant held" in run.stdout
    for kind in ("webhook-hang", "kill9-redis-primary", "ami-blackhole", "kill9-leader", "disk-full"):  # seed 9's
        assert kind in run.stdout


def test_the_fault_schedule_is_drawn_from_the_seed_alone_and_overlaps() -> None:
    """The same seed, the same schedule (a failure can be replayed); every kind appears
    in a 30-minute run; some faults overlap; none in the last minute."""
    from bench.soak.schedule import KINDS, draw, overlaps

    first, again = draw(33, 30), draw(33, 30)
    assert first == again and draw(34, 30) != first
    assert {f.kind for f in first} == set(KINDS)
    assert overlaps(first)
    assert max(f.heals_at_s for f in first) <= 30 * 60 - 60 + 40  # (a webhook hang may run into it)
    assert [f.kind for f in draw(SEED, MINUTES)] == ["webhook-hang", "kill9-redis-primary", "ami-blackhole",
                                                     "kill9-leader", "disk-full"]
