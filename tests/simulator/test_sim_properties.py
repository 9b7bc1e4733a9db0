"""Properties of export feeds that must hold for any page size and any clock movement."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from simclient import START, TENANT

from nexus.clock import VirtualClock
from nexus.simulator import BusinessConfig, Simulator
from nexus.simulator.feedlog import BadToken, decode_token, encode_token

FEEDS = ("jobs", "invoices", "customers", "estimates")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    feed=st.sampled_from(FEEDS),
    page_size=st.integers(min_value=1, max_value=60),
    # minutes the clock moves before each page is fetched
    moves=st.lists(st.integers(min_value=0, max_value=3 * 24 * 60), max_size=12),
    drop=st.sampled_from([0.0, 0.0, 0.3]),
)
def test_an_export_mirror_converges_to_the_truth(
    feed: str, page_size: int, moves: list[int], drop: float
) -> None:
    sim = Simulator(clock=VirtualClock(START))
    tenant = sim.add_tenant(TENANT, BusinessConfig(seed=13, inactive_share=0.1), history_days=6)
    if drop:
        tenant.faults.drop_export_share({feed: drop})
    mirror: dict[int, dict[str, object]] = {}
    token = None
    for minutes in [*moves, 0]:
        sim.advance(timedelta(minutes=minutes))
        while True:
            page = tenant.export_page(feed, token, page_size)
            assert len(page["data"]) <= page_size
            mirror.update((r["id"], r) for r in page["data"])
            token = page["continueFrom"]
            if not page["hasMore"]:
                break
    truth = {
        "jobs": tenant.truth_jobs,
        "invoices": tenant.truth_invoices,
        "customers": tenant.truth_customers,
        "estimates": tenant.truth_estimates,
    }[feed]()
    if drop:
        assert set(mirror) <= set(truth)
        assert all(
            truth[i] == r or r["modifiedOn"] <= truth[i]["modifiedOn"] for i, r in mirror.items()
        )
    else:
        assert mirror == truth


@given(position=st.integers(min_value=0, max_value=10**9), feed=st.sampled_from(FEEDS))
def test_tokens_round_trip(position: int, feed: str) -> None:
    token = encode_token(TENANT, feed, position)
    assert decode_token(token, TENANT, feed, 10**9) == position


@given(text=st.text(max_size=80))
def test_any_string_is_a_token_or_a_clean_refusal(text: str) -> None:
    try:
        position = decode_token(text, TENANT, "jobs", 1000)
    except BadToken:
        return
    assert 0 <= position <= 1000
