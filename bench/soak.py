"""The soak: a virtual day of three tenants and two worker processes, killed at random.

Every few virtual minutes a worker is SIGKILLed and a new one started; ServiceTitan
faults arrive at random (5xx bursts, 429s, stalls past the client's timeout, a
malformed record fixed on the next read); the default feed set is mirrored with
webhooks on. At the end every mirror must equal its source field for field, no two
runs of one producer and tenant may have overlapped, every run must be closed and no
quarantine left unexplained. The soak itself lives in `tests/worker/soakkit.py`, which
the tests run for a shorter time.

Usage: python bench/soak.py [--hours 24] [--seed N] [--scale 120]
The last line is `RESULT soak_lost=<records lost> soak_duplicates=<runs or notices twice>`.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

from _common import bench_database

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "worker"), str(ROOT / "tests")]

from soakkit import SoakPlan, run_soak  # noqa: E402  (the soak is shared with the tests)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=random.randrange(1, 1 << 16))
    parser.add_argument("--scale", type=float, default=120.0, help="virtual seconds per second")
    args = parser.parse_args()
    db = bench_database()
    home = Path(tempfile.mkdtemp(prefix="nexus-soak-"))
    report = run_soak(db, home, SoakPlan(hours=args.hours, seed=args.seed, scale=args.scale))
    for line in report.kills + report.faults:
        print(line)
    print(report.summary())
    sys.exit(1 if report.problems else 0)


if __name__ == "__main__":
    main()
