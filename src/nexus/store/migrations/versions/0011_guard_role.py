"""The write guard lets only the role `nexus_writer` through, on every titan table.

Until now a transaction passed the guard by setting `nexus.sync_run`, which
any session can set. Now the guard's trigger asks who is writing: the
loader takes the role `nexus_writer` inside its transaction (`SET LOCAL
ROLE`), which only members of that role (and superusers) can do. The
trigger sits on every table of `titan`, not only on `titan.jobs`.

Roles belong to the whole server, not to one database: the role is made
once and shared by every Nexus database on the server, so making it is
skipped when it exists (or when another database's migration makes it at
the same moment). A migrating user that may not create roles still
migrates; `nexus db guard` then prints the SQL an administrator runs.
Downgrading revokes this database's grants but leaves the role, which
other databases may use.

Revision ID: 0011
Revises: 0010
"""

from nexus.store.migrations.sql import run_sql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

GUARD_FUNCTION = r"""
CREATE OR REPLACE FUNCTION nexus.refuse_bulk_insert() RETURNS trigger
LANGUAGE plpgsql AS $guard$
DECLARE
    target text := TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME;
    max_rows integer;
    inserted bigint;
    named_run text := coalesce(current_setting('nexus.sync_run', true), '');
BEGIN
    -- Nexus's loader acts as nexus_writer (SET LOCAL ROLE), which only the role's
    -- members can take; a setting alone, which anyone can make, passes nothing.
    IF current_user = 'nexus_writer' THEN
        RETURN NULL;
    END IF;
    SELECT g.max_rows INTO max_rows FROM nexus.write_guard g WHERE g.table_name = target;
    max_rows := coalesce(max_rows, 1000);
    SELECT count(*) INTO inserted FROM new_rows;
    IF inserted > max_rows THEN
        RAISE EXCEPTION 'nexus write guard: refused to insert % rows into % in one statement '
                        'as role %', inserted, target, current_user
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = format('The limit outside a Nexus sync run is %s rows per statement; only '
                              'Nexus''s loader, acting as role nexus_writer, writes more. '
                              'Bulk writes of this size are how phantom rows got into the '
                              'mirror before.', max_rows)
                       || CASE WHEN named_run <> '' THEN format(' This transaction sets '
                              'nexus.sync_run = %L, which no longer lets a write through.',
                              named_run) ELSE '' END,
              HINT = 'Load ServiceTitan data with `nexus sync` (or release a reviewed batch '
                     'with `nexus quarantine release`); to change the limit run '
                     '`nexus db guard --max-rows N`.';
    END IF;
    RETURN NULL;
END
$guard$;
"""

UPGRADE = (
    GUARD_FUNCTION
    + r"""
DROP TRIGGER IF EXISTS jobs_write_guard ON titan.jobs;
DO $triggers$
DECLARE
    tbl regclass;
BEGIN
    FOR tbl IN SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'titan' AND c.relkind = 'r' ORDER BY c.relname
    LOOP
        EXECUTE format('CREATE TRIGGER write_guard AFTER INSERT ON %s'
                       ' REFERENCING NEW TABLE AS new_rows'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION nexus.refuse_bulk_insert()', tbl);
    END LOOP;
END
$triggers$;

DO $role$
DECLARE
    -- PostgreSQL 16 asks for the SET option of a membership to take the role.
    take text := CASE WHEN current_setting('server_version_num')::int >= 160000
                      THEN 'SET' ELSE 'MEMBER' END;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'nexus_writer') THEN
        BEGIN
            CREATE ROLE nexus_writer NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another database's migration made it a moment ago
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'nexus: % may not create roles; run `nexus db guard` for the SQL '
                             'an administrator runs to create nexus_writer', current_user;
                RETURN;
        END;
    END IF;
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, 'nexus_writer', take) THEN
        BEGIN
            GRANT nexus_writer TO CURRENT_USER;
        EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN
            RAISE NOTICE 'nexus: % cannot take the role nexus_writer; run `nexus db guard` '
                         'for the SQL an administrator runs', current_user;
        END;
    END IF;
    GRANT USAGE ON SCHEMA titan, nexus TO nexus_writer;
    GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA titan TO nexus_writer;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA nexus TO nexus_writer;
    GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA nexus TO nexus_writer;
    ALTER DEFAULT PRIVILEGES IN SCHEMA titan
        GRANT SELECT, INSERT, UPDATE ON TABLES TO nexus_writer;
    ALTER DEFAULT PRIVILEGES IN SCHEMA nexus
        GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO nexus_writer;
    ALTER DEFAULT PRIVILEGES IN SCHEMA nexus
        GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO nexus_writer;
END
$role$;
"""
)

DOWNGRADE = r"""
DO $triggers$
DECLARE
    tbl regclass;
BEGIN
    FOR tbl IN SELECT t.tgrelid FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'titan' AND t.tgname = 'write_guard'
    LOOP
        EXECUTE format('DROP TRIGGER write_guard ON %s', tbl);
    END LOOP;
END
$triggers$;

CREATE OR REPLACE FUNCTION nexus.refuse_bulk_insert() RETURNS trigger
LANGUAGE plpgsql AS $guard$
DECLARE
    target text := TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME;
    max_rows integer;
    inserted bigint;
BEGIN
    IF coalesce(current_setting('nexus.sync_run', true), '') <> '' THEN
        RETURN NULL;
    END IF;
    SELECT g.max_rows INTO max_rows FROM nexus.write_guard g WHERE g.table_name = target;
    SELECT count(*) INTO inserted FROM new_rows;
    IF inserted > coalesce(max_rows, 1000) THEN
        RAISE EXCEPTION 'nexus write guard: refused to insert % rows into % in one statement',
            inserted, target
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = format('The limit outside a Nexus sync run is %s rows per statement. '
                              'Bulk writes of this size are how phantom rows got into the '
                              'mirror before.', coalesce(max_rows, 1000)),
              HINT = 'Load ServiceTitan data with `nexus sync` (or release a reviewed batch '
                     'with `nexus quarantine release`); to change the limit run '
                     '`nexus db guard --max-rows N`.';
    END IF;
    RETURN NULL;
END
$guard$;

CREATE TRIGGER jobs_write_guard
    AFTER INSERT ON titan.jobs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION nexus.refuse_bulk_insert();

DO $role$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'nexus_writer') THEN
        REVOKE ALL ON ALL TABLES IN SCHEMA titan, nexus FROM nexus_writer;
        REVOKE ALL ON ALL SEQUENCES IN SCHEMA nexus FROM nexus_writer;
        REVOKE USAGE ON SCHEMA titan, nexus FROM nexus_writer;
        ALTER DEFAULT PRIVILEGES IN SCHEMA titan REVOKE ALL ON TABLES FROM nexus_writer;
        ALTER DEFAULT PRIVILEGES IN SCHEMA nexus REVOKE ALL ON TABLES FROM nexus_writer;
        ALTER DEFAULT PRIVILEGES IN SCHEMA nexus REVOKE ALL ON SEQUENCES FROM nexus_writer;
    END IF;
END
$role$;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
