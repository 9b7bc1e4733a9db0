"""The database write guard: who may write in bulk, its limit, and a check of its setup.

The guard itself is a trigger on every `titan` table (migration 0011): a
statement that inserts more rows than the limit (`nexus.write_guard`,
1,000 by default) fails unless it runs as the role `nexus_writer`. Nexus's
loader takes that role inside its transaction (`mark_sync_run`); only the
role's members can, so a stray script cannot pass by setting something, as
it could when the guard trusted the `nexus.sync_run` setting alone.

What the guard does not stop, said plainly: a superuser can take any role and
disable any trigger, and a script that logs in as Nexus's own user may take
the role as Nexus does. The guard stops mistakes and other users, not
whoever holds Nexus's password or a superuser's. The role belongs to the whole
server, so its members may write to every Nexus database there that they can
connect to.

`inspect_guard` checks the setup on any server and, for each problem, gives the
exact SQL that fixes it and who has to run it (`nexus db guard`).
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from nexus.errors import FatalDatabaseError, WriteRefused
from nexus.store.connection import Connection
from nexus.store.database import Database

#: The role Nexus's writes take: a server-wide role without login, made by migration 0011.
WRITER_ROLE = "nexus_writer"
#: The guard's trigger, of the same name on every titan table, and its function.
TRIGGER = "write_guard"
FUNCTION = "nexus.refuse_bulk_insert"
DEFAULT_LIMIT = 1000

_TAKE_ROLE = "SELECT set_config('role', %s, true), set_config('nexus.sync_run', %s, true)"
_TAKE_ROLE_AND_LOCK = (
    "SELECT set_config('role', %s, true), set_config('nexus.sync_run', %s, true),"
    " pg_advisory_xact_lock(%s)"
)
#: What the writer role may do, schema by schema: everything a run writes, and nothing more.
_GRANTS = (
    f"GRANT USAGE ON SCHEMA titan, nexus TO {WRITER_ROLE};",
    f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA titan TO {WRITER_ROLE};",
    f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA nexus TO {WRITER_ROLE};",
    f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA nexus TO {WRITER_ROLE};",
    f"ALTER DEFAULT PRIVILEGES IN SCHEMA titan GRANT SELECT, INSERT, UPDATE ON TABLES"
    f" TO {WRITER_ROLE};",
    f"ALTER DEFAULT PRIVILEGES IN SCHEMA nexus GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES"
    f" TO {WRITER_ROLE};",
    f"ALTER DEFAULT PRIVILEGES IN SCHEMA nexus GRANT USAGE, SELECT, UPDATE ON SEQUENCES"
    f" TO {WRITER_ROLE};",
)
_OWNER = "the owner of the Nexus tables (the user that ran `nexus db upgrade`)"
_ADMIN = "a superuser, or a role with CREATEROLE"


# -- passing the guard -------------------------------------------------------------


def mark_sync_run(conn: Connection, run_id: int | str, *, lock: int | None = None) -> None:
    """Act as the writer role for the rest of this transaction, named as run `run_id`.

    Call it inside the transaction that writes. With `lock`, the transaction's
    advisory lock of that key is taken in the same statement (a loader's
    `lock`, saving a page its own statement). Raises `WriteRefused`, naming
    the fix, when this connection's user cannot take the role. In a pipeline
    the refusal comes when it syncs: pass what it raises through `role_refused`.
    """
    try:
        if lock is None:
            conn.execute(_TAKE_ROLE, (WRITER_ROLE, str(run_id)))
        else:
            conn.execute(_TAKE_ROLE_AND_LOCK, (WRITER_ROLE, str(run_id), lock))
    except FatalDatabaseError as exc:
        raise _cannot_take_role(exc) from exc


def share_with_writer(conn: Connection, table: sql.Composable) -> None:
    """Let the writer role use a temporary table this session made before taking the role.

    A stage or spool table made outside a run belongs to the session's own user;
    once a run acts as the writer role, only a grant lets it read and fill it.
    """
    try:
        conn.execute(sql.SQL("GRANT ALL ON TABLE {} TO {}").format(table, _role()))
    except FatalDatabaseError as exc:
        raise _cannot_take_role(exc) from exc


#: The SQLSTATE of a permission refused (`insufficient_privilege`), which the guard's
#: trigger raises too, its message starting with `_GUARD_SAYS`.
_NO_PRIVILEGE = "42501"
_GUARD_SAYS = "nexus write guard:"


def role_refused(exc: FatalDatabaseError) -> WriteRefused | None:
    """The error naming the fix for a write the writer role's permissions refused, if `exc` is one.

    For statements sent after `mark_sync_run` in one pipeline, where a refusal
    of the role itself cannot be told from a grant the role lacks on a table:
    `nexus db guard` names the fix of either. The guard's own refusal is left
    as it is.
    """
    if exc.sqlstate != _NO_PRIVILEGE or str(exc).startswith(_GUARD_SAYS):
        return None
    return _cannot_take_role(exc)


def _cannot_take_role(exc: FatalDatabaseError) -> WriteRefused:
    return WriteRefused(
        f"this connection cannot act as {WRITER_ROLE}, the role the database's write guard "
        f"lets through ({exc}); nothing was written. Run `nexus db guard` to see what is "
        "missing and the SQL that fixes it.",
        sqlstate=exc.sqlstate,
        detail=exc.detail,
        hint="Run `nexus db guard`: it names what is missing and the SQL that fixes it.",
    )


def _role() -> sql.Identifier:
    return sql.Identifier(WRITER_ROLE)


# -- the limit -------------------------------------------------------------------------


def guard_limit(db: Database, table: str = "titan.jobs") -> int:
    with db.connect(autocommit=True) as conn:
        row = conn.execute(
            "SELECT max_rows FROM nexus.write_guard WHERE table_name = %s", (table,)
        ).fetchone()
    return int(row[0]) if row else DEFAULT_LIMIT


def set_guard_limit(db: Database, max_rows: int, table: str = "titan.jobs") -> None:
    with db.connect(autocommit=True) as conn:
        conn.execute(
            "INSERT INTO nexus.write_guard (table_name, max_rows) VALUES (%s, %s)"
            " ON CONFLICT (table_name) DO UPDATE SET max_rows = EXCLUDED.max_rows",
            (table, max_rows),
        )


# -- checking the setup ----------------------------------------------------------------


@dataclass(frozen=True)
class Fix:
    """One problem of the guard's setup, the SQL that fixes it and who may run that SQL."""

    problem: str
    sql: str
    run_by: str


@dataclass(frozen=True)
class GuardSetup:
    """What `inspect_guard` found: the facts, then the fixes (none when all is well)."""

    user: str
    superuser: bool
    role_exists: bool
    can_take_role: bool
    titan_tables: int
    unguarded: tuple[str, ...]
    unwritable: tuple[str, ...]
    fixes: tuple[Fix, ...]

    @property
    def ok(self) -> bool:
        return not self.fixes

    @property
    def checks(self) -> tuple[tuple[bool, str], ...]:
        """Each part of the setup, as (in place, what it is)."""
        guarded = self.titan_tables - len(self.unguarded)
        return (
            (not self.unguarded, f"guard trigger on {guarded} of {self.titan_tables} titan tables"),
            (self.role_exists, f"role {WRITER_ROLE} exists on this server"),
            (self.can_take_role, f"{self.user} can take the role {WRITER_ROLE}"),
            (
                self.role_exists and not self.unwritable,
                f"{WRITER_ROLE} may write the titan and nexus tables",
            ),
        )

    @property
    def notes(self) -> tuple[str, ...]:
        """What the guard cannot promise on this server, in plain words."""
        notes = [
            f"{WRITER_ROLE} is a role of the whole server: its members may write in bulk to "
            "every Nexus database on it that they can connect to."
        ]
        if self.superuser:
            notes.append(
                f"{self.user} is a superuser, who can take any role and disable any trigger: "
                "the guard stops mistakes, not a superuser. On the embedded server that is "
                "expected; on a shared server connect Nexus as an ordinary user that is a "
                f"member of {WRITER_ROLE}."
            )
        return tuple(notes)


def inspect_guard(conn: Connection) -> GuardSetup:
    """Check the guard's setup in this database, as this connection's user sees it."""
    row = conn.execute(
        "SELECT current_user, rolsuper, current_setting('server_version_num')::int >= 160000,"
        " to_regrole(%s) IS NOT NULL FROM pg_roles WHERE rolname = current_user",
        (WRITER_ROLE,),
    ).fetchone()
    assert row is not None
    user, superuser, pg16, role_exists = str(row[0]), bool(row[1]), bool(row[2]), bool(row[3])
    can_take = False
    unwritable: tuple[str, ...] = ()
    if role_exists:
        # PostgreSQL 16 asks for the SET option of a membership to take the role.
        taken = conn.execute(
            "SELECT pg_has_role(current_user, %s, %s)", (WRITER_ROLE, "SET" if pg16 else "MEMBER")
        ).fetchone()
        can_take = bool(taken and taken[0])
        unwritable = tuple(r[0] for r in conn.execute(_UNWRITABLE, {"role": WRITER_ROLE}))
    titan = conn.execute(_GUARDED, {"trigger": TRIGGER, "function": FUNCTION}).fetchall()
    unguarded = tuple(name for name, guarded in titan if not guarded)
    fixes: list[Fix] = []
    member = f"GRANT {WRITER_ROLE} TO {sql.Identifier(user).as_string(conn)};"
    if not role_exists:
        create = [f"CREATE ROLE {WRITER_ROLE} NOLOGIN;"] + ([] if superuser else [member])
        fixes.append(
            Fix(f"the role {WRITER_ROLE} does not exist on this server", "\n".join(create), _ADMIN)
        )
    elif not can_take:
        fixes.append(
            Fix(
                f"{user} is not a member of {WRITER_ROLE}, so Nexus cannot take the role",
                member,
                f"a superuser, or a role with ADMIN OPTION on {WRITER_ROLE}",
            )
        )
    if not role_exists or unwritable:
        problem = (
            f"{WRITER_ROLE} has no rights on the Nexus tables"
            if not role_exists
            else f"{WRITER_ROLE} lacks rights on {_some(unwritable)}"
        )
        fixes.append(Fix(problem, "\n".join(_GRANTS), _OWNER))
    if unguarded:
        fixes.append(
            Fix(
                f"no write guard trigger on {_some(unguarded)}",
                "\n".join(_trigger_sql(name) for name in unguarded),
                _OWNER,
            )
        )
    return GuardSetup(
        user, superuser, role_exists, can_take, len(titan), unguarded, unwritable, tuple(fixes)
    )


def check_guard(db: Database) -> GuardSetup:
    """`inspect_guard` on a connection of its own to `db`."""
    with db.connect(autocommit=True) as conn:
        return inspect_guard(conn)


#: Every titan table, and whether the guard's trigger is on it and enabled.
_GUARDED = """
SELECT format('%%I.%%I', n.nspname, c.relname),
    EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = %(trigger)s
            AND t.tgfoid = to_regproc(%(function)s) AND t.tgenabled <> 'D')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'titan' AND c.relkind = 'r'
ORDER BY 1
"""

#: Schemas, tables and sequences a run writes that the writer role may not.
#: (has_table_privilege is true when *any* listed privilege is held: one at a time.)
_UNWRITABLE = """
SELECT name FROM (
    SELECT format('schema %%I', s) AS name, has_schema_privilege(%(role)s, s, 'USAGE') AS ok
    FROM unnest(ARRAY['titan', 'nexus']) s
    UNION ALL
    SELECT format('%%I.%%I', n.nspname, c.relname),
        CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(%(role)s, c.oid, 'USAGE')
             ELSE has_table_privilege(%(role)s, c.oid, 'SELECT')
                  AND has_table_privilege(%(role)s, c.oid, 'INSERT')
                  AND has_table_privilege(%(role)s, c.oid, 'UPDATE')
                  AND (n.nspname = 'titan' OR has_table_privilege(%(role)s, c.oid, 'DELETE'))
        END
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('titan', 'nexus') AND c.relkind IN ('r', 'S')
) found
WHERE NOT ok
ORDER BY 1
"""


def _trigger_sql(table: str) -> str:
    return (
        f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table};"
        f" CREATE TRIGGER {TRIGGER} AFTER INSERT ON {table}"
        f" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}();"
    )


def _some(names: tuple[str, ...]) -> str:
    """A few names and how many in all, for a problem's one line."""
    shown = ", ".join(names[:3])
    return shown if len(names) <= 3 else f"{len(names)} of them ({shown}, …)"
