"""What `nexus doctor` found, and the installation it examines.

A check writes into its `CheckReport`: what it found in order (`passed`), the
problems (each says what failed, where, and the fix) and notes (true, worth
knowing, not a failure). `Installation` reads the settings, `nexus.toml` and
the database once for every check; when one of those fails, the check that met
it first reports the failure and the checks after it are `skipped`, naming it,
instead of repeating it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError

from nexus.errors import ConfigError, NexusError, SchemaOutOfDate
from nexus.registry.config import Config, load_config
from nexus.settings import Settings
from nexus.store.database import Database

T = TypeVar("T")

CheckStatus = Literal["ok", "problem", "skipped"]


class Problem(BaseModel):
    """One thing wrong: what failed, where, and the fix, in one message without secrets."""

    kind: str
    message: str
    #: the file and line, or the setting, it is about, when there is one
    source: str | None = None


class CheckReport(BaseModel):
    """The outcome of one check."""

    check: str
    passed: list[str] = Field(default_factory=list)
    problems: list[Problem] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    #: why the check did not run: a step it needs failed in an earlier check
    skipped: str | None = None

    @property
    def status(self) -> CheckStatus:
        if self.problems:
            return "problem"
        return "skipped" if self.skipped else "ok"

    def problem(self, kind: str, message: str, source: str | None = None) -> None:
        self.problems.append(Problem(kind=kind, message=message, source=source))


class DoctorReport(BaseModel):
    """Every check that ran, in order; `ok` when none found a problem."""

    checks: list[CheckReport]

    @property
    def ok(self) -> bool:
        return all(c.status != "problem" for c in self.checks)

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "checks": [{"status": c.status, **c.model_dump(mode="json")} for c in self.checks],
        }

    def lines(self) -> list[str]:
        """The report as plain text, one finding per line."""
        out: list[str] = []
        for c in self.checks:
            out.append(f"{c.check}: {c.status}" + (f" ({c.skipped})" if c.skipped else ""))
            out += [f"  ok    {line}" for line in c.passed]
            out += [f"  FAIL  {p.source + ': ' if p.source else ''}{p.message}" for p in c.problems]
            out += [f"  note  {line}" for line in c.notes]
        problems = sum(len(c.problems) for c in self.checks)
        out.append(
            "no problems found" if not problems else f"{problems} problem(s) found: fix them above"
        )
        return out


class Blocked(NexusError):
    """A step this check needs failed in an earlier check, which reported it."""


class _Step(Generic[T]):
    """One part of the installation, read once; its failure belongs to the check that met it."""

    def __init__(self, what: str, make: Callable[[], T]) -> None:
        self.what = what
        self._make = make
        self._value: T | None = None
        self._failure: tuple[str, NexusError] | None = None

    def get(self, check: str) -> T:
        if self._value is not None:
            return self._value
        if self._failure is not None:
            owner, exc = self._failure
            if owner != check:
                raise Blocked(f"not checked until {self.what} is fixed: see {owner} above")
            raise exc
        try:
            self._value = self._make()
        except NexusError as exc:
            self._failure = (check, exc)
            raise
        return self._value


class Installation:
    """The settings, `nexus.toml`, tenants and database of this Nexus, as the checks see them.

    `crontab` and `systemd` are schedules to check besides the run ledger.
    """

    def __init__(
        self,
        *,
        crontab: Path | None = None,
        systemd: Path | None = None,
        tenant: int | None = None,
    ) -> None:
        self.crontab = crontab
        self.systemd = systemd
        self.check = ""  # the check now running, which owns any failure it meets
        self._settings = _Step("the NEXUS_* settings", self._read_settings)
        self._config = _Step("nexus.toml", self._read_config)
        self._tenants = _Step("the tenants", lambda: self._find_tenants(tenant))
        self._database = _Step("the database connection", self._connect)
        self._migrated = _Step("the database schema", self._check_schema)

    def settings(self) -> Settings:
        return self._settings.get(self.check)

    def config(self) -> Config:
        return self._config.get(self.check)

    def tenants(self) -> list[int]:
        return self._tenants.get(self.check)

    def database(self) -> Database:
        """The database, once it answered a query."""
        return self._database.get(self.check)

    def migrated(self) -> Database:
        """The database, once its schema is known to be the one this Nexus needs."""
        return self._migrated.get(self.check)

    def _read_settings(self) -> Settings:
        try:
            return Settings()
        except ValidationError as exc:
            raise ConfigError("\n".join(_setting_problems(exc))) from None

    def _read_config(self) -> Config:
        return load_config(self.settings().config)

    def _find_tenants(self, tenant: int | None) -> list[int]:
        from nexus.tenants import tenant_ids

        if tenant is not None:
            return [tenant]
        return tenant_ids(self.config(), self.settings())

    def _connect(self) -> Database:
        db = Database.from_settings(self.settings())
        with db.connect(autocommit=True) as conn:
            conn.execute("SELECT 1")
        return db

    def _check_schema(self) -> Database:
        db = self.database()
        current, head = db.current_revision(), db.head_revision()
        if current != head:
            raise SchemaOutOfDate(
                f"the database at {db.safe_url} is at schema revision {current or 'none'} but "
                f"this Nexus needs {head}: run `nexus db upgrade`"
            )
        return db


def _setting_problems(exc: ValidationError) -> list[str]:
    """One line per bad setting, naming its variable; never the value (it may be a secret)."""
    lines = []
    for error in exc.errors():
        name = "NEXUS_" + "_".join(str(part) for part in error["loc"]).upper()
        lines.append(f"{name}: {error['msg']} — fix the variable or unset it")
    return lines
