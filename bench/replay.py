"""Replay speed: a 48-day scenario at 9 jobs/day with 15-minute sync cycles.

Target: at most 60 s on a 2-core machine. Machines here are noisy, so the run
also times a fixed calibration workload (pure-Python hashing) and reports the
replay as a multiple of it; compare that ratio across machines and runs.

Usage: python bench/replay.py [--scenario scenarios/healthy.yaml]
The last line is `RESULT replay_seconds=<seconds>`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import bench_database, calibration

from nexus.replay import run_replay
from nexus.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "healthy.yaml")
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)
    days = (scenario.until - scenario.start).total_seconds() / 86400
    db = bench_database(durable=False)  # as `nexus replay` runs: its server need not fsync
    yardstick = calibration()
    start = time.perf_counter()
    result = run_replay(scenario, db)
    seconds = time.perf_counter() - start
    print(f"scenario={scenario.name} days={days:.1f} runs={result.runs}")
    print(f"verdict={result.proof.verdict}")
    print(f"ms_per_run={seconds / result.runs * 1000:.2f}")
    print(f"calibration_seconds={yardstick:.3f}")
    print(f"replay_vs_calibration={seconds / yardstick:.1f}")
    print(f"RESULT replay_seconds={seconds:.1f}")


if __name__ == "__main__":
    main()
