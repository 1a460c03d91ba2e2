"""The recording call log's queries over six months of calls (issue 17).

    .venv/bin/python bench/calllog_bench.py [calls]

A call log (``cti.recording.calllog``) with N archived calls (360,000 by default: 2,000
calls a day kept six months, R5) and 20 recordings waiting to be archived. Times the
archiver's query (every second), the audit's (every audit interval) and the resync's,
without the log's indexes (as until issue 17) and with them, in the same run. These
queries run on the recorder's worker thread, never on the event loop.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cti.recording.calllog import CallLog  # noqa: E402


def timed(step, times: int) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    for _ in range(times):
        step()
    return (time.perf_counter() - started) / times * 1000


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 360_000
    log = CallLog(Path(tempfile.mkdtemp(prefix="cti-calllog-")) / "calls.sqlite")
    now = time.time()
    log._db.executemany("INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (
        (f"c{i}", "13900000000", "support", "repair", "1001", now - 180 * 86400 + i * 40, now - 180 * 86400 + i * 40 + 300,
         "archived") for i in range(n)))
    for i in range(20):
        log.answered(f"n{i}", "13900000001", now - 50)
        log.label(f"n{i}", "support", "repair", "1001")
        log.ended(f"n{i}", now - 40)
    log._db.commit()
    rows = []
    for label in ("without the indexes (before)", "with the indexes (after)"):
        if label.startswith("without"):
            log._db.execute("DROP INDEX to_archive")
            log._db.execute("DROP INDEX by_end")
        else:
            log._db.execute("CREATE INDEX to_archive ON calls(ended_at) WHERE recording = 'recording'")
            log._db.execute("CREATE INDEX by_end ON calls(ended_at)")
        assert len(log.to_archive()) == 20 and len(log.answered_between(now - 86400, now)) == 20
        rows.append((label, timed(log.to_archive, 20), timed(lambda: log.answered_between(now - 86400, now), 5),
                     timed(log.open_calls, 5)))
    print(f"{n:,} calls in the log, 20 to archive\n")
    print("| call log | archiver's query ms (every second) | audit's query ms | resync's query ms |")
    print("|---|---:|---:|---:|")
    for label, a, b, c in rows:
        print(f"| {label} | {a:.2f} | {b:.2f} | {c:.2f} |")


if __name__ == "__main__":
    main()
