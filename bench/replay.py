"""Replay speed: 48 days of a business at 9 jobs/day, with 15-minute sync cycles.

The scenario (`scenarios/healthy.yaml` unless given) is replayed tick by tick from the
day its business opened: the history a shipped scenario backfills in its first sync is
replayed here too, so the run is always the 48 days the targets were set for. It runs
twice in the same database server: with the four feeds Nexus first mirrored (jobs,
invoices, customers, estimates; target ≤ 15 s) and with the default feed set (16 feeds;
target ≤ 45 s).

Machines here are noisy, so the run also times a fixed calibration workload
(pure-Python hashing) and reports each replay as a multiple of it; compare those
ratios across machines and runs (the targets are about 84 and 250 calibrations).
Each replay's line also gives the CPU seconds of this process (the replay and the
simulator's server thread) and of the database server, which move much less than
wall time when other work shares the machine.

After each replay its floor is measured on the same database server (see
`replay_floor.py`): the least its sync runs must cost in this design, one lock,
ledger row, token read and keep-alive GET each. A target below the floor cannot be
met without changing what a run is.

Usage: python bench/replay.py [--scenario scenarios/healthy.yaml] [--days 48]
The last line is `RESULT replay_seconds=… replay_vs_calibration=…
replay_default_seconds=… replay_default_vs_calibration=… floor_seconds=…
floor_vs_calibration=… floor_default_seconds=… floor_default_vs_calibration=…`.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _common import CpuSpent, bench_database, calibration
from replay_floor import Floor, measure_floor

from nexus.registry.config import load_config
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


def timed(scenario: Scenario, label: str, yardstick: float) -> tuple[float, Floor]:
    """Replay `scenario`, then measure its floor on the same database server."""
    db = bench_database(durable=False)  # as `nexus replay` runs: its server need not fsync
    with CpuSpent(db) as replay_cpu:
        start = time.perf_counter()
        result = run_replay(scenario, db)
        seconds = time.perf_counter() - start
    print(
        f"{label}: scenario={scenario.name} runs={result.runs} verdict={result.proof.verdict}"
        f" seconds={seconds:.1f} ms_per_run={seconds / result.runs * 1000:.2f} {replay_cpu}"
    )
    assert result.simulator is not None
    requests = sum(result.simulator.tenant(scenario.tenant).request_counts().values())
    config = load_config(scenario.config)
    with CpuSpent(db) as floor_cpu:
        floor = measure_floor(db, config, scenario.tenant, requests, scenario.until)
    print(
        f"{label} floor: sync_runs={floor.total_runs} requests={floor.requests}"
        f" floor_seconds={floor.seconds:.1f}"
        f" ms_per_sync_run={floor.seconds / floor.total_runs * 1000:.2f}"
        f" floor_vs_calibration={floor.seconds / yardstick:.1f}"
        f" with_every_request_seconds={floor.with_every_request_seconds:.1f}"
        f" ({floor.with_every_request_seconds / yardstick:.1f} calibrations)"
        f" replay_vs_floor={seconds / floor.seconds:.2f}"
        f" {floor_cpu} (with every request)"
    )
    return seconds, floor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "healthy.yaml")
    parser.add_argument("--days", type=float, default=48.0)
    args = parser.parse_args()
    scenario = from_opening(load_scenario(args.scenario), args.days)
    print(f"days={args.days:.1f} from {scenario.start.date()}")
    yardstick = calibration()
    with tempfile.TemporaryDirectory() as folder:
        first, first_floor = timed(
            with_feeds(scenario, FIRST_FEEDS, Path(folder)), "four feeds", yardstick
        )
    default, default_floor = timed(scenario, "default feeds", yardstick)
    print(f"calibration_seconds={yardstick:.3f}")
    print(
        f"RESULT replay_seconds={first:.1f} replay_vs_calibration={first / yardstick:.1f}"
        f" replay_default_seconds={default:.1f}"
        f" replay_default_vs_calibration={default / yardstick:.1f}"
        f" floor_seconds={first_floor.seconds:.1f}"
        f" floor_vs_calibration={first_floor.seconds / yardstick:.1f}"
        f" floor_default_seconds={default_floor.seconds:.1f}"
        f" floor_default_vs_calibration={default_floor.seconds / yardstick:.1f}"
    )


if __name__ == "__main__":
    main()
