"""A PostgreSQL of the fault tests' own, and faults to inject into it at precise moments.

`FaultServer` is an embedded server apart from the rest of the suite's, so
restarting it or refusing connections disturbs nothing else. `Faults` arms a
statement-level trigger on a table: the Nth INSERT on it (an upsert is one; counted by
a sequence, which a rollback does not undo) terminates its own backend or
sleeps; it runs as its owner (SECURITY DEFINER), since the loader writes as the
role `nexus_writer`. A trigger on a `titan` table fires as the loader's upsert begins,
after the page was copied into the stage table: exactly mid-page.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import psycopg

from nexus.store.embedded import embedded_url, stop_embedded

FAULT_FUNCTION = """
CREATE TABLE IF NOT EXISTS public.fault_plan (
    tbl text NOT NULL, action text NOT NULL, at_call int8 NOT NULL
);
CREATE SEQUENCE IF NOT EXISTS public.fault_calls;
CREATE OR REPLACE FUNCTION public.nexus_fault() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER AS $$
DECLARE
    call int8 := nextval('public.fault_calls');
    planned text;
BEGIN
    SELECT action INTO planned FROM public.fault_plan
     WHERE tbl = TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME AND at_call = call;
    IF planned = 'terminate' THEN
        PERFORM pg_terminate_backend(pg_backend_pid());
        PERFORM pg_sleep(10);  -- the termination lands here
    ELSIF planned LIKE 'sleep %' THEN
        PERFORM pg_sleep(split_part(planned, ' ', 2)::float8);
    END IF;
    RETURN NULL;
END $$;
"""

#: How many INSERT statements the armed triggers have counted so far.
CALLS = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM public.fault_calls"


class FaultServer:
    """An embedded PostgreSQL to restart, stop and start at will."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.url = embedded_url(home)

    def _server(self) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver

            return pgserver.get_server(self.home / "pg", cleanup_mode=None)  # type: ignore[attr-defined]

    def _ctl(self, action: str) -> None:
        from pgserver import _commands

        server = self._server()
        _commands.pg_ctl(  # type: ignore[attr-defined]
            ["-w", "-m", "fast", action], pgdata=self.home / "pg", user=server.system_user
        )

    @property
    def running(self) -> bool:
        return (self.home / "pg" / "postmaster.pid").exists()

    def restart(self) -> None:
        """Restart the server: every session ends (57P01), the data stays."""
        self._ctl("restart")

    def stop(self) -> None:
        """Stop the server: sessions end and new connections are refused until `start`."""
        self._ctl("stop")

    def start(self) -> None:
        if not self.running:
            server = self._server()
            with server._lock:
                server.ensure_postgres_running()

    def close(self) -> None:
        self.start()
        stop_embedded(self.home)


class Faults:
    """Faults armed on tables of one database, removed by `clear`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._tables: set[str] = set()

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(sql, params or None)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def install(self) -> None:
        self._execute(FAULT_FUNCTION)

    def arm(self, table: str, action: str, *, at: int = 1) -> None:
        """Make the `at`-th INSERT statement on `table` from now do `action`.

        `action` is "terminate" (the backend ends itself, 57P01) or "sleep <seconds>".
        """
        if table not in self._tables:
            self._execute(
                f"CREATE OR REPLACE TRIGGER nexus_fault BEFORE INSERT ON {table}"
                " FOR EACH STATEMENT EXECUTE FUNCTION public.nexus_fault()"
            )
            self._tables.add(table)
        self._execute(
            f"INSERT INTO public.fault_plan SELECT %s, %s, ({CALLS}) + %s", (table, action, at)
        )

    def fired(self) -> bool:
        """Whether every armed fault's statement has come."""
        (row,) = self._execute(
            f"SELECT coalesce(max(at_call), 0) <= ({CALLS}) FROM public.fault_plan"
        )
        return bool(row[0])

    def clear(self) -> None:
        for table in self._tables:
            self._execute(f"DROP TRIGGER IF EXISTS nexus_fault ON {table}")
        self._tables.clear()
        self._execute("DELETE FROM public.fault_plan")
