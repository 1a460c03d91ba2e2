"""How long the recording audit freezes the event loop, before and after issue 11.

Not a test: run `python bench/audit_stall_bench.py [calls]` (default 60; figures go to
docs/BENCHMARKS.md by hand). Builds a temporary archive of ``calls`` recordings of
5 minutes each (8 kHz, 16-bit, mono: 4.8 MB, a real call's size), then runs one audit
cycle while a heartbeat task wakes every 10 ms and records how late it woke: the
longest lateness is the longest stall a ring timeout, an ARI heartbeat or the Redis
lease would have suffered.

- before: the audit as it was (every recording of the last 24 h re-read and its
  loudness computed in pure Python, on the event loop, every cycle);
- after: the recorder's audit (the index's figures, taken once at archive time, read
  on the recorder's worker thread).
Also one archiving step (inspect + SHA-256 + move) per call, before on the loop and
after on the worker thread.
"""

from __future__ import annotations

import array
import asyncio
import math
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from cti.recording.calllog import CallLog  # noqa: E402
from cti.recording.recorder import Recorder  # noqa: E402
from cti.recording.settings import RecordingConfig  # noqa: E402
from recording.archive import Archive  # noqa: E402
from recording.completeness import audit  # noqa: E402
from recording.wav import WavInfo, inspect  # noqa: E402

SECONDS = 300


def write_call(path: Path, seconds: int = SECONDS) -> None:
    rate = 8000
    t = np.arange(seconds * rate)
    samples = (6000 * np.sin(2 * np.pi * 440 * t / rate)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


def inspect_before(path: Path) -> WavInfo:
    """The WAV inspection as it was before: pure Python over every sample."""
    with wave.open(str(path), "rb") as w:
        frames, rate, data = w.getnframes(), w.getframerate(), w.readframes(w.getnframes())
    samples = array.array("h")
    samples.frombytes(data)
    rms = math.sqrt(sum(s * s for s in samples) / len(samples))
    return WavInfo(frames / rate, rms, max(abs(min(samples)), max(samples)))


def audit_before(archive: Archive, calls: CallLog, since: float, until: float) -> Any:
    answered = calls.answered_between(since, until)
    infos: dict[str, WavInfo | str] = {}
    for call in answered:
        meta = archive.get(call.call_id, missing_ok=True)
        if meta is not None:
            infos[call.call_id] = inspect_before(archive.root / meta.path)
    return audit(answered, infos, 1.0)


async def longest_stall(work: Any) -> tuple[float, float]:
    """(longest heartbeat lateness, duration of ``work``) in seconds."""
    late = 0.0
    stop = False

    async def heartbeat() -> None:
        nonlocal late
        while not stop:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            late = max(late, time.perf_counter() - before - 0.01)

    beat = asyncio.ensure_future(heartbeat())
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    result = work()
    if asyncio.iscoroutine(result):
        await result
    took = time.perf_counter() - started
    await asyncio.sleep(0.05)
    stop = True
    await beat
    return late, took


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = RecordingConfig(root / "spool", "/spool", root / "archive")
        recorder = Recorder(config, ari=None)  # type: ignore[arg-type]
        one = root / "one.wav"
        write_call(one)
        ended = time.time() - 600
        for i in range(n):
            call_id = f"bench-{i}"
            (config.spool_dir / f"{call_id}.wav").write_bytes(one.read_bytes())
            recorder.log.answered(call_id, "13800000000", ended - SECONDS)
            recorder.log.ended(call_id, ended)
        # One call archived on the loop, as before, then the rest on the worker thread.
        first = config.spool_dir / "bench-0.wav"
        archive_loop = await longest_stall(lambda: (inspect_before(first), recorder.archive.store(
            first, {"call_id": "bench-0", "started_at": ended - SECONDS, "ended_at": ended}, inspect(first))))
        recorder.log.mark("bench-0", "archived")
        archive_after = await longest_stall(lambda: recorder.io(recorder.archive_finished, 0.0))
        since, until = time.time() - 86400, time.time()
        before = await longest_stall(lambda: audit_before(recorder.archive, recorder.log, since, until))
        after = await longest_stall(lambda: recorder.io(recorder.run_audit))
        report = recorder.last_report
        assert report is not None and report.answered == n and report.ok == n, report
        print(f"{n} recordings of {SECONDS // 60} min (4.8 MB each)\n")
        print("| step | longest loop stall ms | step took ms |")
        print("|---|---:|---:|")
        print(f"| archive one call, before (on the loop) | {archive_loop[0] * 1000:.0f} | {archive_loop[1] * 1000:.0f} |")
        print(f"| archive {n - 1} calls, after (worker thread) | {archive_after[0] * 1000:.1f} | "
              f"{archive_after[1] * 1000:.0f} |")
        print(f"| audit cycle, before (re-read every file on the loop) | {before[0] * 1000:.0f} | "
              f"{before[1] * 1000:.0f} |")
        print(f"| audit cycle, after (index, worker thread) | {after[0] * 1000:.1f} | {after[1] * 1000:.1f} |")
        print(f"\nstall ratio before/after (audit): {before[0] / max(after[0], 1e-4):.0f}x")
        recorder._thread.shutdown()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 60))
