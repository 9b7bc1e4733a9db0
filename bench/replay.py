"""Replay speed: 48 days of a business at 9 jobs/day, with 15-minute sync cycles.

The scenario (`scenarios/healthy.yaml` unless given) is replayed tick by tick from the
day its business opened: the history a shipped scenario backfills in its first sync is
replayed here too, so the run is always the 48 days the targets were set for. It runs
twice, each on a fresh database server: with the four feeds Nexus first mirrored (jobs,
invoices, customers, estimates; target ≤ 15 s) and with the default feed set (16 feeds;
target ≤ 45 s).

Machines here are noisy, so the run also times a fixed calibration workload
(pure-Python hashing) and reports each replay as a multiple of it; compare those
ratios across machines and runs (the targets are about 84 and 250 calibrations).
One calibration moves by half from a minute to the next, so it is timed three times
before, between and after the replays, every time printed, and the ratios use the
median of the nine.
Each replay's line also gives the CPU seconds of this process (the replay and the
simulator's server thread) and of the database server, which move much less than
wall time when other work shares the machine.

Most sync runs of a small business find nothing new; a replay records them without
making them (`nexus.sync.quiet`), and the line gives how many it did so.
`--every-request` makes every run, as replays did before, for a comparison.

Usage: python bench/replay.py [--scenario scenarios/healthy.yaml] [--days 48] [--every-request]
The last line is `RESULT replay_seconds=… replay_vs_calibration=…
replay_default_seconds=… replay_default_vs_calibration=…`.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _common import CpuSpent, bench_database, calibration

from nexus.replay import run_replay
from nexus.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]

#: The feeds Nexus mirrored before the catalog: the first replay target's workload.
FIRST_FEEDS = ("jobs", "invoices", "customers", "estimates")


def from_opening(scenario: Scenario, days: float) -> Scenario:
    """`scenario` replayed tick by tick for `days` from the day its business opened."""
    start = scenario.start - timedelta(days=scenario.history_days)
    return dataclasses.replace(
        scenario, start=start, until=start + timedelta(days=days), history_days=0
    )


def with_feeds(scenario: Scenario, feeds: tuple[str, ...], folder: Path) -> Scenario:
    """`scenario` mirroring only `feeds` (its producers as by default)."""
    config = folder / "nexus.toml"
    listed = ", ".join(f'"{feed}"' for feed in feeds)
    config.write_text(f"[mirror]\nfeeds = [{listed}]\n")
    return dataclasses.replace(scenario, config=config)


#: Calibrations timed at each of the three points around the replays.
CALIBRATIONS_EACH = 3


def calibrated(samples: list[float], when: str) -> None:
    """Time the calibration `CALIBRATIONS_EACH` times into `samples`, printing them."""
    taken = [calibration() for _ in range(CALIBRATIONS_EACH)]
    samples.extend(taken)
    print(f"calibration {when}: " + " ".join(f"{s:.3f}" for s in taken))


def timed(scenario: Scenario, label: str, every_request: bool) -> float:
    """Replay `scenario` on a fresh database server; its seconds."""
    db = bench_database(durable=False)  # as `nexus replay` runs: its server need not fsync
    with CpuSpent(db) as replay_cpu:
        start = time.perf_counter()
        result = run_replay(scenario, db, every_request=every_request)
        seconds = time.perf_counter() - start
    assert result.simulator is not None
    requests = sum(result.simulator.tenant(scenario.tenant).request_counts().values())
    print(
        f"{label}: scenario={scenario.name} runs={result.runs} quiet_runs={result.quiet_runs}"
        f" requests={requests} verdict={result.proof.verdict} seconds={seconds:.1f}"
        f" ms_per_run={seconds / result.runs * 1000:.2f} {replay_cpu}"
    )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "healthy.yaml")
    parser.add_argument("--days", type=float, default=48.0)
    parser.add_argument("--every-request", action="store_true", help="make every run")
    args = parser.parse_args()
    scenario = from_opening(load_scenario(args.scenario), args.days)
    print(f"days={args.days:.1f} from {scenario.start.date()} every_request={args.every_request}")
    samples: list[float] = []
    calibrated(samples, "before")
    with tempfile.TemporaryDirectory() as folder:
        four = with_feeds(scenario, FIRST_FEEDS, Path(folder))
        first = timed(four, "four feeds", args.every_request)
    calibrated(samples, "between")
    default = timed(scenario, "default feeds", args.every_request)
    calibrated(samples, "after")
    yardstick = statistics.median(samples)
    print(
        f"calibration_seconds={yardstick:.3f} (median of {len(samples)},"
        f" {min(samples):.3f}–{max(samples):.3f})"
    )
    print(
        f"RESULT replay_seconds={first:.1f} replay_vs_calibration={first / yardstick:.1f}"
        f" replay_default_seconds={default:.1f}"
        f" replay_default_vs_calibration={default / yardstick:.1f}"
    )


if __name__ == "__main__":
    main()
