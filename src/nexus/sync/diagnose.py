"""Diagnose zero-invoice jobs: ask ServiceTitan directly why a sample of them shows $0.

The population is the mirror's completed jobs in the coverage window whose
`invoice_total` is zero. A seeded random sample of them is looked up in
ServiceTitan — jobs by id and their invoices by id, 50 ids per call; a job
about to be called a sync miss or genuinely unbilled is read once more with
all its invoices (one call), so adjustments the mirror never saw count too —
and each job is classified:

- `missing_in_st`: ServiceTitan has no such job;
- `sync_miss`: ServiceTitan's invoices add up to a total the mirror lacks;
- `canceled`: ServiceTitan says the job was canceled;
- `no_charge`: recall, warranty or no-charge work (job flag or job type);
- `not_finished`: ServiceTitan is also $0 and the job is not completed there,
  or completed within the expected invoice lag;
- `genuinely_zero`: chargeable, completed longer ago than the lag, still $0 in
  ServiceTitan: the work was not invoiced — a business signal, not a mirror fault.

Each class's share of the sample estimates its share of the whole population,
reported with a 95 % Wilson interval. `repair` loads the sync misses (their
invoices, and their jobs when ServiceTitan's copy is newer) through the normal
loader in a transaction marked as this run, so `invoice_total` follows by
derivation. Every diagnosis is kept in `nexus.diagnoses`; the latest one feeds
the proof's zero-invoice split and probable cause.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import orjson

from nexus import times
from nexus.clock import Clock
from nexus.registry.config import InvoiceCoverageCheck
from nexus.registry.timeline import current_actor, record_event
from nexus.servicetitan.feeds import INVOICES, JOBS, Feed
from nexus.stats import wilson
from nexus.store.connection import Connection
from nexus.store.database import Database
from nexus.store.guard import mark_sync_run
from nexus.store.loader import Loader, flatten
from nexus.store.rows import TABLES
from nexus.sync.recorded_run import recorded_run

#: The run ledger's name for diagnoses.
PRODUCER = "diagnose"
#: The classes, in report order.
CLASSES = (
    "sync_miss",
    "not_finished",
    "no_charge",
    "canceled",
    "genuinely_zero",
    "missing_in_st",
)
DEFAULT_SAMPLE = 30
ZERO = Decimal("0.00")


class CoverageWindow(Protocol):
    """The coverage check's window and expected invoice lag (its settings have both)."""

    @property
    def window(self) -> timedelta: ...

    @property
    def expected_lag(self) -> timedelta: ...


#: The window and lag of the default configuration.
DEFAULT_PARAMS: CoverageWindow = InvoiceCoverageCheck()


class JobSource(Protocol):
    """What a diagnosis needs from a ServiceTitan client (of the tenant diagnosed)."""

    api_calls: int

    def get_by_ids(self, feed: Feed, ids: Iterable[int]) -> list[dict[str, Any]]: ...

    def invoices_for_job(self, job_id: int) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class ClassShare:
    """How many sampled jobs fell in a class, and the population share it estimates."""

    count: int
    share: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "share": round(self.share, 4),
            "ci_low": round(self.ci_low, 4),
            "ci_high": round(self.ci_high, 4),
        }


@dataclass(frozen=True)
class JobFinding:
    """One sampled job: its class and what ServiceTitan and the mirror said about it."""

    id: int
    klass: str
    evidence: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "class": self.klass, "evidence": self.evidence}


@dataclass(frozen=True)
class Diagnosis:
    """One diagnosis of the zero-invoice population of a tenant."""

    tenant: int
    at: datetime
    seed: int
    sampled: int
    population: int
    window_start: datetime
    window_end: datetime
    expected_lag: timedelta
    classes: dict[str, ClassShare]
    jobs: tuple[JobFinding, ...]
    repaired: int = 0
    api_calls: int = 0
    run_id: int | None = None
    id: int | None = None

    @property
    def sync_miss_ids(self) -> frozenset[int]:
        """Sampled jobs ServiceTitan has invoiced and the mirror had not (repaired or not)."""
        return frozenset(j.id for j in self.jobs if j.klass == "sync_miss")

    def estimate(self, klass: str) -> tuple[int, int, int]:
        """The class's estimated job count in the population: (point, low, high)."""
        share = self.classes[klass]
        n = self.population
        return round(share.share * n), round(share.ci_low * n), round(share.ci_high * n)

    def as_dict(self) -> dict[str, Any]:
        """`{"sampled", "population", "classes": {class: {count, share, ci_low, ci_high}},
        "jobs": [{"id", "class", "evidence"}], …}`."""
        return {
            "sampled": self.sampled,
            "population": self.population,
            "classes": {k: self.classes[k].as_dict() for k in CLASSES},
            "jobs": [j.as_dict() for j in self.jobs],
            "id": self.id,
            "tenant": self.tenant,
            "at": self.at.isoformat(),
            "run_id": self.run_id,
            "seed": self.seed,
            "window": {"start": self.window_start.isoformat(), "end": self.window_end.isoformat()},
            "expected_lag_s": int(self.expected_lag.total_seconds()),
            "repaired": self.repaired,
            "api_calls": self.api_calls,
        }

    def summary_lines(self, zone: ZoneInfo) -> list[str]:
        """The diagnosis for a terminal, its window in `zone`: population, classes, misses."""
        lines = [
            f"tenant {self.tenant}: {self.population} completed jobs with a $0 invoice total "
            f"between {times.local(self.window_start, zone)} and "
            f"{times.local(self.window_end, zone)}; "
            f"asked ServiceTitan about {self.sampled} of them (seed {self.seed}, "
            f"{self.api_calls} API calls)"
        ]
        for klass in CLASSES:
            share = self.classes[klass]
            point, low, high = self.estimate(klass)
            lines.append(
                f"  {klass:<15} {share.count:>4}  {share.share:6.1%}  "
                f"(95 % CI {share.ci_low:.0%}–{share.ci_high:.0%}, "
                f"≈ {point} jobs, {low}–{high})"
            )
        misses = [j for j in self.jobs if j.klass == "sync_miss"]
        if misses:
            shown = ", ".join(f"{j.id} (${j.evidence['st_total']})" for j in misses[:5])
            more = f" and {len(misses) - 5} more" if len(misses) > 5 else ""
            lines.append(f"sync misses: {shown}{more}")
            if self.repaired:
                lines.append(f"repaired {self.repaired} of them through the loader")
            else:
                lines.append(
                    "load them with `nexus diagnose invoices --repair`, and find every miss "
                    "with `nexus reconcile --feed invoices --repair`"
                )
        return lines


# -- the population and the sample ---------------------------------------------------

POPULATION = """
    FROM titan.jobs j
    WHERE j.tenant_id = %(tenant)s AND j.active AND j.job_status = 'Completed'
      AND j.completed_on > %(start)s AND j.completed_on <= %(now)s
      AND coalesce(j.invoice_total, 0) = 0
"""


def population_ids(
    conn: Connection, tenant: int, now: datetime, params: CoverageWindow = DEFAULT_PARAMS
) -> list[int]:
    """Ids of the completed jobs in the window whose mirrored invoice total is zero, in order."""
    rows = conn.execute(
        "SELECT j.id" + POPULATION + " ORDER BY j.id",
        {"tenant": tenant, "start": now - params.window, "now": now},
    ).fetchall()
    return [int(r[0]) for r in rows]


def draw_sample(ids: Sequence[int], size: int, seed: int) -> list[int]:
    """A simple random sample of `size` ids (all of them if fewer), the same for the same seed."""
    if size >= len(ids):
        return list(ids)
    return sorted(random.Random(seed).sample(list(ids), size))


# -- diagnose -------------------------------------------------------------------------


def diagnose_invoices(
    db: Database,
    client: JobSource,
    tenant: int,
    clock: Clock,
    *,
    sample: int = DEFAULT_SAMPLE,
    seed: int | None = None,
    repair: bool = False,
    params: CoverageWindow = DEFAULT_PARAMS,
    actor: str | None = None,
) -> Diagnosis:
    """Sample the zero-invoice jobs, ask ServiceTitan about each, classify, save, maybe repair.

    Runs as the `diagnose` producer in the run ledger, under its lock; a
    failure (ServiceTitan unreachable) records the run as failed, saves no
    diagnosis and repairs nothing. A database that refuses or drops connections
    is waited for (`Database.patience`) and the diagnosis made again.
    """
    if sample < 1:
        raise ValueError(f"sample must be at least 1, got {sample}")
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    # Nothing is written before every sampled job was asked about: a lost connection
    # costs a rerun of the same sample (same seed).
    return db.patience.run(
        f"tenant {tenant}: {PRODUCER}",
        lambda: _diagnose_once(db, client, tenant, clock, sample, seed, repair, params, actor),
    )


def _diagnose_once(
    db: Database,
    client: JobSource,
    tenant: int,
    clock: Clock,
    sample: int,
    seed: int,
    repair: bool,
    params: CoverageWindow,
    actor: str | None,
) -> Diagnosis:
    db.ensure_schema()
    with (
        db.connect(autocommit=True) as control,
        db.connect(autocommit=True) as conn,
        recorded_run(control, tenant, PRODUCER, clock) as run,
    ):
        now = run.started_at
        calls_before = client.api_calls
        population = population_ids(conn, tenant, now, params)
        chosen = draw_sample(population, sample, seed)
        facts = _gather(conn, client, tenant, chosen)
        horizon = _invoice_horizon(conn, tenant)
        findings = [
            _classify(job_id, facts, now, params.expected_lag, horizon, client) for job_id in chosen
        ]
        counts = {k: sum(1 for f in findings if f.klass == k) for k in CLASSES}
        classes: dict[str, ClassShare] = {}
        for klass, count in counts.items():
            rate = wilson(count, len(chosen))
            classes[klass] = ClassShare(count, rate.rate, rate.ci_low, rate.ci_high)
        with conn.transaction():
            repaired = 0
            if repair:
                mark_sync_run(conn, run.id)
                repaired = _repair(conn, tenant, findings, facts, clock.now())
            diagnosis = Diagnosis(
                tenant=tenant,
                at=now,
                seed=seed,
                sampled=len(chosen),
                population=len(population),
                window_start=now - params.window,
                window_end=now,
                expected_lag=params.expected_lag,
                classes=classes,
                jobs=tuple(findings),
                repaired=repaired,
                api_calls=client.api_calls - calls_before,
                run_id=run.id,
            )
            diagnosis = _save(conn, diagnosis)
            if repaired:
                _record_repair(conn, diagnosis, actor or current_actor(), clock.now())
        run.rows_read = len(chosen)
        run.rows_changed = diagnosis.repaired
    return diagnosis


@dataclass
class _Facts:
    """What the mirror and ServiceTitan say about the sampled jobs."""

    mirror_jobs: dict[int, dict[str, Any]] = field(default_factory=dict)
    mirror_invoices: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    no_charge_types: set[int] = field(default_factory=set)
    st_jobs: dict[int, dict[str, Any]] = field(default_factory=dict)
    st_invoices: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)


def _gather(conn: Connection, client: JobSource, tenant: int, job_ids: list[int]) -> _Facts:
    facts = _Facts()
    if not job_ids:
        return facts
    for row in conn.execute(
        "SELECT id, completed_on, invoice_total, job_status, active, modified_on"
        " FROM titan.jobs WHERE tenant_id = %s AND id = ANY(%s::int8[])",
        (tenant, job_ids),
    ):
        facts.mirror_jobs[int(row[0])] = {
            "completed_on": row[1],
            "invoice_total": row[2],
            "job_status": row[3],
            "active": row[4],
            "modified_on": row[5],
        }
    for row in conn.execute(
        "SELECT job_id, id, total, active, modified_on FROM titan.invoices"
        " WHERE tenant_id = %s AND job_id = ANY(%s::int8[]) ORDER BY id",
        (tenant, job_ids),
    ):
        facts.mirror_invoices.setdefault(int(row[0]), []).append(
            {"id": int(row[1]), "total": row[2], "active": row[3], "modified_on": row[4]}
        )
    facts.no_charge_types = {
        int(r[0])
        for r in conn.execute(
            "SELECT id FROM titan.job_types WHERE tenant_id = %s AND no_charge", (tenant,)
        )
    }
    # Flattening checks the records as the loader would, before anything is used.
    st_jobs = client.get_by_ids(JOBS, job_ids)
    flatten(TABLES["jobs"], st_jobs)
    for record in st_jobs:
        facts.st_jobs[int(record["id"])] = record
    # Each job's own invoice (booked with it) and every invoice the mirror links to it.
    invoice_ids = {
        int(r["invoiceId"]) for r in facts.st_jobs.values() if isinstance(r.get("invoiceId"), int)
    }
    invoice_ids |= {i["id"] for rows in facts.mirror_invoices.values() for i in rows}
    st_invoices = client.get_by_ids(INVOICES, sorted(invoice_ids))
    flatten(TABLES["invoices"], st_invoices)
    for record in st_invoices:
        job_id = _job_of(record)
        if job_id is not None:
            facts.st_invoices.setdefault(job_id, {})[int(record["id"])] = record
    return facts


def _classify(
    job_id: int,
    facts: _Facts,
    now: datetime,
    expected_lag: timedelta,
    horizon: datetime | None,
    client: JobSource,
) -> JobFinding:
    mine = facts.mirror_jobs.get(job_id, {})
    theirs = facts.st_jobs.get(job_id)
    evidence: dict[str, Any] = {
        "completed_on": _iso(mine.get("completed_on")),
        "mirror_total": _money(mine.get("invoice_total") or ZERO),
        "mirror_invoices": [
            {
                "id": i["id"],
                "total": _money(i["total"]),
                "active": i["active"],
                "modified_on": _iso(i["modified_on"]),
            }
            for i in facts.mirror_invoices.get(job_id, [])
        ],
    }
    if theirs is None:
        evidence["reason"] = (
            f"ServiceTitan returned no job {job_id}; the mirror's row has no source"
        )
        return JobFinding(job_id, "missing_in_st", evidence)
    invoices = facts.st_invoices.get(job_id, {})
    total = _st_total(invoices.values())
    status = theirs.get("jobStatus")
    completed = _parse(theirs.get("completedOn")) or mine.get("completed_on")
    evidence.update(_st_evidence(theirs, invoices.values(), total))
    evidence["completed_on"] = _iso(completed)
    chargeable = status == "Completed" and not _no_charge(theirs, facts.no_charge_types)
    past_lag = completed is None or completed <= now - expected_lag
    if total != 0 or (chargeable and past_lag):
        # About to report ServiceTitan's total (a sync miss) or to call the work
        # unbilled: read every invoice of the job, so an adjustment the mirror never
        # saw is neither left out of the total nor taken for nothing.
        more = client.invoices_for_job(job_id)
        flatten(TABLES["invoices"], more)
        for record in more:
            invoices[int(record["id"])] = record
        total = _st_total(invoices.values())
        evidence.update(_st_evidence(theirs, invoices.values(), total))
        evidence["checked_all_invoices"] = True
    klass, reason = _decide(theirs, total, completed, now, expected_lag, facts.no_charge_types)
    if klass == "sync_miss":
        changed = [_parse(r.get("modifiedOn")) for r in invoices.values()]
        newest = max((c for c in changed if c is not None), default=None)
        in_transit = horizon is not None and newest is not None and newest > horizon
        evidence["in_transit"] = in_transit
        if in_transit:
            reason += "; it changed after invoice_sync last started, so the next sync may bring it"
    evidence["reason"] = reason
    return JobFinding(job_id, klass, evidence)


def _decide(
    job: Mapping[str, Any],
    total: Decimal,
    completed: datetime | None,
    now: datetime,
    expected_lag: timedelta,
    no_charge_types: set[int],
) -> tuple[str, str]:
    status = job.get("jobStatus")
    if total != 0:
        return "sync_miss", f"ServiceTitan's invoices total ${_money(total)}; the mirror has $0.00"
    if status == "Canceled":
        return "canceled", "ServiceTitan says the job was canceled; $0 is expected"
    if _no_charge(job, no_charge_types):
        return "no_charge", f"{_no_charge_reason(job, no_charge_types)}; $0 is expected"
    if status != "Completed":
        return "not_finished", f"ServiceTitan has the job as {status}, not completed, and $0"
    lag_days = expected_lag.total_seconds() / 86400
    if completed is not None and completed > now - expected_lag:
        age = (now - completed).total_seconds() / 3600
        return (
            "not_finished",
            f"completed {age:.0f} h ago, within the expected invoice lag of {lag_days:g} days; "
            "ServiceTitan is also $0",
        )
    return (
        "genuinely_zero",
        f"chargeable, completed more than {lag_days:g} days ago and still $0 in ServiceTitan: "
        "the work was not invoiced",
    )


def _no_charge(job: Mapping[str, Any], no_charge_types: set[int]) -> bool:
    return bool(
        job.get("noCharge")
        or job.get("recallForId") is not None
        or job.get("warrantyId") is not None
        or job.get("jobTypeId") in no_charge_types
    )


def _no_charge_reason(job: Mapping[str, Any], no_charge_types: set[int]) -> str:
    if job.get("recallForId") is not None:
        return f"a recall of job {job['recallForId']}"
    if job.get("warrantyId") is not None:
        return f"warranty work ({job['warrantyId']})"
    if job.get("noCharge"):
        return "marked no-charge in ServiceTitan"
    return f"job type {job.get('jobTypeId')} is no-charge"


def _st_total(invoices: Iterable[Mapping[str, Any]]) -> Decimal:
    return sum(
        (_amount(r.get("total")) for r in invoices if r.get("active", True) is not False), ZERO
    )


def _st_evidence(
    job: Mapping[str, Any], invoices: Iterable[Mapping[str, Any]], total: Decimal
) -> dict[str, Any]:
    records = sorted(invoices, key=lambda r: int(r["id"]))
    return {
        "st_status": job.get("jobStatus"),
        "st_total": _money(total),
        "invoice_ids": [int(r["id"]) for r in records],
        "st_invoices": [
            {
                "id": int(r["id"]),
                "total": _money(_amount(r.get("total"))),
                "active": r.get("active", True),
                "modified_on": r.get("modifiedOn"),
            }
            for r in records
        ],
    }


def _invoice_horizon(conn: Connection, tenant: int) -> datetime | None:
    row = conn.execute(
        "SELECT max(started_at) FROM nexus.runs"
        " WHERE tenant_id = %s AND producer = %s AND status = 'succeeded'",
        (tenant, INVOICES.producer),
    ).fetchone()
    return row[0] if row else None


# -- repair ---------------------------------------------------------------------------


def _repair(
    conn: Connection, tenant: int, findings: list[JobFinding], facts: _Facts, now: datetime
) -> int:
    """Load the sync misses' invoices (and newer jobs); return how many now carry ST's total."""
    misses = [f for f in findings if f.klass == "sync_miss"]
    if not misses:
        return 0
    jobs = []
    for finding in misses:
        record = dict(facts.st_jobs[finding.id])
        if "active" not in record:
            # The job list has no `active`; keep the mirror's rather than revive a job.
            record["active"] = facts.mirror_jobs.get(finding.id, {}).get("active", True)
        jobs.append(record)
    invoices = [r for f in misses for r in facts.st_invoices.get(f.id, {}).values()]
    Loader(conn, TABLES["jobs"], tenant).load(jobs, now)
    Loader(conn, TABLES["invoices"], tenant).load(invoices, now)
    expected = {f.id: Decimal(f.evidence["st_total"]) for f in misses}
    rows = conn.execute(
        "SELECT id, invoice_total FROM titan.jobs WHERE tenant_id = %s AND id = ANY(%s::int8[])",
        (tenant, list(expected)),
    ).fetchall()
    return sum(1 for job_id, total in rows if total == expected[int(job_id)])


def _record_repair(conn: Connection, diagnosis: Diagnosis, actor: str, now: datetime) -> None:
    record_event(
        conn,
        at=now,
        kind="diagnosis_repaired",
        actor=actor,
        tenant=diagnosis.tenant,
        producer=PRODUCER,
        product="titan.jobs.invoice_total",
        reason=(
            f"diagnosis found {len(diagnosis.sync_miss_ids)} sampled $0 jobs invoiced in "
            f"ServiceTitan but not in the mirror, and loaded {diagnosis.repaired}"
        ),
        detail={
            "diagnosis_id": diagnosis.id,
            "run_id": diagnosis.run_id,
            "jobs": sorted(diagnosis.sync_miss_ids),
        },
    )


# -- storage --------------------------------------------------------------------------


def _save(conn: Connection, d: Diagnosis) -> Diagnosis:
    row = conn.execute(
        "INSERT INTO nexus.diagnoses (tenant_id, at, run_id, seed, sampled, population,"
        " window_start, window_end, expected_lag_s, classes, jobs, repaired, api_calls)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s) RETURNING id",
        (
            d.tenant,
            d.at,
            d.run_id,
            d.seed,
            d.sampled,
            d.population,
            d.window_start,
            d.window_end,
            int(d.expected_lag.total_seconds()),
            # Unrounded, so the diagnosis read back is the one saved.
            orjson.dumps({k: asdict(d.classes[k]) for k in CLASSES}).decode(),
            orjson.dumps([j.as_dict() for j in d.jobs]).decode(),
            d.repaired,
            d.api_calls,
        ),
    ).fetchone()
    assert row is not None
    return replace(d, id=int(row[0]))


def latest_diagnosis(conn: Connection, tenant: int) -> Diagnosis | None:
    """The tenant's most recent diagnosis, or None if it was never diagnosed."""
    row = conn.execute(
        "SELECT id, at, run_id, seed, sampled, population, window_start, window_end,"
        " expected_lag_s, classes, jobs, repaired, api_calls FROM nexus.diagnoses"
        " WHERE tenant_id = %s ORDER BY at DESC, id DESC LIMIT 1",
        (tenant,),
    ).fetchone()
    if row is None:
        return None
    classes = {
        k: ClassShare(int(v["count"]), float(v["share"]), float(v["ci_low"]), float(v["ci_high"]))
        for k, v in row[9].items()
    }
    for klass in CLASSES:
        classes.setdefault(klass, ClassShare(0, 0.0, 0.0, 1.0))
    return Diagnosis(
        tenant=tenant,
        at=row[1],
        seed=int(row[3]),
        sampled=int(row[4]),
        population=int(row[5]),
        window_start=row[6],
        window_end=row[7],
        expected_lag=timedelta(seconds=int(row[8])),
        classes=classes,
        jobs=tuple(JobFinding(int(j["id"]), str(j["class"]), j["evidence"]) for j in row[10]),
        repaired=int(row[11]),
        api_calls=int(row[12]),
        run_id=None if row[2] is None else int(row[2]),
        id=int(row[0]),
    )


# -- small helpers --------------------------------------------------------------------


def _job_of(record: Mapping[str, Any]) -> int | None:
    job = record.get("job")
    if isinstance(job, dict) and isinstance(job.get("id"), int):
        return int(job["id"])
    return None


def _amount(value: object) -> Decimal:
    if value is None or isinstance(value, bool):
        return ZERO
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str | int | float):
        return Decimal(str(value))
    return ZERO


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _parse(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None
