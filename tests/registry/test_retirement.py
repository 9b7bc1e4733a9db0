"""Retiring a producer can no longer orphan a data product silently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli import nexus
from nexus.registry.config import parse_config
from nexus.registry.ownership import RetirementRefused, ownership, restore, retire
from nexus.registry.run_ledger import record_outside_run
from nexus.registry.timeline import events
from nexus.registry.vitals import orphans, vitals
from nexus.store.database import Database
from wallclock import wall

T0 = datetime(2026, 4, 12, tzinfo=UTC)
# Five feeds keep these cases small: invoice_sync then owns one table and the derived column.
CONFIG = parse_config(
    '[mirror]\nfeeds = ["jobs", "invoices", "customers", "estimates", "job_types"]\n'
)
#: what invoice_sync owns with the default feeds
INVOICE_SYNC_DEFAULT = {
    "titan.invoices",
    "titan.invoice_items",
    "titan.payments",
    "titan.payment_types",
    "titan.jobs.invoice_total",
}


def test_retiring_invoice_sync_without_hand_over_is_refused_and_names_its_products(
    db: Database, tmp_path: Path
) -> None:
    result = nexus(
        "producers",
        "retire",
        "invoice_sync",
        "--reason",
        "caused a phantom write",
        db_url=db.url,
        home=tmp_path,
    )
    assert result.code == 1
    assert "refusing to retire invoice_sync" in result.err
    assert "  - titan.invoices" in result.err
    assert "  - titan.jobs.invoice_total" in result.err
    assert "--hand-over" in result.err and "--retire-product" in result.err
    with db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM nexus.retired_producers").fetchone()[0] == 0  # type: ignore[index]


def test_forced_retirement_lists_the_orphans_since_that_moment(
    db: Database, tmp_path: Path
) -> None:
    forced = nexus(
        "producers",
        "retire",
        "invoice_sync",
        "--reason",
        "quarantined script",
        "--force",
        db_url=db.url,
        home=tmp_path,
        env={"NEXUS_ACTOR": "robert"},
    )
    assert forced.code == 0, forced.err
    assert "titan.jobs.invoice_total is now orphaned" in forced.out
    listed = nexus("producers", "list", "--json", db_url=db.url, home=tmp_path)
    assert listed.code == 0, listed.err
    report = listed.json()
    # Producers this test never ran own nothing live yet either; the retirement orphaned these:
    orphaned = {o["product"]: o for o in report["orphans"] if o["why"] == "producer_retired"}
    assert set(orphaned) == INVOICE_SYNC_DEFAULT
    with db.connect() as conn:
        retired_at = conn.execute("SELECT since FROM nexus.retired_producers").fetchone()[0]  # type: ignore[index]
        kinds = [r[0] for r in conn.execute("SELECT kind FROM nexus.events ORDER BY id")]
        actor = conn.execute("SELECT actor FROM nexus.events LIMIT 1").fetchone()[0]  # type: ignore[index]
    for orphan in orphaned.values():
        assert orphan["last_producer"] == "invoice_sync"
        assert orphan["why"] == "producer_retired"
        assert datetime.fromisoformat(orphan["since"]) == retired_at
    assert kinds == ["producer_retired_forced", *["product_orphaned"] * len(INVOICE_SYNC_DEFAULT)]
    assert actor == "robert"
    status = {p["producer"]: p["status"] for p in report["producers"]}
    assert status["invoice_sync"] == "retired"


@pytest.mark.parametrize(
    ("tenants", "zone"),
    [
        ('[[tenants]]\nid = 1001\ntimezone = "Asia/Kolkata"\n', "Asia/Kolkata"),
        # Retirement is the installation's, not one tenant's: with several, it reads in UTC.
        (
            '[[tenants]]\nid = 1001\ntimezone = "Asia/Kolkata"\n'
            '[[tenants]]\nid = 2002\ntimezone = "America/New_York"\n',
            "UTC",
        ),
    ],
)
def test_a_retirement_and_its_orphans_read_on_the_wall_clock_of_the_tenants_zone(
    db: Database, tmp_path: Path, tenants: str, zone: str
) -> None:
    config = tmp_path / "nexus.toml"
    config.write_text(tenants)
    env = {"NEXUS_CONFIG": str(config)}
    args = ("producers", "retire", "invoice_sync", "--reason", "quarantined script", "--force")
    assert nexus(*args, db_url=db.url, home=tmp_path, env=env).code == 0
    with db.connect() as conn:
        retired_at = conn.execute("SELECT since FROM nexus.retired_producers").fetchone()[0]  # type: ignore[index]
    again = nexus(*args, db_url=db.url, home=tmp_path, env=env)
    assert again.code == 1
    assert (
        f"invoice_sync is already retired (since {wall(retired_at, zone)}); "
        "`nexus producers restore invoice_sync` brings it back." in again.err
    )
    # The producers of tenant 1001, with its orphans since then, on its own clock.
    listed = nexus("producers", "list", db_url=db.url, home=tmp_path, env=env)
    assert listed.code == 0, listed.err
    orphaned = [line for line in listed.out.splitlines() if "producer_retired" in line]
    since = wall(retired_at, "Asia/Kolkata")
    assert len(orphaned) == len(INVOICE_SYNC_DEFAULT) and all(
        line.endswith(f"since {ago(retired_at)} ({since}))") for line in orphaned
    )


def ago(at: datetime) -> str:
    """How long ago `at` was as the command said it a moment later: seconds are "just now"."""
    seconds = (datetime.now(UTC) - at).total_seconds()
    return "just now" if seconds < 60 else f"{int(seconds // 60)} min ago"


def test_hand_over_and_retire_product_resolve_every_product(db: Database) -> None:
    with db.connect(autocommit=True) as conn:
        done = retire(
            conn,
            CONFIG,
            "invoice_sync",
            reason="moving to the new daemon",
            actor="ops",
            now=T0,
            hand_over={"titan.jobs.invoice_total": "job_sync"},
            retire_products=["titan.invoices"],
        )
        assert not done.forced and done.orphaned == []
        state = ownership(conn, CONFIG)
        assert state.owners["titan.jobs.invoice_total"] == "job_sync"
        assert "titan.invoices" not in state.owners
        # Nothing ran in this test, so every product waits for its first run; none is retired.
        assert {o.why for o in orphans(conn, CONFIG, 1001, T0)} == {"producer_never_ran"}


def test_restore_brings_the_producer_back_with_its_products(db: Database) -> None:
    with db.connect(autocommit=True) as conn:
        retire(
            conn,
            CONFIG,
            "invoice_sync",
            reason="r",
            actor="ops",
            now=T0,
            retire_products=["titan.invoices"],
            force=True,
        )
        owned = restore(conn, CONFIG, "invoice_sync", actor="ops", now=T0 + timedelta(days=1))
        assert owned == ["titan.invoices", "titan.jobs.invoice_total"]
        # invoice_sync owns them again; until its first run they wait for it, not for a person.
        left = orphans(conn, CONFIG, 1001, T0 + timedelta(days=1))
        assert {o.why for o in left} == {"producer_never_ran"}
        kinds = [e.kind for e in events(conn)]
        assert kinds[0] == "producer_restored"


@pytest.mark.parametrize(
    ("hand_over", "message"),
    [
        ({"titan.jobs": "job_sync"}, "invoice_sync does not own titan.jobs"),
        ({"titan.invoices": "nobody"}, "no producer named 'nobody'"),
        ({"titan.invoices": "invoice_sync"}, "cannot hand a product to itself"),
    ],
)
def test_bad_hand_overs_are_refused_and_change_nothing(
    db: Database, hand_over: dict[str, str], message: str
) -> None:
    with db.connect(autocommit=True) as conn:
        with pytest.raises(Exception, match=message):
            retire(
                conn, CONFIG, "invoice_sync", reason="r", actor="ops", now=T0, hand_over=hand_over
            )
        assert events(conn) == []


def test_vitals_come_from_the_run_ledger(db: Database) -> None:
    now = T0 + timedelta(hours=3)
    with db.connect(autocommit=True) as conn:
        record_outside_run(conn, 1001, "job_sync", now - timedelta(minutes=5))
        record_outside_run(conn, 1001, "invoice_sync", now - timedelta(hours=2))
        record_outside_run(conn, 1001, "customer_sync", now - timedelta(minutes=20))
        record_outside_run(conn, 1001, "customer_sync", now - timedelta(minutes=5), error="boom")
        status = {v.producer: (v.status, v.error) for v in vitals(conn, CONFIG, 1001, now)}
        assert status["job_sync"] == ("alive", None)
        assert status["invoice_sync"] == ("late", None)  # 2 h > 2 × 15 min
        assert status["customer_sync"] == ("failing", "boom")
        assert status["estimate_sync"] == ("never_ran", None)
        with pytest.raises(RetirementRefused):
            retire(conn, CONFIG, "estimate_sync", reason="r", actor="ops", now=now)
        # A late or failing producer is still an owner: only the one that never ran leaves
        # its products without one.
        orphaned = {o.product: o for o in orphans(conn, CONFIG, 1001, now)}
        assert set(orphaned) == {"titan.estimates"}
        assert orphaned["titan.estimates"].why == "producer_never_ran"
