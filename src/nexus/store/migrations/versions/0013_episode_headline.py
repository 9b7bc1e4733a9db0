"""A notification episode keeps the headline it fired with, for its resolved notice.

"[RESOLVED] tenant 1001: st_unreachable has cleared" named the cause by its key;
the owner was told "ServiceTitan does not answer". The notice that it cleared now
repeats the words it fired with. Episodes that fired before keep a null headline
and are named by their key.

Revision ID: 0013
Revises: 0012
"""

from nexus.store.migrations.sql import run_sql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("ALTER TABLE nexus.notify_episodes ADD COLUMN headline text")


def downgrade() -> None:
    run_sql("ALTER TABLE nexus.notify_episodes DROP COLUMN headline")
