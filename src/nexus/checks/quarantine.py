"""Quarantine: batches the write guard held back from the mirror, waiting for a person."""

from __future__ import annotations

from nexus.checks.alert import Alert, Cause, Measurement, questions
from nexus.checks.inputs import CheckInputs, CheckResult


def check(inputs: CheckInputs) -> CheckResult:
    held = inputs.conn.execute(
        "SELECT id, feed, kind, reason, rows, held_at FROM nexus.quarantine"
        " WHERE tenant_id = %s AND status = 'held' AND held_at <= %s ORDER BY id",
        (inputs.tenant, inputs.now),
    ).fetchall()
    if not held:
        return CheckResult()
    ids = tuple(int(r[0]) for r in held)
    rows = sum(int(r[4]) for r in held)
    cause = Cause(
        kind="writes_quarantined",
        producer=None,
        since=held[0][5],
        scope="feed",
        feed=held[0][1],
        evidence="; ".join(f"#{r[0]} {r[1]}: {r[3]}" for r in held),
        links={f"quarantine {i}": f"/quarantine#q-{i}" for i in ids},
    )
    alert = Alert(
        check="quarantine",
        severity="critical",
        status="critical",
        label="Writes quarantined",
        product=None,
        measurement=Measurement(
            counts=f"{len(held)} batch(es) held back from the mirror, {rows:,} rows; "
            "their feeds wait before them",
            n=rows,
            batches=ids,
            feeds=tuple(sorted({r[1] for r in held})),
        ),
        probable_cause=cause,
        questions=questions(inputs.db_fresh, None, "a census of held batches", cause),
    )
    return CheckResult(alerts=(alert,))
