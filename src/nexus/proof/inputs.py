"""Turn the configuration into the proof's inputs: check parameters and the reference."""

from __future__ import annotations

from collections.abc import Mapping

from nexus.checks.coverage import CoverageParams
from nexus.checks.revenue import (
    RevenueParams,
    read_reference_csv,
    read_reference_sql,
)
from nexus.checks.volume import VolumeParams
from nexus.proof.build import ProofInputs, table_reference
from nexus.registry.config import Config
from nexus.store.connection import Connection


def proof_inputs(
    config: Config,
    tenant: int,
    timezone: str | None = None,
    sync_miss_ids: frozenset[int] = frozenset(),
) -> ProofInputs:
    checks = config.checks
    coverage = checks.invoice_coverage
    volume = checks.volume
    revenue = checks.revenue
    zone = timezone or next(
        (t.timezone for t in config.tenants if t.id == tenant), "America/Chicago"
    )
    reference = config.reference_revenue

    def read_reference(conn: Connection) -> tuple[Mapping[str, float] | None, str | None]:
        if reference is not None and reference.csv is not None:
            return read_reference_csv(config.resolve_path(reference.csv)), reference.name
        if reference is not None and reference.sql is not None:
            return read_reference_sql(conn, reference.sql, tenant), reference.name
        return table_reference(conn, tenant)

    return ProofInputs(
        config=config,
        tenant=tenant,
        timezone=zone,
        coverage=CoverageParams(
            threshold=coverage.threshold,
            min_n=coverage.min_n,
            grace=coverage.grace,
            window=coverage.window,
            expected_lag=coverage.expected_lag,
        ),
        volume=VolumeParams(
            window_days=max(1, volume.window.days),
            min_days=volume.min_days,
            drop_ratio=volume.drop_ratio,
        ),
        revenue=RevenueParams(
            settlement_lag=revenue.settlement_lag,
            spike_ratio=revenue.spike_ratio,
            min_capture=revenue.min_capture,
        ),
        reference=read_reference,
        sync_miss_ids=sync_miss_ids,
    )
