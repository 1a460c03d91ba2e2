"""``python -m bench.soak --seed S --minutes M``: one soak on sandbox instance 7 (or
``CTI_E2E_INSTANCE``); exits 1 when an invariant broke."""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

# the instance is read when the harness is imported: set before it
os.environ.setdefault("CTI_E2E_INSTANCE", "7")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--seed", type=int, default=None, help="the fault schedule's seed (default: drawn, printed)")
    parser.add_argument("--minutes", type=float, default=30.0, help="how long the traffic runs")
    parser.add_argument("--dir", type=Path, default=None, help="where its files go (default: a new temp directory)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 1_000_000)
    from bench.soak.run import soak

    return soak(seed, args.minutes, args.dir)


if __name__ == "__main__":
    sys.exit(main())
