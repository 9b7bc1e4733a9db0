"""A replay's client asks ServiceTitan only what it cannot know: `KnownAnswers` over real HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nexus.catalog import FEEDS
from nexus.servicetitan.errors import RetriableAPIError
from nexus.servicetitan.pages import ExportPage
from nexus.simulator import SimServer, Simulator
from nexus.sync.quiet import KnownAnswers
from stsim import TENANT, client_options

JOBS = FEEDS["jobs"]


def known_answers(server: SimServer, sim: Simulator) -> KnownAnswers:
    options = client_options(server, max_attempts=1)
    return KnownAnswers(source=sim.tenant(TENANT), **options)  # type: ignore[arg-type]


def test_a_caught_up_export_is_answered_without_a_request_until_the_feed_changes_or_a_fault(
    server: SimServer, sim: Simulator
) -> None:
    with known_answers(server, sim) as client:
        token = list(client.export_pages(JOBS))[-1].continue_from
        calls = client.api_calls
        assert list(client.export_pages(JOBS, token)) == [ExportPage([], token, False, token)]
        assert client.api_calls == calls, "a caught-up feed was asked again"

        sim.advance(timedelta(days=1))  # the business changes jobs: the client asks
        newer = list(client.export_pages(JOBS, token))
        assert client.api_calls == calls + len(newer)
        assert any(page.data for page in newer)

        token, calls = newer[-1].continue_from, client.api_calls
        sim.tenant(TENANT).faults.outage(status=503)  # caught up, but a fault is on: it asks
        with pytest.raises(RetriableAPIError):
            list(client.export_pages(JOBS, token))
        assert client.api_calls == calls + 1


def test_a_newest_change_is_asked_again_only_once_the_feed_changed(
    server: SimServer, sim: Simulator
) -> None:
    with known_answers(server, sim) as client:
        first = client.newest_change(JOBS)
        calls = client.api_calls
        assert client.newest_change(JOBS) == first
        assert client.api_calls == calls
        sim.advance(timedelta(days=1))
        newer = client.newest_change(JOBS)
        assert client.api_calls == calls + 1
        assert first is not None and newer is not None
        assert newer["modifiedOn"] > first["modifiedOn"]


def test_after_a_revocation_answers_are_known_again_only_once_a_new_token_was_accepted(
    server: SimServer, sim: Simulator
) -> None:
    tenant = sim.tenant(TENANT)
    with known_answers(server, sim) as client:
        client.newest_change(JOBS)  # the client now holds a token
        tenant.faults.token_rejection(revoke_issued=True, until=sim.now() + timedelta(minutes=1))
        sim.advance(timedelta(minutes=2))
        # The rejection is over, but the client's token is revoked: its next call is a 401 and
        # a renewal, which it counts, so nothing may be answered from memory until then.
        assert not tenant.calm()
        calls = client.api_calls
        client.newest_change(JOBS)
        assert client.api_calls == calls + 2
        assert tenant.calm()
