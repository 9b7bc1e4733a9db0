"""Export feeds: continuation tokens, latest state, inactive rows, resumption."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from simclient import EXPORTS, START, TENANT, StClient

from nexus.clock import VirtualClock
from nexus.simulator import BusinessConfig, Simulator, Tenant

FEEDS = ("jobs", "invoices", "customers", "estimates")


@pytest.fixture
def small_pages() -> Iterator[tuple[Simulator, StClient]]:
    sim = Simulator(clock=VirtualClock(START), export_page_size=15)
    sim.add_tenant(TENANT, BusinessConfig(seed=21, inactive_share=0.1), history_days=20)
    with sim.serve() as server:
        client = StClient(server)
        yield sim, client
        client.close()


def truth(tenant: Tenant, feed: str) -> dict[int, dict[str, object]]:
    return {
        "jobs": tenant.truth_jobs,
        "invoices": tenant.truth_invoices,
        "customers": tenant.truth_customers,
        "estimates": tenant.truth_estimates,
    }[feed]()


@pytest.mark.parametrize("feed", FEEDS)
def test_following_tokens_yields_every_record_once_in_its_latest_state(
    small_pages: tuple[Simulator, StClient], feed: str
) -> None:
    sim, st = small_pages
    rows, pages, _ = st.export_all(feed)
    assert len(pages) > 2, "the feed should need several pages"
    assert all(len(p["data"]) == 15 for p in pages[:-1])
    assert all(p["hasMore"] for p in pages[:-1]) and not pages[-1]["hasMore"]
    ids = [r["id"] for p in pages for r in p["data"]]
    assert len(ids) == len(set(ids)), "no record repeats while nothing changes"
    expected = truth(sim.tenant(TENANT), feed)
    assert rows == expected
    if feed != "jobs":
        assert any(not r["active"] for r in rows.values()), "inactive rows are exported"


def test_a_token_resumes_with_only_what_changed(small_pages: tuple[Simulator, StClient]) -> None:
    sim, st = small_pages
    mirror, _, token = st.export_all("invoices")
    caught_up = st.ok(EXPORTS["invoices"], **{"from": token})
    assert caught_up["data"] == [] and not caught_up["hasMore"]
    assert caught_up["continueFrom"] == token

    before = sim.now()
    sim.advance(timedelta(days=2))
    changed, _, _ = st.export_all("invoices", start=token)
    assert changed
    assert all(datetime.fromisoformat(r["modifiedOn"]) > before for r in changed.values())
    mirror.update(changed)
    assert mirror == sim.tenant(TENANT).truth_invoices()
    new = set(changed) - set(caught_up["data"])
    assert new, "new invoices were booked in two days"


def test_records_changed_between_pages_come_again_in_their_new_state(
    small_pages: tuple[Simulator, StClient],
) -> None:
    sim, st = small_pages
    first = st.ok(EXPORTS["jobs"])
    sim.advance(timedelta(days=1))
    mirror = {r["id"]: r for r in first["data"]}
    rest, _, _ = st.export_all("jobs", start=first["continueFrom"])
    mirror.update(rest)
    assert mirror == sim.tenant(TENANT).truth_jobs()


def test_a_date_starts_the_export_at_that_modification_time(
    small_pages: tuple[Simulator, StClient],
) -> None:
    sim, st = small_pages
    since = START - timedelta(days=3)
    rows, _, _ = st.export_all("jobs", start=since.strftime("%Y-%m-%dT%H:%M:%S"))
    expected = {
        i: r
        for i, r in sim.tenant(TENANT).truth_jobs().items()
        if datetime.fromisoformat(r["modifiedOn"]) >= since
    }
    assert rows == expected
    everything, _, _ = st.export_all("jobs", start="2000-01-01")
    assert everything == sim.tenant(TENANT).truth_jobs()


def test_both_estimate_export_paths_serve_the_same_feed(
    small_pages: tuple[Simulator, StClient],
) -> None:
    _, st = small_pages
    one = st.ok(f"/sales/v2/tenant/{TENANT}/estimates/export", includeRecentChanges="true")
    two = st.ok(f"/sales/v2/tenant/{TENANT}/export/estimates")
    assert one == two
    token = {"from": two["continueFrom"]}
    following = st.ok(f"/sales/v2/tenant/{TENANT}/estimates/export", **token)
    assert following["data"]
    assert following == st.ok(f"/sales/v2/tenant/{TENANT}/export/estimates", **token)


@pytest.mark.parametrize(
    "token",
    ["garbage", "eyJ2IjoxfQ", "not a date or token"],
)
def test_a_bad_token_is_a_400(small_pages: tuple[Simulator, StClient], token: str) -> None:
    _, st = small_pages
    response = st.get(EXPORTS["jobs"], **{"from": token})
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400 and "from" in body["errors"]


def test_a_token_only_works_for_the_feed_and_tenant_it_came_from(
    small_pages: tuple[Simulator, StClient],
) -> None:
    sim, st = small_pages
    token = st.ok(EXPORTS["jobs"])["continueFrom"]
    assert st.get(EXPORTS["invoices"], **{"from": token}).status_code == 400
    sim.add_tenant(TENANT + 1, BusinessConfig(seed=21), history_days=5)
    other = f"/jpm/v2/tenant/{TENANT + 1}/export/jobs"
    assert st.get(other, **{"from": token}).status_code == 400


def test_tokens_are_opaque_but_deterministic() -> None:
    def tokens() -> list[str]:
        sim = Simulator(clock=VirtualClock(START), export_page_size=100)
        tenant = sim.add_tenant(TENANT, BusinessConfig(seed=2), history_days=10)
        out, token = [], None
        while True:
            page = tenant.export_page("invoices", token, 100)
            token = page["continueFrom"]
            out.append(token)
            if not page["hasMore"]:
                return out

    assert tokens() == tokens()
