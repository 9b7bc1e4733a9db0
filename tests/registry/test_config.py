"""nexus.toml: the defaults, and one exact message per mistake, with its line and fix."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from nexus.errors import ConfigError
from nexus.registry.config import (
    INVOICE_COVERAGE_THRESHOLD,
    ChecksConfig,
    Config,
    ConfigFileError,
    InvoiceCoverageCheck,
    MirrorConfig,
    ProducerConfig,
    ProductConfig,
    ReferenceRevenueConfig,
    RevenueCheck,
    TenantConfig,
    VolumeCheck,
    default_config_text,
    load_config,
    parse_config,
)

# A small valid file; each mistake below is appended to it, so its lines start at 22.
BASE = """\
[producers.job_sync]
kind = "sync"
feed = "jobs"
every = "15m"

[producers.invoice_sync]
kind = "sync"
feed = "invoices"
every = "15m"

[[products]]
name = "titan.jobs"
kind = "table"
owner = "job_sync"
max_age = "1h"

[[products]]
name = "titan.jobs.invoice_total"
kind = "column"
owner = "invoice_sync"
max_age = "1h"
"""


def _load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Config:
    monkeypatch.chdir(tmp_path)
    Path("nexus.toml").write_text(text)
    return load_config(Path("nexus.toml"))


def _problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> ConfigFileError:
    with pytest.raises(ConfigFileError) as caught:
        _load(tmp_path, monkeypatch, text)
    return caught.value


def _dump(config: Config) -> dict[str, object]:
    return config.model_dump(mode="json", exclude={"source_path"})


# --- the defaults ------------------------------------------------------------------------


def test_the_default_file_loads_to_the_built_in_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = _load(tmp_path, monkeypatch, default_config_text())
    assert _dump(written) == _dump(load_config(None))
    # Every section the file leaves out defaults to the same values the file spells out.
    assert _dump(parse_config("")) == _dump(written)
    assert _dump(Config()) == _dump(written)
    assert written.source_path == Path("nexus.toml")


def test_the_defaults_sync_the_dashboard_feeds_by_module_reconcile_and_cache_export() -> None:
    config = load_config(None)
    assert list(config.producers) == [
        "job_sync",
        "invoice_sync",
        "customer_sync",
        "estimate_sync",
        "dispatch_sync",
        "settings_sync",
        "membership_sync",
        "reconcile",
        "jobs_cache_export",
        "notifier",  # implied: the file declares none
    ]
    assert config.producers["notifier"].every == timedelta(minutes=15)
    sync = config.producers["invoice_sync"]
    assert (sync.kind, sync.every, sync.enabled) == ("sync", timedelta(minutes=15), True)
    assert config.feeds_of("invoice_sync") == (
        "invoices",
        "invoice_items",
        "payments",
        "payment_types",
    )
    assert config.feeds_of("job_sync") == ("jobs", "projects", "appointments", "job_types")
    assert config.feeds_of("reconcile") == ()
    assert config.producers["reconcile"].every == timedelta(days=7)
    assert config.reconcile.repair is True  # the weekly reconcile heals what it finds
    export = config.producers["jobs_cache_export"]
    assert (export.kind, export.enabled, export.path, export.days) == (
        "cache_export",
        False,
        Path("st_jobs_cache.json"),
        7,
    )
    hour = timedelta(hours=1)
    owners = {
        "jobs": "job_sync",
        "projects": "job_sync",
        "appointments": "job_sync",
        "job_types": "job_sync",
        "invoices": "invoice_sync",
        "invoice_items": "invoice_sync",
        "payments": "invoice_sync",
        "payment_types": "invoice_sync",
        "customers": "customer_sync",
        "locations": "customer_sync",
        "estimates": "estimate_sync",
        "appointment_assignments": "dispatch_sync",
        "technicians": "settings_sync",
        "business_units": "settings_sync",
        "memberships": "membership_sync",
        "membership_types": "membership_sync",
    }
    # Settings and memberships sync hourly: their tables may be two hours old.
    hourly = {"settings_sync", "membership_sync"}
    assert {n for n, p in config.producers.items() if p.every == hour} == hourly
    assert [(p.name, p.kind, p.owner, p.max_age) for p in config.products] == [
        *(
            (f"titan.{feed}", "table", owner, 2 * hour if owner in hourly else hour)
            for feed, owner in owners.items()
        ),
        ("titan.jobs.invoice_total", "column", "invoice_sync", hour),
        ("titan.jobs.scheduled_at", "column", "job_sync", hour),
    ]
    assert [p.name for p in config.products_owned_by("invoice_sync")] == [
        "titan.invoices",
        "titan.invoice_items",
        "titan.payments",
        "titan.payment_types",
        "titan.jobs.invoice_total",
    ]
    assert {p.measured_by for p in config.products} == {"db"}
    assert config.tenants == []
    assert config.reference_revenue is None
    assert config.source_path is None


def test_the_check_defaults_are_documented_values() -> None:
    checks = load_config(None).checks
    assert checks.invoice_coverage == InvoiceCoverageCheck(
        product="titan.jobs.invoice_total",
        threshold=INVOICE_COVERAGE_THRESHOLD,
        min_n=20,
        grace=timedelta(hours=24),
        window=timedelta(days=30),
        expected_lag=timedelta(days=5),
    )
    assert checks.volume == VolumeCheck(window=timedelta(days=28), min_days=14, drop_ratio=0.5)
    assert checks.revenue == RevenueCheck(
        settlement_lag=timedelta(days=7), spike_ratio=3.0, same_created_share=0.5, min_capture=0.9
    )


@pytest.mark.parametrize(
    "model",
    [
        TenantConfig,
        ProducerConfig,
        ProductConfig,
        ChecksConfig,
        InvoiceCoverageCheck,
        VolumeCheck,
        RevenueCheck,
        ReferenceRevenueConfig,
        MirrorConfig,
    ],
)
def test_every_key_is_documented_in_the_default_file(model: type[ProducerConfig]) -> None:
    text = default_config_text()
    for key in model.model_fields:
        assert re.search(rf"^#? ?{key} = |\.{key}\]", text, re.M), f"{model.__name__}.{key}"


def test_a_missing_nexus_toml_here_means_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _dump(load_config(Path("nexus.toml"))) == _dump(load_config(None))


def test_a_missing_file_named_explicitly_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "etc" / "nexus.toml"
    with pytest.raises(ConfigFileError) as caught:
        load_config(missing)
    assert caught.value.problems[0].line is None
    assert str(caught.value) == (
        f"{missing}: no such file — write one with `nexus init`, or point NEXUS_CONFIG "
        "at your nexus.toml"
    )


def test_a_full_file_loads_with_its_helpers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = BASE + (
        "\n"
        "[producers.legacy_cache]\n"
        'kind = "external"\n'
        'every = "1d"\n'
        'command = "/opt/titan/write_cache.py --days 7"\n'
        "\n"
        "[[products]]\n"
        'name = "st_jobs_cache.json"\n'
        'kind = "file"\n'
        'owner = "legacy_cache"\n'
        'max_age = "6h"\n'
        'path = "cache/st_jobs_cache.json"\n'
        "\n"
        "[[tenants]]\n"
        "id = 1001\n"
        'name = "Dove Plumbing"\n'
        'webhook_secret_env = "NEXUS_WEBHOOK_SECRET_1001"\n'
        "\n"
        "[checks.invoice_coverage]\n"
        "threshold = 0.5\n"
        "\n"
        "[reference_revenue]\n"
        'csv = "ledger.csv"\n'
    )
    config = _load(tmp_path, monkeypatch, text)
    cache = config.products[2]
    assert (cache.kind, cache.measured_by, cache.max_age) == (
        "file",
        "file_mtime",
        timedelta(hours=6),
    )
    assert config.resolve_path(cache.path or Path()) == Path("cache/st_jobs_cache.json")
    assert config.producers["legacy_cache"].run_by_nexus is False
    assert config.tenants == [
        TenantConfig(id=1001, name="Dove Plumbing", webhook_secret_env="NEXUS_WEBHOOK_SECRET_1001")
    ]
    assert config.tenant(1001).timezone == "America/Chicago"
    assert config.tenant(2002) == TenantConfig(id=2002)
    assert config.checks.invoice_coverage.threshold == 0.5
    assert config.checks.invoice_coverage.min_n == 20
    assert config.reference_revenue == ReferenceRevenueConfig(csv=Path("ledger.csv"))
    assert config.line_of("producers", "legacy_cache") == 23
    assert config.location("products", 2, "owner") == "nexus.toml:31"


def test_repair_false_keeps_the_reconcile_reporting_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _load(tmp_path, monkeypatch, BASE + "\n[reconcile]\nrepair = false\n")
    assert config.reconcile.repair is False
    assert config.line_of("reconcile", "repair") == 24


# --- one mistake, one message -------------------------------------------------------------

MISTAKES = {
    "unknown top-level key": (
        '\n[producer.reconcile]\nkind = "reconcile"\nevery = "7d"\n',
        "nexus.toml:23: unknown top-level key 'producer' — did you mean 'producers'?",
    ),
    "unknown producer key": (
        '\n[producers.reconcile]\nkind = "reconcile"\nevry = "7d"\n',
        "nexus.toml:25: producers.reconcile: unknown key 'evry' — did you mean 'every'?",
    ),
    "bad duration": (
        '\n[producers.reconcile]\nkind = "reconcile"\nevery = "7 dayz"\n',
        "nexus.toml:25: producers.reconcile: every '7 dayz' is not a duration — write a "
        'number and a unit: "90s", "15m", "1h" or "7d"',
    ),
    "zero duration": (
        '\n[producers.reconcile]\nkind = "reconcile"\nevery = "0h"\n',
        "nexus.toml:25: producers.reconcile: every must be longer than zero — use e.g. "
        '"90s", "15m", "1h" or "7d"',
    ),
    "owner not declared": (
        '\n[[products]]\nname = "titan.invoices"\nkind = "table"\nowner = "invoice_sink"\n'
        'max_age = "1h"\n',
        "nexus.toml:26: products[2] (titan.invoices): owner 'invoice_sink' is not a declared "
        "producer — declare [producers.invoice_sink] or use one of: customer_sync, "
        "dispatch_sync, estimate_sync, invoice_sync, job_sync, membership_sync, notifier, "
        "settings_sync",
    ),
    "file product without path": (
        '\n[[products]]\nname = "st_jobs_cache.json"\nkind = "file"\nowner = "job_sync"\n'
        'max_age = "1h"\n',
        "nexus.toml:23: products[2] (st_jobs_cache.json): missing required key 'path' — a "
        'file product is measured by its file\'s mtime, so add path = "the/file.json"',
    ),
    "table product with a path": (
        '\n[[products]]\nname = "titan.invoices"\nkind = "table"\nowner = "invoice_sync"\n'
        'max_age = "1h"\npath = "invoices.json"\n',
        'nexus.toml:28: products[2] (titan.invoices): path only applies to kind = "file" '
        "products — remove it; tables and columns are measured in the database",
    ),
    "duplicate tenant id": (
        "\n[[tenants]]\nid = 1001\n\n[[tenants]]\nid = 1001\n",
        "nexus.toml:27: tenants[1]: id 1001 is already used by tenants[0] (line 24) — give "
        "each tenant its own id",
    ),
    "secret in the file": (
        '\n[[tenants]]\nid = 1001\nclient_secret = "hunter2"\n',
        "nexus.toml:25: tenants[0]: client_secret looks like a credential, and credentials "
        "never live in this file — delete it and export NEXUS_ST_CLIENT_SECRET instead",
    ),
    "webhook secret in the file": (
        '\n[[tenants]]\nid = 1001\nwebhook_secret = "hunter2"\n',
        "nexus.toml:25: tenants[0]: webhook_secret looks like a credential, and credentials "
        "never live in this file — delete it, export the secret as NEXUS_WEBHOOK_SECRET_1001 "
        'and write webhook_secret_env = "NEXUS_WEBHOOK_SECRET_1001"',
    ),
    "TOML syntax error": (
        '\n[producers.reconcile]\nkind = "reconcile"\nevery = 7d\n',
        "nexus.toml:25: invalid TOML at column 10: Expected newline or end of document after "
        'a statement — put text in quotes: every = "7d"',
    ),
    "sync producer with unknown feed": (
        '\n[producers.estimate_sync]\nkind = "sync"\nfeed = "estimate"\nevery = "15m"\n',
        "nexus.toml:25: producers.estimate_sync: feed 'estimate' is not a known feed — did "
        "you mean 'estimates'? `nexus feeds list` shows them",
    ),
    "two producers for one feed": (
        '\n[producers.jobs_again]\nkind = "sync"\nfeed = "jobs"\nevery = "1h"\n',
        "nexus.toml:25: producers.jobs_again: feed 'jobs' is already synced by "
        "producers.job_sync — one sync producer per feed: remove one of them",
    ),
    "external producer with command and unit": (
        '\n[producers.nightly_report]\nkind = "external"\nevery = "1d"\n'
        'command = "/opt/reports/nightly.py"\nunit = "nightly-report.timer"\n',
        "nexus.toml:27: producers.nightly_report: command and unit are both given, but an "
        "external producer takes exactly one of command, unit or cron — keep the one that "
        "starts the job",
    ),
    "external producer without a schedule": (
        '\n[producers.nightly_report]\nkind = "external"\nevery = "1d"\n',
        "nexus.toml:23: producers.nightly_report: missing how the outside job runs — add "
        'exactly one of command, unit or cron, e.g. command = "/opt/jobs/nightly.py"',
    ),
    "key of another kind": (
        '\n[producers.reconcile]\nkind = "reconcile"\nevery = "7d"\nfeed = "jobs"\n',
        'nexus.toml:26: producers.reconcile: feed only applies to kind = "sync" producers '
        "— remove it",
    ),
    "unknown kind": (
        '\n[producers.reconcile]\nkind = "reconcil"\nevery = "7d"\n',
        "nexus.toml:24: producers.reconcile: kind 'reconcil' is not one of: sync, reconcile, "
        "cache_export, notifier, external — did you mean 'reconcile'?",
    ),
    "quoted number": (
        '\n[checks.invoice_coverage]\nmin_n = "20"\n',
        "nexus.toml:24: checks.invoice_coverage: min_n must be a whole number, not the text "
        "'20' — remove the quotes",
    ),
    "percent for a share": (
        "\n[checks.invoice_coverage]\nthreshold = 35\n",
        "nexus.toml:24: checks.invoice_coverage: threshold must be at most 1, not 35 — write "
        "shares as fractions, e.g. 0.35 for 35 %",
    ),
    "unknown check key": (
        "\n[checks.volume]\nmin_dayz = 7\n",
        "nexus.toml:24: checks.volume: unknown key 'min_dayz' — did you mean 'min_days'?",
    ),
    "check on an undeclared product": (
        '\n[checks.invoice_coverage]\nproduct = "titan.job.invoice_total"\n',
        "nexus.toml:24: checks.invoice_coverage: product 'titan.job.invoice_total' is not a "
        "declared product — use one of: titan.appointment_assignments, titan.appointments, "
        "titan.business_units, titan.customers, titan.estimates, titan.invoice_items, "
        "titan.invoices, titan.job_types, titan.jobs, titan.jobs.invoice_total, "
        "titan.jobs.scheduled_at, titan.locations, titan.membership_types, titan.memberships, "
        "titan.payment_types, titan.payments, titan.projects, titan.technicians",
    ),
    "unknown time zone": (
        '\n[[tenants]]\nid = 1001\ntimezone = "America/Chicgo"\n',
        "nexus.toml:25: tenants[0]: timezone 'America/Chicgo' is not a known time zone — did "
        "you mean 'America/Chicago'?",
    ),
    "secret pasted as the variable name": (
        '\n[[tenants]]\nid = 1001\nwebhook_secret_env = "s3cr3t-value"\n',
        "nexus.toml:25: tenants[0]: webhook_secret_env must be the NAME of an environment "
        "variable (capitals, digits and _, like NEXUS_WEBHOOK_SECRET_1001) — put the secret "
        "itself in that variable",
    ),
    "tenants as a single table": (
        "\n[tenants]\nid = 1001\n",
        "nexus.toml:23: tenants must be a list of tables — write [[tenants]] (double "
        "brackets) above each tenant",
    ),
    "reference revenue with csv and sql": (
        '\n[reference_revenue]\ncsv = "ledger.csv"\nsql = "SELECT day, revenue FROM ledger"\n',
        "nexus.toml:25: reference_revenue: csv and sql are both given, but the reference takes "
        "exactly one — keep the one that holds the true revenue",
    ),
    "repair as text": (
        '\n[reconcile]\nrepair = "yes"\n',
        "nexus.toml:24: reconcile: repair must be true or false, not the text 'yes' — write "
        "true or false",
    ),
    "unknown reconcile key": (
        "\n[reconcile]\nrepairs = false\n",
        "nexus.toml:24: reconcile: unknown key 'repairs' — did you mean 'repair'?",
    ),
    "reconcile as a list": (
        "\n[[reconcile]]\nrepair = true\n",
        "nexus.toml:23: reconcile must be a table — write [reconcile] with repair = true",
    ),
    "table product named like a column": (
        '\n[[products]]\nname = "titan.invoices.total"\nkind = "table"\nowner = "invoice_sync"\n'
        'max_age = "1h"\n',
        "nexus.toml:24: products[2] (titan.invoices.total): name 'titan.invoices.total' is not "
        'schema.table, as a table product\'s name must be — write e.g. name = "titan.jobs"',
    ),
}


@pytest.mark.parametrize(("mistake", "expected"), MISTAKES.values(), ids=list(MISTAKES))
def test_one_mistake_gives_its_one_exact_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mistake: str, expected: str
) -> None:
    error = _problems(tmp_path, monkeypatch, BASE + mistake)
    assert str(error) == expected
    assert len(error.problems) == 1
    assert isinstance(error, ConfigError)


def test_the_base_file_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The modules of the default feeds the file leaves out get their sync producers.
    assert list(_load(tmp_path, monkeypatch, BASE).producers) == [
        "job_sync",
        "invoice_sync",
        "customer_sync",
        "estimate_sync",
        "dispatch_sync",
        "settings_sync",
        "membership_sync",
        "notifier",
    ]


def test_problems_carry_file_line_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text, _ = MISTAKES["unknown producer key"]
    (problem,) = _problems(tmp_path, monkeypatch, BASE + text).problems
    assert (problem.path, problem.line, problem.key) == (
        "nexus.toml",
        25,
        "producers.reconcile.evry",
    )


def test_the_secret_value_is_never_repeated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("secret in the file", "secret pasted as the variable name"):
        error = _problems(tmp_path, monkeypatch, BASE + MISTAKES[name][0])
        assert "hunter2" not in str(error) and "s3cr3t" not in str(error)


def test_several_mistakes_are_listed_one_per_line_in_file_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (
        BASE
        + MISTAKES["external producer with command and unit"][0]
        + MISTAKES["duplicate tenant id"][0]
        + '\n[producers.reconcile]\nkind = "reconcile"\nevry = "7d"\n'
        + "\n[checks.volume]\nmin_dayz = 7\n"
    )
    error = _problems(tmp_path, monkeypatch, text)
    assert str(error).splitlines() == [
        "nexus.toml:27: producers.nightly_report: command and unit are both given, but an "
        "external producer takes exactly one of command, unit or cron — keep the one that "
        "starts the job",
        "nexus.toml:33: tenants[1]: id 1001 is already used by tenants[0] (line 30) — give "
        "each tenant its own id",
        "nexus.toml:37: producers.reconcile: unknown key 'evry' — did you mean 'every'?",
        "nexus.toml:40: checks.volume: unknown key 'min_dayz' — did you mean 'min_days'?",
    ]
    assert [p.line for p in error.problems] == [27, 33, 37, 40]


def test_a_producer_named_like_a_credential_is_not_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = BASE + '\n[producers.token_refresh]\nkind = "external"\nevery = "1h"\nunit = "t.timer"\n'
    assert _load(tmp_path, monkeypatch, text).producers["token_refresh"].unit == "t.timer"


def test_declaring_some_producers_keeps_every_enabled_feed_mirrored_and_owned() -> None:
    text = '[producers.job_sync]\nkind = "sync"\nevery = "5m"\n'
    config = parse_config(text)
    assert config.producers["job_sync"].every == timedelta(minutes=5)
    assert config.producers["invoice_sync"].every == timedelta(minutes=15)
    assert config.syncer_of("invoices") == "invoice_sync"
    owners = {p.name: p.owner for p in config.products}
    assert owners["titan.invoices"] == "invoice_sync"
    assert owners["titan.appointments"] == "job_sync"
    assert owners["titan.jobs.scheduled_at"] == "job_sync"
    # Feeds the mirror leaves out are nobody's product.
    assert "titan.calls" not in owners and config.syncer_of("calls") is None


def test_mirror_feeds_all_mirrors_every_catalog_feed_by_module() -> None:
    from nexus.catalog import FEEDS

    config = parse_config('[mirror]\nfeeds = "all"\n')
    assert config.enabled_feeds == tuple(FEEDS)
    assert config.feeds_of("payroll_sync") == (
        "job_splits",
        "job_timesheets",
        "payroll_adjustments",
        "activity_codes",
        "timesheet_codes",
        "gross_pay_items",
        "payroll_settings",
    )
    assert config.syncer_of("calls") == "call_sync"
    assert {p.name for p in config.products} >= {f"titan.{name}" for name in FEEDS}


def test_a_producer_that_lists_feeds_takes_them_from_their_module() -> None:
    text = '[producers.money]\nkind = "sync"\nevery = "5m"\nfeeds = ["payments", "invoices"]\n'
    config = parse_config(text)
    assert config.feeds_of("money") == ("invoices", "payments")
    assert config.feeds_of("invoice_sync") == ("invoice_items", "payment_types")
    assert {p.name: p.owner for p in config.products}["titan.jobs.invoice_total"] == "money"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[mirror]\nfeeds = ["jobs", "apointments"]\n',
            "nexus.toml:2: mirror: feeds: 'apointments' is not a ServiceTitan feed Nexus knows "
            "— did you mean 'appointments'? `nexus feeds list` shows them",
        ),
        (
            '[mirror]\nfeeds = "everything"\n',
            "nexus.toml:2: mirror: feeds 'everything' is neither \"all\" nor a list — write "
            'feeds = "all" or feeds = ["jobs", "invoices", …]',
        ),
        (
            '[producers.nightly]\nkind = "sync"\nevery = "1h"\n',
            "nexus.toml:1: producers.nightly: a sync producer mirrors its module's feeds, but "
            "'nightly' names no module — name it one of call_sync, customer_sync, "
            "dispatch_sync, equipment_sync, estimate_sync, inventory_sync, invoice_sync, "
            "job_sync, marketing_sync, membership_sync, payroll_sync, pricebook_sync, "
            "rating_sync, service_agreement_sync, settings_sync, timesheet_sync, or list its "
            'feeds: feeds = ["jobs"]',
        ),
        (
            '[producers.job_sync]\nkind = "sync"\nevery = "1h"\nfeed = "invoices"\n',
            "nexus.toml:4: producers.job_sync: feed 'invoices' belongs to invoice_sync, not to "
            "job_sync — remove the key (a sync producer mirrors its module's feeds) or write "
            'feeds = ["invoices"]',
        ),
    ],
    ids=[
        "unknown feed",
        "feeds neither all nor a list",
        "sync producer of no module",
        "feed of another module",
    ],
)
def test_mirror_and_sync_mistakes_get_one_exact_message(text: str, expected: str) -> None:
    with pytest.raises(ConfigFileError) as caught:
        parse_config(text)
    assert str(caught.value) == expected


def test_keys_are_located_inside_inline_tables() -> None:
    text = (
        "producers = {"
        ' job_sync = { kind = "sync", feed = "jobs", every = "15m" },'
        ' invoice_sync = { kind = "sync", feed = "invoices", evry = "15m" } }\n'
    ) + BASE[BASE.index("[[products]]") :]
    with pytest.raises(ConfigFileError) as caught:
        parse_config(text)
    assert str(caught.value) == (
        "nexus.toml:1: producers.invoice_sync: unknown key 'evry' — did you mean 'every'?"
    )
