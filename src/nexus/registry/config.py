"""The registry configuration, `nexus.toml`: tenants, the mirror, producers, products, checks.

`load_config` reads and validates a file and reports every problem at once,
one line each with file, line and fix (`ConfigFileError.problems`); unknown keys
are errors. `default_config_text` is the commented file `nexus init` writes,
and `load_config(None)` is exactly what it loads to.

A section the file leaves out keeps its built-in default; a section the file
writes replaces the default one whole (declaring `[producers.x]` declares
*all* producers). Relative paths are relative to the file's folder
(`Config.resolve_path`). Secrets never live in the file: ServiceTitan
credentials come from `NEXUS_ST_*` variables, and a tenant's webhook secret
from the variable its `webhook_secret_env` names.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
import zoneinfo
from dataclasses import dataclass
from datetime import time, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from nexus import times
from nexus.catalog import DEFAULT_FEEDS, FEEDS, PRODUCER_OF_DOC
from nexus.catalog.derived import DERIVED
from nexus.duration import EXAMPLES, format_duration, parse_duration
from nexus.errors import ConfigError
from nexus.registry.toml_lines import Key, key_lines, line_of

#: Where `nexus.toml` is looked for when nothing else is said; missing there means defaults.
DEFAULT_CONFIG_PATH = Path("nexus.toml")
DEFAULT_TIMEZONE = "America/Chicago"

#: The share of completed, chargeable jobs that may lack an invoice total before
#: the coverage check alerts. With an 18 h median and 120 h p90 invoice lag
#: (lognormal), a healthy business leaves about 6 % of a 30-day window's jobs
#: (after the 24 h grace) still at $0, with a 95 % upper bound near 10 % at 9 jobs
#: a day; five days without invoice sync lift it to about 25 %.
INVOICE_COVERAGE_THRESHOLD = 0.15
DEFAULT_MIN_N = 20
DEFAULT_CACHE_DAYS = 7

ProducerKind = Literal["sync", "reconcile", "cache_export", "notifier", "external"]
ProductKind = Literal["table", "column", "file"]

PRODUCER_KINDS: tuple[ProducerKind, ...] = (
    "sync",
    "reconcile",
    "cache_export",
    "notifier",
    "external",
)
# Keys that only make sense for one kind of producer.
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "sync": ("feeds", "feed"),
    "reconcile": (),
    "cache_export": ("path", "days"),
    "notifier": (),
    "external": ("command", "unit", "cron"),
}
COMMON_PRODUCER_KEYS = ("kind", "every", "enabled", "description")
HOW_EXTERNAL_RUNS = ("command", "unit", "cron")

_SECRET_KEY = re.compile(
    r"secret|passw|pwd|token|api_?key|app_?key|private_?key|credential|client_id", re.I
)
_SECRET_ENV = {
    "client_secret": "NEXUS_ST_CLIENT_SECRET",
    "client_id": "NEXUS_ST_CLIENT_ID",
    "app_key": "NEXUS_ST_APP_KEY",
}
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_PRODUCER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_PRODUCT_NAME = {
    "table": (re.compile(rf"{_IDENT}\.{_IDENT}"), "schema.table", "titan.jobs"),
    "column": (
        re.compile(rf"{_IDENT}\.{_IDENT}\.{_IDENT}"),
        "schema.table.column",
        "titan.jobs.invoice_total",
    ),
}
_UNIT = re.compile(r"[\w@.:\\-]+")
# A key set to a bare word, the commonest TOML mistake: every = 15m.
_UNQUOTED = re.compile(r"\s*([A-Za-z0-9_.-]+)\s*=\s*([^\"'\[{#\s][^#]*?)\s*(#.*)?$")
_TOML_LITERAL = re.compile(r"[+-]?[0-9_.eE+-]+|true|false|[+-]?(inf|nan)")
_CRON_SPECIAL = ("@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight")


def _duration(value: object) -> timedelta:
    """Read a duration string, refusing zero, negatives and bare numbers."""
    if isinstance(value, timedelta):
        parsed = value
    elif isinstance(value, str):
        parsed = parse_duration(value)
    else:
        raise ValueError(
            f"must be a duration in quotes, not {_describe(value)} — write it with a unit, "
            f"e.g. {EXAMPLES}"
        )
    if parsed <= timedelta(0):
        raise ValueError(f"must be longer than zero — use e.g. {EXAMPLES}")
    return parsed


#: A positive duration, written as "15m" in the file and in JSON.
Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]


class _Section(BaseModel):
    # Strict: TOML values are typed already, so "20" for a number is a mistake to report.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TenantConfig(_Section):
    """One ServiceTitan tenant; its credentials come from the environment."""

    id: int = Field(gt=0, description="The ServiceTitan tenant id.")
    name: str | None = Field(default=None, description="A name for people.")
    timezone: str = Field(
        default=DEFAULT_TIMEZONE, description="IANA time zone that days and weeks are cut in."
    )
    webhook_secret_env: str | None = Field(
        default=None,
        description="NAME of the environment variable holding the webhook HMAC secret.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            close = difflib.get_close_matches(value, sorted(zoneinfo.available_timezones()), 1)
            fix = (
                f"did you mean '{close[0]}'?"
                if close
                else f"use an IANA name like '{DEFAULT_TIMEZONE}'"
            )
            raise ValueError(f"'{value}' is not a known time zone — {fix}") from None
        return value

    @field_validator("webhook_secret_env")
    @classmethod
    def _variable_name(cls, value: str) -> str:
        # Never echo the value: it may be the secret itself, pasted in the wrong place.
        if not _ENV_NAME.fullmatch(value):
            raise ValueError(
                "must be the NAME of an environment variable (capitals, digits and _, "
                "like NEXUS_WEBHOOK_SECRET_1001) — put the secret itself in that variable"
            )
        return value


class ProducerConfig(_Section):
    """Something that keeps data products fresh, run by Nexus or watched by it."""

    kind: ProducerKind = Field(
        description=(
            "sync (ST feeds), reconcile, cache_export, notifier, or external (only watched)."
        )
    )
    every: Duration = Field(description="How often it runs.")
    enabled: bool = Field(default=True, description="false: declared but not run or expected.")
    description: str | None = Field(default=None, description="What it is for, for people.")
    feeds: list[str] | None = Field(
        default=None,
        description="sync: the feeds it mirrors (default: its module's feeds in [mirror] feeds).",
    )
    feed: str | None = Field(
        default=None, description="sync, older files: one of its module's feeds (same as none)."
    )
    path: Path | None = Field(
        default=None, strict=False, description="cache_export: file to write."
    )
    days: int = Field(
        default=DEFAULT_CACHE_DAYS, gt=0, description="cache_export: recent days of jobs written."
    )
    command: str | None = Field(default=None, description="external: the command line it runs.")
    unit: str | None = Field(default=None, description="external: its systemd unit.")
    cron: str | None = Field(default=None, description="external: its crontab line.")

    @property
    def run_by_nexus(self) -> bool:
        """Whether `nexus worker` schedules it (everything but external producers)."""
        return self.kind != "external"


class ProductConfig(_Section):
    """A data product: a table, a derived column or a file, with its owner and age limit."""

    name: str = Field(description="schema.table, schema.table.column, or a file's name.")
    kind: ProductKind = Field(description="table, column or file.")
    owner: str = Field(description="The producer that keeps it fresh.")
    max_age: Duration = Field(description="How old it may get before it is stale.")
    path: Path | None = Field(default=None, strict=False, description="file: where it lives.")
    description: str | None = Field(default=None, description="What it is, for people.")

    @property
    def measured_by(self) -> Literal["db", "file_mtime"]:
        """Where its freshness is measured: the database, or a file's mtime."""
        return "file_mtime" if self.kind == "file" else "db"


class InvoiceCoverageCheck(_Section):
    """Completed, chargeable jobs without an invoice total, as a rate with its interval."""

    product: str = Field(
        default="titan.jobs.invoice_total", description="The product the check watches."
    )
    threshold: float = Field(
        default=INVOICE_COVERAGE_THRESHOLD,
        ge=0,
        le=1,
        description="Largest tolerated share of jobs without an invoice total.",
    )
    min_n: int = Field(
        default=DEFAULT_MIN_N, gt=0, description="Fewer jobs than this is insufficient data."
    )
    grace: Duration = Field(
        default=timedelta(hours=24), description="Jobs completed this recently are not counted."
    )
    window: Duration = Field(default=timedelta(days=30), description="Completed jobs looked at.")
    expected_lag: Duration = Field(
        default=timedelta(days=5),
        description="Usual completion-to-invoice lag; younger gaps are provisional.",
    )


class VolumeCheck(_Section):
    """Completed jobs per day against their recent baseline."""

    window: Duration = Field(default=timedelta(days=28), description="Baseline window.")
    min_days: int = Field(default=14, gt=0, description="Days of history a baseline needs.")
    drop_ratio: float = Field(
        default=0.5, gt=0, lt=1, description="A day below this share of baseline is a drop."
    )


class RevenueCheck(_Section):
    """Weekly mirror revenue against the reference, and phantom spikes."""

    settlement_lag: Duration = Field(
        default=timedelta(days=7), description="Weeks ending this recently are provisional."
    )
    spike_ratio: float = Field(
        default=3.0, gt=1, description="A week above this multiple of the median is a spike."
    )
    same_created_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="A batch with this share of rows on one created time looks phantom.",
    )
    min_capture: float = Field(
        default=0.9, gt=0, le=1, description="Mirror/reference revenue below this is a gap."
    )


class ChecksConfig(_Section):
    invoice_coverage: InvoiceCoverageCheck = Field(default_factory=InvoiceCoverageCheck)
    volume: VolumeCheck = Field(default_factory=VolumeCheck)
    revenue: RevenueCheck = Field(default_factory=RevenueCheck)


class ReferenceRevenueConfig(_Section):
    """Where true revenue comes from: a CSV file or a SQL query (exactly one)."""

    csv: Path | None = Field(
        default=None, strict=False, description="CSV with columns day (or week) and revenue."
    )
    sql: str | None = Field(default=None, description="Query returning (day or week, revenue).")
    name: str = Field(default="sales ledger", description="What people call it.")


#: A sync run asks ServiceTitan for a feed's newest change at most this often.
SOURCE_CHECK_EVERY = timedelta(hours=1)


class ReconcileConfig(_Section):
    """What the reconcile producer does with what it finds."""

    repair: bool = Field(
        default=True,
        description=(
            "Load the changes the export lost through the loader (false: only report them; "
            "`nexus reconcile` follows this unless given --repair or --no-repair)."
        ),
    )


#: Every URL in NEXUS_NOTIFY_URLS, in a [notify] channel list.
ALL_CHANNELS = "*"
_CLOCK_RANGE = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])-([01]?[0-9]|2[0-3]):([0-5][0-9])")


class NotifyConfig(_Section):
    """Who is told about which cause, when, and how often (the URLs come from the environment).

    A channel list names channels from NEXUS_NOTIFY_URLS: "*" for all of them, a
    name given there as `name=url`, or a service (the URL's scheme: mailto, slack, json).
    """

    model_config = ConfigDict(populate_by_name=True)

    critical: list[str] = Field(
        default_factory=lambda: [ALL_CHANNELS], description="Channels told of critical causes."
    )
    warning: list[str] = Field(
        default_factory=lambda: [ALL_CHANNELS], description="Channels told of warning causes."
    )
    hold: Duration = Field(
        default=timedelta(minutes=15),
        alias="for",
        description="How long a cause must hold before it is sent (one failed run pages nobody).",
    )
    repeat_interval: Duration = Field(
        default=timedelta(hours=4),
        description="A cause still holding is sent again after this long (sooner if it worsens).",
    )
    send_resolved: bool = Field(default=True, description="Send a notice when a cause clears.")
    quiet_hours: str | None = Field(
        default=None,
        description='"22:00-07:00" in the tenant\'s time zone: warnings wait; criticals always go.',
    )
    morning_report: list[str] = Field(
        default_factory=list, description="Channels sent the morning report (none: off)."
    )
    morning_hour: int = Field(
        default=7, ge=0, le=23, description="Local hour the morning report goes out."
    )

    @field_validator("quiet_hours")
    @classmethod
    def _clock_range(cls, value: str | None) -> str | None:
        if value is not None and not _CLOCK_RANGE.fullmatch(value):
            raise ValueError(
                f"'{value}' is not a range of clock times — write e.g. \"22:00-07:00\""
            )
        return value


def clock_range(text: str | None) -> tuple[time, time] | None:
    """ "22:00-07:00" as (start, end) local times; None for none."""
    match = _CLOCK_RANGE.fullmatch(text or "")
    if match is None:
        return None
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    return time(h1, m1), time(h2, m2)


class WebConfig(_Section):
    """How people reach the dashboard."""

    public_url: str | None = Field(
        default=None,
        description=(
            "The address people reach the dashboard at, e.g. https://nexus.example.com behind "
            "a reverse proxy; an https address marks session cookies Secure."
        ),
    )

    @field_validator("public_url")
    @classmethod
    def _an_address(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^/\s]+(/\S*)?", value):
            raise ValueError(
                f"'{value}' is not an http(s) address — write e.g. "
                'public_url = "https://nexus.example.com"'
            )
        return value


class MirrorConfig(_Section):
    """What is mirrored: which catalog feeds run, and how often the mirror is checked against ST."""

    feeds: list[str] | Literal["all"] = Field(
        default_factory=lambda: list(DEFAULT_FEEDS),
        description='The feeds mirrored: a list of feed names, or "all".',
    )
    source_check_every: Duration = Field(
        default=SOURCE_CHECK_EVERY,
        description="How often a sync run asks ServiceTitan for each feed's newest change.",
    )

    @property
    def enabled(self) -> tuple[str, ...]:
        """The enabled feeds in catalog order."""
        if self.feeds == "all":
            return tuple(FEEDS)
        wanted = set(self.feeds)
        return tuple(name for name in FEEDS if name in wanted)


#: A sync producer runs this often unless the file says otherwise.
SYNC_EVERY = timedelta(minutes=15)
#: The producer that tells the owner ([notify]); implied when the file declares none.
NOTIFIER = "notifier"
NOTIFIER_PRODUCER = ProducerConfig(kind="notifier", every=SYNC_EVERY)
#: Modules whose records change a few times a day at most (the people and business units
#: work is booked under, memberships, the price book) sync hourly by default.
HOURLY_MODULES = frozenset({"settings_sync", "membership_sync", "pricebook_sync"})


def sync_producers(enabled: tuple[str, ...]) -> dict[str, ProducerConfig]:
    """One sync producer per module with enabled feeds, in catalog order."""
    names = dict.fromkeys(FEEDS[name].producer for name in enabled)
    return {
        name: ProducerConfig(
            kind="sync", every=timedelta(hours=1) if name in HOURLY_MODULES else SYNC_EVERY
        )
        for name in names
    }


def default_producers(enabled: tuple[str, ...] = DEFAULT_FEEDS) -> dict[str, ProducerConfig]:
    """The producers Nexus runs when the file declares none."""
    producers = sync_producers(enabled)
    producers["reconcile"] = ProducerConfig(kind="reconcile", every=timedelta(days=7))
    producers["jobs_cache_export"] = ProducerConfig(
        kind="cache_export", enabled=False, every=SYNC_EVERY, path=Path("st_jobs_cache.json")
    )
    producers[NOTIFIER] = NOTIFIER_PRODUCER
    return producers


def feeds_synced(
    producers: dict[str, ProducerConfig], enabled: tuple[str, ...]
) -> dict[str, tuple[str, ...]]:
    """sync producer → the enabled feeds it mirrors, in catalog order.

    A producer lists its feeds, or mirrors its module's (`job_sync` the
    job-management feeds): a feed goes to the first producer that claims it.
    """
    taken: set[str] = set()
    out: dict[str, tuple[str, ...]] = {}
    modules = set(PRODUCER_OF_DOC.values())

    def listed(name: str, producer: ProducerConfig) -> list[str] | None:
        if producer.feeds is not None:
            return producer.feeds
        # Older files name one feed; outside a module's producer that feed is the list.
        return [producer.feed] if producer.feed and name not in modules else None

    explicit = {n: p for n, p in producers.items() if p.kind == "sync" and listed(n, p) is not None}
    for name, producer in explicit.items():
        wanted = set(listed(name, producer) or ())
        out[name] = tuple(f for f in enabled if f in wanted and f not in taken)
        taken.update(out[name])
    for name, producer in producers.items():
        if producer.kind != "sync" or name in explicit:
            continue
        module = name if name in modules else None
        out[name] = tuple(f for f in enabled if FEEDS[f].producer == module and f not in taken)
        taken.update(out[name])
    return out


def default_products(
    synced: dict[str, tuple[str, ...]] | None = None,
) -> list[ProductConfig]:
    """Every mirrored table and derived column, as a product of the producer that syncs it.

    Each may be as old as two of its producer's runs apart, and at least an hour.
    """
    producers = default_producers()
    if synced is None:
        synced = feeds_synced(producers, DEFAULT_FEEDS)
    return implied_products(synced, producers)


def implied_products(
    synced: dict[str, tuple[str, ...]], producers: dict[str, ProducerConfig]
) -> list[ProductConfig]:
    owner = {feed: producer for producer, feeds in synced.items() for feed in feeds}

    def max_age(producer: str) -> timedelta:
        every = producers[producer].every if producer in producers else SYNC_EVERY
        return max(timedelta(hours=1), 2 * every)

    products = [
        ProductConfig(
            name=FEEDS[feed].table, kind="table", owner=producer, max_age=max_age(producer)
        )
        for feed, producer in owner.items()
    ]
    for derived in DERIVED:
        if derived.target in owner and derived.source in owner:
            source = owner[derived.source]
            products.append(
                ProductConfig(
                    name=derived.product, kind="column", owner=source, max_age=max_age(source)
                )
            )
    return products


class Config(BaseModel):
    """A validated `nexus.toml`."""

    model_config = ConfigDict(frozen=True)

    tenants: list[TenantConfig] = Field(default_factory=list)
    mirror: MirrorConfig = Field(default_factory=MirrorConfig)
    reconcile: ReconcileConfig = Field(default_factory=ReconcileConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    producers: dict[str, ProducerConfig] = Field(default_factory=default_producers)
    products: list[ProductConfig] = Field(default_factory=default_products)
    checks: ChecksConfig = Field(default_factory=ChecksConfig)
    reference_revenue: ReferenceRevenueConfig | None = None
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    source_path: Path | None = None
    _lines: dict[Key, int] = PrivateAttr(default_factory=dict)

    @property
    def enabled_feeds(self) -> tuple[str, ...]:
        """The feeds mirrored, in catalog order."""
        return self.mirror.enabled

    def feeds_of(self, producer: str) -> tuple[str, ...]:
        """The enabled feeds the sync producer `producer` mirrors (none for other producers)."""
        return feeds_synced(dict(self.producers), self.enabled_feeds).get(producer, ())

    def syncer_of(self, feed: str) -> str | None:
        """The sync producer that mirrors `feed`, or None when it is not mirrored."""
        synced = feeds_synced(dict(self.producers), self.enabled_feeds)
        return next((name for name, feeds in synced.items() if feed in feeds), None)

    def products_owned_by(self, producer: str) -> list[ProductConfig]:
        """The products `producer` is declared to keep fresh."""
        return [p for p in self.products if p.owner == producer]

    def product(self, name: str) -> ProductConfig | None:
        return next((p for p in self.products if p.name == name), None)

    def tenant(self, tenant_id: int) -> TenantConfig:
        """The declared settings of a tenant, or the defaults for an undeclared one."""
        declared = next((t for t in self.tenants if t.id == tenant_id), None)
        return declared or TenantConfig(id=tenant_id)

    def zone(self, tenant_id: int | None = None) -> zoneinfo.ZoneInfo:
        """The zone people read a tenant's moments in: its declared `timezone`.

        Without a tenant (what a whole installation shares, such as a retirement),
        the only declared tenant's zone, or UTC when several or none are declared;
        every time shown names its zone, so either reads unambiguously.
        """
        if tenant_id is None:
            if len(self.tenants) != 1:
                return times.UTC
            tenant_id = self.tenants[0].id
        return zoneinfo.ZoneInfo(self.tenant(tenant_id).timezone)

    def resolve_path(self, path: Path) -> Path:
        """Make a path from the file absolute, relative to the file's folder."""
        if path.is_absolute() or self.source_path is None:
            return path
        return self.source_path.parent / path

    def line_of(self, *path: str | int) -> int | None:
        """The line a table or key starts on, e.g. `line_of("producers", "job_sync")`."""
        return line_of(self._lines, path)

    def location(self, *path: str | int) -> str:
        """`file:line` of a table or key, for messages."""
        if self.source_path is None:
            return "built-in defaults"
        line = self.line_of(*path)
        return f"{self.source_path}:{line}" if line else str(self.source_path)


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a configuration file, and its fix."""

    path: str  # the file, as given
    line: int | None
    key: str  # where in the document, e.g. "producers.invoice_sync.evry"
    message: str  # names the table or key and says the fix

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


class ConfigFileError(ConfigError):
    """A configuration file has problems; all of them are listed, one per line."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def default_config_text() -> str:
    """Return the commented default `nexus.toml` that `nexus init` writes."""
    return resources.files("nexus.registry").joinpath("default.toml").read_text(encoding="utf-8")


def load_config(path: Path | None) -> Config:
    """Read and validate `path`; None, or a missing `nexus.toml` here, gives the defaults."""
    if path is None:
        return parse_config(default_config_text())
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if path == DEFAULT_CONFIG_PATH:
            return parse_config(default_config_text())
        problem = (
            "no such file — write one with `nexus init`, or point NEXUS_CONFIG at your nexus.toml"
        )
        raise ConfigFileError([ConfigProblem(str(path), None, "", problem)]) from None
    except UnicodeDecodeError as exc:
        problem = f"not UTF-8 text (byte {exc.start}) — save the file as UTF-8"
        raise ConfigFileError([ConfigProblem(str(path), None, "", problem)]) from None
    except OSError as exc:
        problem = f"cannot read it ({exc.strerror}) — check the path and its permissions"
        raise ConfigFileError([ConfigProblem(str(path), None, "", problem)]) from None
    return parse_config(text, path)


def parse_config(text: str, path: Path | None = None) -> Config:
    """Validate configuration text; `path` is only used to place messages and paths."""
    shown = str(path) if path is not None else "nexus.toml"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError([_syntax_problem(shown, text, exc)]) from None
    lines = key_lines(text)
    config = _Checker(data, lines, shown, path).config()
    config._lines.update(lines)
    return config


_TYPE_WORDS = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text in quotes",
    "path_type": "a path in quotes",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "dict_type": "a table",
    "list_type": "a list",
}
_BOUNDS = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "at most"),
}
_MISSING_HINTS = {
    ("TenantConfig", "id"): "id = 1001 (the ServiceTitan tenant id)",
    ("ProducerConfig", "kind"): (
        'kind = "sync" (or "reconcile", "cache_export", "notifier", "external")'
    ),
    ("ProducerConfig", "every"): 'every = "15m" (how often it runs)',
    ("ProductConfig", "name"): 'name = "titan.jobs"',
    ("ProductConfig", "kind"): 'kind = "table" (or "column", "file")',
    ("ProductConfig", "owner"): 'owner = "job_sync" (the producer that keeps it fresh)',
    ("ProductConfig", "max_age"): 'max_age = "1h" (how old it may get)',
}
_M = TypeVar("_M", bound=BaseModel)
_S = TypeVar("_S", bound="_Section")
_TOP_LEVEL = (
    "tenants",
    "mirror",
    "reconcile",
    "web",
    "producers",
    "products",
    "checks",
    "reference_revenue",
    "notify",
)


class _Checker:
    """Validate parsed TOML section by section, collecting every problem before failing."""

    def __init__(
        self, data: dict[str, Any], lines: dict[Key, int], shown: str, path: Path | None
    ) -> None:
        self.data = data
        self.lines = lines
        self.shown = shown
        self.path = path
        self.problems: list[ConfigProblem] = []
        self.secrets: set[Key] = set()

    def config(self) -> Config:
        self._find_secrets(self.data, ())
        for key in self.data:
            if key not in _TOP_LEVEL:
                self._unknown((), key, _TOP_LEVEL)
        tenants = self._tenants()
        mirror = self._mirror()
        reconcile = self._reconcile()
        web = self._web()
        producers = self._producers(mirror.enabled)
        products = self._products(producers, mirror.enabled)
        checks = self._checks(products)
        reference = self._reference_revenue()
        notify = self._section(NotifyConfig, "notify")
        if self.problems:
            # Stable sort: problems on one line keep the order they were found in.
            self.problems.sort(key=lambda p: p.line if p.line is not None else 1 << 30)
            raise ConfigFileError(self.problems)
        return Config(
            tenants=tenants,
            mirror=mirror,
            reconcile=reconcile,
            web=web,
            producers=producers,
            products=products,
            checks=checks,
            reference_revenue=reference,
            notify=notify,
            source_path=self.path,
        )

    # --- sections ------------------------------------------------------------

    def _tenants(self) -> list[TenantConfig]:
        raw = self.data.get("tenants", [])
        if not _list_of_tables(raw):
            self.report(
                (),
                "tenants must be a list of tables — write [[tenants]] (double brackets) "
                "above each tenant",
                at=("tenants",),
            )
            return []
        tenants = []
        first_with: dict[int, int] = {}
        for index, item in enumerate(raw):
            table: Key = ("tenants", index)
            tenant = self._model(TenantConfig, item, table)
            if tenant is not None:
                tenants.append(tenant)
            tenant_id = item.get("id")
            if not isinstance(tenant_id, int) or isinstance(tenant_id, bool):
                continue
            if tenant_id in first_with:
                first = first_with[tenant_id]
                self.report(
                    table,
                    f"id {tenant_id} is already used by tenants[{first}] (line "
                    f"{self._line(('tenants', first, 'id'))}) — give each tenant its own id",
                    at=(*table, "id"),
                )
            else:
                first_with[tenant_id] = index
        return tenants

    def _mirror(self) -> MirrorConfig:
        raw = self.data.get("mirror", {})
        table: Key = ("mirror",)
        if not isinstance(raw, dict):
            self.report((), "mirror must be a table — write [mirror] with feeds = …", at=table)
            return MirrorConfig()
        feeds = raw.get("feeds")
        if isinstance(feeds, str) and feeds != "all":
            self.report(
                table,
                f'feeds \'{feeds}\' is neither "all" nor a list — write feeds = "all" '
                'or feeds = ["jobs", "invoices", …]',
                at=(*table, "feeds"),
            )
            return MirrorConfig()
        if isinstance(feeds, list):
            for index, name in enumerate(feeds):
                if isinstance(name, str) and name not in FEEDS:
                    close = difflib.get_close_matches(name, list(FEEDS), 1)
                    hint = f"did you mean '{close[0]}'? " if close else ""
                    self.report(
                        table,
                        f"feeds: '{name}' is not a ServiceTitan feed Nexus knows — {hint}"
                        "`nexus feeds list` shows them",
                        at=(*table, "feeds", index),
                    )
            if any(isinstance(n, str) and n not in FEEDS for n in feeds):
                return MirrorConfig()
        return self._model(MirrorConfig, raw, table) or MirrorConfig()

    def _section(self, model: type[_S], name: str) -> _S:
        """A plain table of settings, e.g. [notify]: its defaults when absent or wrong."""
        raw = self.data.get(name, {})
        if not isinstance(raw, dict):
            self.report(
                (), f"{name} must be a table — write [{name}] with its keys below", at=(name,)
            )
            return model()
        return self._model(model, raw, (name,)) or model()

    def _reconcile(self) -> ReconcileConfig:
        raw = self.data.get("reconcile", {})
        table: Key = ("reconcile",)
        if not isinstance(raw, dict):
            self.report(
                (), "reconcile must be a table — write [reconcile] with repair = true", at=table
            )
            return ReconcileConfig()
        return self._model(ReconcileConfig, raw, table) or ReconcileConfig()

    def _web(self) -> WebConfig:
        raw = self.data.get("web", {})
        table: Key = ("web",)
        if not isinstance(raw, dict):
            self.report(
                (), 'web must be a table — write [web] with public_url = "https://…"', at=table
            )
            return WebConfig()
        return self._model(WebConfig, raw, table) or WebConfig()

    def _producers(self, enabled: tuple[str, ...]) -> dict[str, ProducerConfig]:
        if "producers" not in self.data:
            return default_producers(enabled)
        raw = self.data["producers"]
        if not isinstance(raw, dict):
            self.report(
                (),
                "producers must be a table — write one [producers.NAME] section per producer",
                at=("producers",),
            )
            return {}
        producers = {}
        synced_by: dict[str, str] = {}
        for name, item in raw.items():
            table: Key = ("producers", name)
            if not isinstance(item, dict):
                self.report(
                    ("producers",),
                    f"{name} must be a table — write [producers.{name}] with kind and every",
                    at=table,
                )
                continue
            if not _PRODUCER_NAME.fullmatch(name):
                self.report(
                    table,
                    "the name must start with a letter and use only letters, digits, _ and - "
                    "— rename it, e.g. [producers.nightly_report]",
                )
            producer = self._model(ProducerConfig, item, table)
            if producer is not None:
                producers[name] = producer
            self._producer_kind_rules(name, item, synced_by)
        # Every enabled feed is mirrored: a module whose producer the file leaves out
        # gets its sync producer with the defaults.
        synced = feeds_synced(producers, enabled)
        covered = {feed for feeds in synced.values() for feed in feeds}
        for name, implied in sync_producers(tuple(f for f in enabled if f not in covered)).items():
            if name in raw and isinstance(raw[name], dict) and raw[name].get("kind") == "sync":
                continue  # declared, with problems of its own
            if name in raw:
                self.report(
                    ("producers", name),
                    f"is not a sync producer, but it is the producer of the feeds "
                    f"{', '.join(f for f in enabled if FEEDS[f].producer == name)} — rename it, "
                    f'or make it kind = "sync"',
                )
            else:
                producers[name] = implied
        if not any(p.kind == "notifier" for p in producers.values()) and NOTIFIER not in raw:
            producers[NOTIFIER] = NOTIFIER_PRODUCER
        return producers

    def _producer_kind_rules(
        self, name: str, item: dict[str, Any], synced_by: dict[str, str]
    ) -> None:
        table: Key = ("producers", name)
        kind = item.get("kind")
        if kind not in KIND_KEYS:
            return  # reported by the model
        for key in item:
            owner_kind = next((k for k, keys in KIND_KEYS.items() if key in keys), None)
            if owner_kind is not None and owner_kind != kind:
                self.report(
                    table,
                    f'{key} only applies to kind = "{owner_kind}" producers — remove it',
                    at=(*table, key),
                )
        if kind == "sync":
            self._sync_feed(name, item, synced_by)
        elif kind == "cache_export" and "path" not in item:
            self.report(
                table,
                "missing required key 'path' — add path = \"st_jobs_cache.json\" "
                "(the file it writes)",
            )
        elif kind == "external":
            self._external_how(table, item)

    def _sync_feed(self, name: str, item: dict[str, Any], synced_by: dict[str, str]) -> None:
        """A sync producer names its feeds, or is named for a module (job_sync, …)."""
        table: Key = ("producers", name)
        feeds, feed = item.get("feeds"), item.get("feed")
        modules = sorted(set(PRODUCER_OF_DOC.values()))
        if feeds is None and feed is None and name not in modules:
            self.report(
                table,
                f"a sync producer mirrors its module's feeds, but '{name}' names no module — "
                f'name it one of {", ".join(modules)}, or list its feeds: feeds = ["jobs"]',
            )
        named: list[tuple[Key, str]] = [(("feed",), feed)] if isinstance(feed, str) else []
        if isinstance(feeds, list):
            named += [(("feeds", i), f) for i, f in enumerate(feeds) if isinstance(f, str)]
        for where, value in named:
            if value not in FEEDS:
                close = difflib.get_close_matches(value, list(FEEDS), 1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                self.report(
                    table,
                    f"feed '{value}' is not a known feed — {hint}`nexus feeds list` shows them",
                    at=(*table, *where),
                )
            elif where == ("feed",) and name in modules and FEEDS[value].producer != name:
                self.report(
                    table,
                    f"feed '{value}' belongs to {FEEDS[value].producer}, not to {name} — "
                    f"remove the key (a sync producer mirrors its module's feeds) or write "
                    f'feeds = ["{value}"]',
                    at=(*table, "feed"),
                )
            elif value in synced_by:
                self.report(
                    table,
                    f"feed '{value}' is already synced by producers.{synced_by[value]} — one "
                    "sync producer per feed: remove one of them",
                    at=(*table, *where),
                )
            else:
                synced_by[value] = name

    def _external_how(self, table: Key, item: dict[str, Any]) -> None:
        given = [key for key in HOW_EXTERNAL_RUNS if key in item]
        if not given:
            self.report(
                table,
                "missing how the outside job runs — add exactly one of command, unit or cron, "
                'e.g. command = "/opt/jobs/nightly.py"',
            )
            return
        if len(given) > 1:
            both = " and ".join(given) if len(given) == 2 else "command, unit and cron"
            self.report(
                table,
                f"{both} are both given, but an external producer takes exactly one of "
                "command, unit or cron — keep the one that starts the job",
                at=(*table, given[1]),
            )
            return
        value = item[given[0]]
        if not isinstance(value, str):
            return  # reported by the model
        if given[0] == "cron" and not _looks_like_cron(value):
            self.report(
                table,
                "cron is not a crontab line — write five time fields and the command, "
                'e.g. cron = "15 5 * * * /opt/jobs/nightly.py"',
                at=(*table, "cron"),
            )
        elif given[0] == "unit" and not _UNIT.fullmatch(value):
            self.report(
                table,
                f"unit '{value}' is not a systemd unit name — write e.g. "
                'unit = "nightly-report.timer"',
                at=(*table, "unit"),
            )
        elif given[0] == "command" and not value.strip():
            self.report(
                table, "command is empty — write the command line it runs", at=(*table, "command")
            )

    def _products(
        self, producers: dict[str, ProducerConfig], enabled: tuple[str, ...]
    ) -> list[ProductConfig]:
        # Every mirrored table and derived column is a product of the producer that syncs
        # it; [[products]] adds others (files) and overrides these by name (max_age, …).
        implied = implied_products(feeds_synced(producers, enabled), producers)
        if "products" not in self.data:
            return implied
        raw = self.data["products"]
        if not _list_of_tables(raw):
            self.report(
                (),
                "products must be a list of tables — write [[products]] (double brackets) "
                "above each product",
                at=("products",),
            )
            return []
        declared = self._declared_producers(producers)
        products = []
        first_with: dict[str, int] = {}
        for index, item in enumerate(raw):
            table: Key = ("products", index)
            product = self._model(ProductConfig, item, table)
            if product is not None:
                products.append(product)
            name, kind, owner = item.get("name"), item.get("kind"), item.get("owner")
            if isinstance(name, str):
                self._product_name(table, name, kind)
                if name in first_with:
                    first = first_with[name]
                    self.report(
                        table,
                        f"'{name}' is already declared by products[{first}] (line "
                        f"{self._line(('products', first))}) — declare each product once",
                        at=(*table, "name"),
                    )
                else:
                    first_with[name] = index
            if isinstance(owner, str) and owner not in declared:
                self.report(
                    table,
                    f"owner '{owner}' is not a declared producer — declare "
                    f"[producers.{owner}] or use one of: {', '.join(sorted(declared))}",
                    at=(*table, "owner"),
                )
            if kind == "file" and "path" not in item:
                self.report(
                    table,
                    "missing required key 'path' — a file product is measured by its file's "
                    'mtime, so add path = "the/file.json"',
                )
            elif kind in ("table", "column") and "path" in item:
                self.report(
                    table,
                    'path only applies to kind = "file" products — remove it; tables and '
                    "columns are measured in the database",
                    at=(*table, "path"),
                )
        return products + [p for p in implied if p.name not in first_with]

    def _product_name(self, table: Key, name: str, kind: object) -> None:
        if kind not in _PRODUCT_NAME:
            return
        pattern, shape, example = _PRODUCT_NAME[str(kind)]
        if not pattern.fullmatch(name):
            self.report(
                table,
                f"name '{name}' is not {shape}, as a {kind} product's name must be — "
                f'write e.g. name = "{example}"',
                at=(*table, "name"),
            )

    def _declared_producers(self, producers: dict[str, ProducerConfig]) -> set[str]:
        raw = self.data.get("producers")
        # Names count as declared even when their body has problems of its own.
        return (set(raw) if isinstance(raw, dict) else set()) | set(producers)

    def _checks(self, products: list[ProductConfig]) -> ChecksConfig:
        raw = self.data.get("checks", {})
        if not isinstance(raw, dict):
            self.report(
                (),
                "checks must be a table — write [checks.invoice_coverage] and so on",
                at=("checks",),
            )
            return ChecksConfig()
        checks = self._model(ChecksConfig, raw, ("checks",)) or ChecksConfig()
        coverage = raw.get("invoice_coverage")
        watched = coverage.get("product") if isinstance(coverage, dict) else None
        names = self._declared_products(products)
        table: Key = ("checks", "invoice_coverage")
        if isinstance(watched, str) and names is not None and watched not in names:
            self.report(
                table,
                f"product '{watched}' is not a declared product — use one of: "
                f"{', '.join(sorted(names))}",
                at=(*table, "product"),
            )
        elif watched is None and names is not None and checks.invoice_coverage.product not in names:
            self.report(
                table,
                f"watches {checks.invoice_coverage.product} by default, which is not among "
                "the declared products — declare it in [[products]] or set product = … "
                "under [checks.invoice_coverage]",
                at=("products",),
            )
        return checks

    def _declared_products(self, products: list[ProductConfig]) -> set[str] | None:
        raw = self.data.get("products")
        if raw is not None and not _list_of_tables(raw):
            return None
        declared = {item["name"] for item in raw or () if isinstance(item.get("name"), str)}
        return declared | {p.name for p in products}

    def _reference_revenue(self) -> ReferenceRevenueConfig | None:
        if "reference_revenue" not in self.data:
            return None
        raw = self.data["reference_revenue"]
        table: Key = ("reference_revenue",)
        if not isinstance(raw, dict):
            self.report(
                (), "reference_revenue must be a table — write [reference_revenue]", at=table
            )
            return None
        reference = self._model(ReferenceRevenueConfig, raw, table)
        given = [key for key in ("csv", "sql") if key in raw]
        if not given:
            self.report(
                table,
                'missing the source — add csv = "sales.csv" (columns day or week, and '
                'revenue) or sql = "SELECT day, revenue FROM …"',
            )
        elif len(given) == 2:
            self.report(
                table,
                "csv and sql are both given, but the reference takes exactly one — keep "
                "the one that holds the true revenue",
                at=(*table, "sql"),
            )
        return reference

    # --- reporting -------------------------------------------------------------

    def report(self, table: Key, text: str, *, at: Key | None = None) -> None:
        """Record a problem about `table`, placed at the line of `at` (default: the table)."""
        where = self._label(table)
        spot = at if at is not None else table
        self.problems.append(
            ConfigProblem(
                path=self.shown,
                line=self._line(spot),
                key=_dotted(spot),
                message=f"{where}: {text}" if where else text,
            )
        )

    def _line(self, path: Key) -> int | None:
        return line_of(self.lines, path)

    def _label(self, table: Key) -> str:
        label = _dotted(table)
        if len(table) == 2 and table[0] in ("products", "tenants") and isinstance(table[1], int):
            items = self.data.get(str(table[0]))
            item = items[table[1]] if isinstance(items, list) else None
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str):
                label += f" ({name})"
        return label

    def _model(self, model: type[_M], raw: dict[str, Any], table: Key) -> _M | None:
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            errors = exc.errors()
        # A misspelt key is one mistake: report 'evry' as unknown, not also 'every' as missing.
        extras = [str(e["loc"][-1]) for e in errors if e["type"] == "extra_forbidden"]
        for error in errors:
            missing = str(error["loc"][-1]) if error["type"] == "missing" else None
            if missing and difflib.get_close_matches(missing, extras, 1):
                continue
            self._translate(model, table, error)
        return None

    def _translate(self, model: type[BaseModel], table: Key, error: Any) -> None:
        loc: Key = tuple(error["loc"])
        kind: str = error["type"]
        parent, key = (*table, *loc[:-1]), str(loc[-1]) if loc else ""
        spot = (*table, *loc)
        owner = _model_at(model, loc[:-1])
        value = error.get("input")
        ctx = error.get("ctx") or {}
        if kind == "extra_forbidden":
            self._unknown(parent, key, _allowed_keys(owner, value_of(self.data, parent)))
        elif kind == "missing":
            hint = _MISSING_HINTS.get((owner.__name__, key), f"{key} = …")
            self.report(parent, f"missing required key '{key}' — add {hint}")
        elif kind == "literal_error":
            options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
            close = difflib.get_close_matches(str(value), options, 1)
            hint = f" — did you mean '{close[0]}'?" if close else ""
            shown = f"'{value}'" if isinstance(value, str) else _describe(value)
            self.report(parent, f"{key} {shown} is not one of: {', '.join(options)}{hint}", at=spot)
        elif kind in ("value_error", "assertion_error"):
            # Validators word their errors to follow the key: "'15x' is not a duration — …".
            self.report(parent, f"{key} {ctx.get('error', error['msg'])}", at=spot)
        elif kind in _TYPE_WORDS:
            self.report(parent, _type_message(key, _TYPE_WORDS[kind], value), at=spot)
        elif kind in _BOUNDS:
            name, words = _BOUNDS[kind]
            text = f"{key} must be {words} {ctx.get(name):g}, not {value}"
            if name in ("le", "lt") and ctx.get(name) == 1:
                text += " — write shares as fractions, e.g. 0.35 for 35 %"
            self.report(parent, text, at=spot)
        else:
            self.report(parent, f"{key}: {error['msg']}", at=spot)

    def _unknown(self, table: Key, key: str, allowed: tuple[str, ...]) -> None:
        if (*table, key) in self.secrets:
            return
        close = difflib.get_close_matches(key, allowed, 1)
        fix = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
        what = "unknown key" if table else "unknown top-level key"
        self.report(table, f"{what} '{key}' — {fix}", at=(*table, key))

    def _find_secrets(self, value: object, path: Key) -> None:
        """Report every key that looks like a credential, wherever it is."""
        if isinstance(value, list):
            for index, item in enumerate(value):
                self._find_secrets(item, (*path, index))
        if not isinstance(value, dict):
            return
        for key, item in value.items():
            # A table is named, not a secret: [producers.token_refresh] is fine.
            scalar = not isinstance(item, dict | list)
            if scalar and _SECRET_KEY.search(key) and key != "webhook_secret_env":
                self.secrets.add((*path, key))
                self.report(path, self._secret_fix(path, key), at=(*path, key))
            else:
                self._find_secrets(item, (*path, key))

    def _secret_fix(self, table: Key, key: str) -> str:
        prefix = f"{key} looks like a credential, and credentials never live in this file — "
        if "webhook" in key.lower():
            tenant = value_of(self.data, table) if table[:1] == ("tenants",) else None
            tenant_id = tenant.get("id") if isinstance(tenant, dict) else None
            variable = "NEXUS_WEBHOOK_SECRET" + (f"_{tenant_id}" if tenant_id else "")
            if tenant is not None:
                return (
                    f"{prefix}delete it, export the secret as {variable} and write "
                    f'webhook_secret_env = "{variable}"'
                )
            return f"{prefix}delete it and export {variable} instead"
        if key.lower() in _SECRET_ENV:
            return f"{prefix}delete it and export {_SECRET_ENV[key.lower()]} instead"
        return f"{prefix}delete it and pass the value in an environment variable instead"


def value_of(data: object, path: Key) -> object:
    """The value at `path` in parsed TOML, or None."""
    for part in path:
        if isinstance(part, int) and isinstance(data, list) and part < len(data):
            data = data[part]
        elif isinstance(part, str) and isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


def _model_at(model: type[BaseModel], loc: Key) -> type[BaseModel]:
    """The sub-model a pydantic error location points into."""
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    return model


def _allowed_keys(model: type[BaseModel], raw: object) -> tuple[str, ...]:
    if model is ProducerConfig and isinstance(raw, dict) and raw.get("kind") in KIND_KEYS:
        return (*COMMON_PRODUCER_KEYS, *KIND_KEYS[raw["kind"]])
    return tuple(field.alias or name for name, field in model.model_fields.items())


def _type_message(key: str, expected: str, value: object) -> str:
    text = f"{key} must be {expected}, not {_describe(value)}"
    if isinstance(value, str) and expected in ("a whole number", "a number", "true or false"):
        unquoted = value.strip()
        if _TOML_LITERAL.fullmatch(unquoted) and (unquoted in ("true", "false")) == (
            expected == "true or false"
        ):
            return text + " — remove the quotes"
        return text + (" — write true or false" if expected == "true or false" else "")
    if isinstance(value, int | float) and expected.endswith("in quotes"):
        return text + " — put it in quotes"
    if isinstance(value, float) and expected == "a whole number":
        return text + " — drop the fraction"
    if expected == "a table":
        return text + f" — write it as [{key}] with its keys below"
    return text


def _describe(value: object) -> str:
    """Name a TOML value for a message, short."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text '{shown}'"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _dotted(path: Key) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else json.dumps(part)
            out += f".{name}" if out else name
    return out


def _list_of_tables(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _looks_like_cron(line: str) -> bool:
    fields = line.split()
    if fields and fields[0].startswith("@"):
        return fields[0] in _CRON_SPECIAL and len(fields) >= 2
    return len(fields) >= 6 and all(
        re.fullmatch(r"[0-9A-Za-z*/,-]+", field) for field in fields[:5]
    )


def _syntax_problem(shown: str, text: str, exc: tomllib.TOMLDecodeError) -> ConfigProblem:
    message = str(exc)
    where = re.search(r" \(at line (\d+), column (\d+)\)$", message)
    reason = message[: where.start()] if where else message.removesuffix(" (at end of document)")
    if where:
        line, column = int(where.group(1)), int(where.group(2))
        text_line = text.splitlines()[line - 1] if line <= len(text.splitlines()) else ""
        detail = f"invalid TOML at column {column}: {reason}"
        unquoted = _UNQUOTED.match(text_line)
        if unquoted and not _TOML_LITERAL.fullmatch(unquoted.group(2)):
            detail += f' — put text in quotes: {unquoted.group(1)} = "{unquoted.group(2)}"'
    else:
        line = max(1, len(text.splitlines()))
        detail = f"invalid TOML at the end of the file: {reason} — close what was opened"
    return ConfigProblem(path=shown, line=line, key="", message=detail)
