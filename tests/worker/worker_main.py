"""Run `nexus.worker.run_worker` in a subprocess, on a scaled clock shared with the test."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime
from pathlib import Path

from nexus.registry.config import load_config
from nexus.scheduling import ScaledClock
from nexus.settings import Settings
from nexus.worker import run_worker


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--virtual-origin", required=True)
    parser.add_argument("--real-origin", type=float, required=True)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--tick", type=float, default=0.1)
    parser.add_argument("--heartbeat", type=float, default=0.5)
    parser.add_argument("--stalled-after", type=float, default=3.0)
    parser.add_argument("--name")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(process)d %(threadName)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    clock = ScaledClock(args.scale, datetime.fromisoformat(args.virtual_origin), args.real_origin)
    run_worker(
        Settings(),
        load_config(args.config),
        clock=clock,
        concurrency=args.concurrency,
        tick=args.tick,
        heartbeat=args.heartbeat,
        stalled_after=args.stalled_after,
        name=args.name,
    )


if __name__ == "__main__":
    main()
