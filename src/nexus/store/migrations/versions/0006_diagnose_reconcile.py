"""Diagnoses and reconciliations: what asking ServiceTitan directly found.

`nexus.diagnoses` keeps each `nexus diagnose invoices`: the sample drawn from the
zero-invoice population (and the seed that draws it again), each class's count
and Wilson interval (`classes`), and every sampled job with its evidence
(`jobs`). The latest one feeds the proof's zero-invoice split and probable cause.

`nexus.reconciliations` keeps each finished `nexus reconcile`: per feed, the
differences found, the API calls used and what was repaired. Failed runs are in
`nexus.runs` only, since they repaired nothing.

Revision ID: 0006
Revises: 0005
"""

from nexus.store.migrations.sql import run_sql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE nexus.diagnoses (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL,
    at timestamptz NOT NULL,
    run_id bigint,
    seed bigint NOT NULL,
    sampled integer NOT NULL,
    population integer NOT NULL,
    window_start timestamptz NOT NULL,
    window_end timestamptz NOT NULL,
    expected_lag_s integer NOT NULL,
    classes jsonb NOT NULL,
    jobs jsonb NOT NULL,
    repaired integer NOT NULL DEFAULT 0,
    api_calls integer NOT NULL DEFAULT 0
);
CREATE INDEX diagnoses_tenant_idx ON nexus.diagnoses (tenant_id, at DESC, id DESC);

CREATE TABLE nexus.reconciliations (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL,
    at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    run_id bigint NOT NULL,
    since timestamptz,
    repair boolean NOT NULL,
    feeds jsonb NOT NULL,
    repaired integer NOT NULL DEFAULT 0
);
CREATE INDEX reconciliations_tenant_idx ON nexus.reconciliations (tenant_id, at DESC, id DESC);
"""

DOWNGRADE = """
DROP TABLE nexus.diagnoses, nexus.reconciliations;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
