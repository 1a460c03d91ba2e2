"""A clock ahead of the machine's for a process under test (the engine, the CLI): Debian's
libfaketime preloaded, moving the wall clock only (``DONT_FAKE_MONOTONIC``: asyncio's
timers and deadlines run as ever). Used where a rule counts days: R16 feedback due in
working days, R5 retention in months."""

from __future__ import annotations

import glob


def days_ahead(days: int) -> dict[str, str]:
    """The environment that runs a process ``days`` days in the future (its clock ticks)."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        raise AssertionError("libfaketime is missing: contrib/ensure-tools installs it (package faketime)")
    return {"LD_PRELOAD": found[0], "FAKETIME": f"+{int(days)}d", "DONT_FAKE_MONOTONIC": "1"}
