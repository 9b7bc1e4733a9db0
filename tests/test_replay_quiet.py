"""A replay's quiet runs leave the database, the proof and the notifications of making every run.

`nexus.sync.quiet` records the sync runs the simulator says would find nothing new
without making them. These tests replay the same scenario with every run made
(`every_request=True`) and with quiet runs, and compare every row of every table,
every proof and every notification sent. The scenario switches on each fault and event
that decides whether a run is quiet: an outage, a rate limit, hidden export changes,
a held batch, a stopped, a retired and a restored producer, rotated credentials and
a bulk write from outside; faults end between ticks, after the client's retries have
moved the clock. (Webhooks are left out: the web app refreshes on its own thread, so
how it batches hints differs from one replay to the next.)
"""

from __future__ import annotations

import dataclasses
import random
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from psycopg import sql

from emptied import empty
from nexus.registry.config import default_config_text
from nexus.replay import ReplayResult, run_replay
from nexus.scenario import load_scenario
from nexus.store.database import Database
from notifykit import receivers

SCENARIO = """\
name: quiet-runs
seed: 23
start: 2026-04-01T00:00:00Z
history_days: 2
until: 2026-04-02T09:00:00Z
timezone: America/Chicago
business: {completed_jobs_per_day: 12}
events:
  - {at: 2026-04-01T02:00:00Z, st_outage: {hours: 1.502}}
  - {at: 2026-04-01T05:00:00Z, rate_limit: {per_second: 2, hours: 1.001}}
  - {at: 2026-04-01T07:00:00Z, drop_export_share: {invoices: 0.5, hours: 4}}
  - {at: 2026-04-01T09:00:00Z, stop: estimate_sync}
  - {at: 2026-04-01T11:00:00Z, credentials_rotated: {hours: 2.003}}
  - {at: 2026-04-01T15:00:00Z, retire: invoice_sync}
  - {at: 2026-04-01T19:00:00Z, restore: invoice_sync}
  - {at: 2026-04-01T21:00:00Z, bulk_insert: {rows: 2000}}
  - {at: 2026-04-01T23:00:00Z, restore: estimate_sync}
  - {at: 2026-04-02T08:00:00Z, phantom_jobs: {rows: 1500}}
"""

#: The notifier evaluates hourly, so its proofs read the ledger between quiet runs.
NOTIFY = """
[producers.notifier]
kind = "notifier"
every = "1h"
"""

#: Only a load time differs between two replays of one scenario (the wall clock's)
LOAD_TIMES = {"created_at", "updated_at", "loaded_at", "released_at"}


def _rows(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every Nexus and mirror table, ordered, without wall-clock load times."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.connect() as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name,"
            " array_agg(column_name::text ORDER BY ordinal_position)"
            " FROM information_schema.columns WHERE table_schema IN ('nexus', 'titan')"
            " AND table_name <> 'alembic_version' GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
        for schema, table, columns in tables:
            kept = [c for c in columns if c not in LOAD_TIMES]
            listed = sql.SQL(", ").join(sql.Identifier(c) for c in kept)
            query = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
                listed, sql.Identifier(schema, table), listed
            )
            out[f"{schema}.{table}"] = [_plain(row) for row in conn.execute(query).fetchall()]
    return out


def _plain(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row with the API's random trace ids taken out of error texts."""
    return tuple(_untraced(v) if isinstance(v, str) else v for v in row)


def _untraced(text: str) -> str:
    """`text` without the random trace ids of ServiceTitan's errors (whole or cut short)."""
    return re.sub(r"traceId [0-9a-f]*", "traceId …", text)


def _replay(
    db: Database, tmp_path: Path, every_request: bool
) -> tuple[ReplayResult, Any, list[str]]:
    tmp_path.mkdir()
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO)
    config = tmp_path / "nexus.toml"
    # Zones are a reference list with a newest-first sort: its runs check the source too,
    # and checked twice an hour, a check falls due between two of its hourly reloads.
    text = default_config_text()
    for default, changed in (
        ('"membership_types",\n', '"membership_types", "zones",\n'),
        ('source_check_every = "1h"', 'source_check_every = "30m"'),
    ):
        assert default in text
        text = text.replace(default, changed)
    config.write_text(text + NOTIFY)
    scenario = dataclasses.replace(load_scenario(path), config=config)
    checkpoints = [datetime.fromisoformat(f"2026-04-01T{h:02}:30:00+00:00") for h in (3, 12, 20)]
    random.seed(5)  # the client's retry jitter moves the virtual clock: the same in both
    with receivers() as told:
        result = run_replay(
            scenario,
            db,
            observe_at=checkpoints,
            channels=told.channels,
            every_request=every_request,
        )
        sent = told.received()
    return result, _rows(db), sent


def test_quiet_runs_leave_every_row_proof_and_message_of_making_every_run(
    db: Database, tmp_path: Path
) -> None:
    made, made_rows, made_sent = _replay(db, tmp_path / "made", every_request=True)
    empty(db)
    quiet, quiet_rows, quiet_sent = _replay(db, tmp_path / "quiet", every_request=False)

    assert made.quiet_runs == 0
    # Most runs of a small business find nothing new; they were not made.
    assert quiet.quiet_runs > made.runs / 3, (quiet.quiet_runs, made.runs)
    assert (quiet.runs, quiet.failed_runs) == (made.runs, made.failed_runs)
    assert made.failed_runs > 0, "the scenario's faults should fail some runs"

    assert quiet_rows.keys() == made_rows.keys()
    differ = {
        table: (len(made_rows[table]), len(quiet_rows[table]))
        for table in made_rows
        if quiet_rows[table] != made_rows[table]
    }
    assert not differ, f"tables differ (rows made, quiet): {differ}"
    assert _proofs(quiet) == _proofs(made)
    assert made_sent, "the scenario's faults should tell someone"
    assert sorted(map(_untraced, quiet_sent)) == sorted(map(_untraced, made_sent))


def _proofs(result: ReplayResult) -> list[str]:
    """The replay's proofs, at each checkpoint and at its end, as JSON without trace ids."""
    proofs = [*result.checkpoints.values(), result.proof]
    return [_untraced(orjson.dumps(proof.to_json()).decode()) for proof in proofs]
