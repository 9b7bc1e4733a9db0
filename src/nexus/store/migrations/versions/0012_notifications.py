"""Notifications: the episodes of each cause, what was sent where, and silences.

`nexus.notify_episodes` holds one row per stretch of time a root cause held
for a tenant (its key is the cause's kind and producer, `producer_retired:invoice_sync`):
when the notifier first and last saw it, its worst severity, when it fired
and when it resolved. `nexus.notifications` is the send log: one row per
message per channel, unique on (tenant, cause key, fingerprint, channel), so
several workers never send the same message twice; the fingerprint names the
episode and which of its messages it is (`12:firing:0`, `12:resolved:0`,
`morning:2026-04-17`). `nexus.silences` mutes a cause kind (optionally for one
producer) until it ends.

Revision ID: 0012
Revises: 0011
"""

from nexus.store.migrations.sql import run_sql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE nexus.notify_episodes (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL,
    cause_key text NOT NULL,
    severity text NOT NULL CHECK (severity IN ('critical', 'warning')),
    first_seen timestamptz NOT NULL,
    last_seen timestamptz NOT NULL,
    fired_at timestamptz,
    fired_severity text,
    last_sent_at timestamptz,
    sends integer NOT NULL DEFAULT 0,
    resolved_at timestamptz
);
CREATE UNIQUE INDEX notify_episodes_open_idx ON nexus.notify_episodes (tenant_id, cause_key)
    WHERE resolved_at IS NULL;

CREATE TABLE nexus.notifications (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL,
    cause_key text NOT NULL,
    fingerprint text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('firing', 'repeat', 'resolved', 'morning', 'test')),
    severity text,
    channel text NOT NULL,
    service text NOT NULL,
    title text NOT NULL,
    at timestamptz NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('sending', 'sent', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    error text,
    UNIQUE (tenant_id, cause_key, fingerprint, channel)
);
CREATE INDEX notifications_at_idx ON nexus.notifications (tenant_id, at);

CREATE TABLE nexus.silences (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL,
    cause_kind text NOT NULL,
    producer text,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL CHECK (ends_at > starts_at),
    reason text NOT NULL,
    actor text NOT NULL,
    expired_at timestamptz
);
CREATE INDEX silences_active_idx ON nexus.silences (tenant_id, ends_at);
"""

DOWNGRADE = """
DROP TABLE nexus.silences;
DROP TABLE nexus.notifications;
DROP TABLE nexus.notify_episodes;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
