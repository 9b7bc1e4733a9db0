"""The client-side rate limiter, on a fake clock and across real threads."""

from __future__ import annotations

import threading
import time

import pytest
from stfake import Canned, FakeClock, FakeST, MakeClient

from nexus.servicetitan import RateLimiter


def test_100_acquisitions_at_20_per_second_take_4_95_virtual_seconds() -> None:
    clock = FakeClock()
    limiter = RateLimiter(20, monotonic=clock.monotonic, sleep=clock.sleep)
    start = clock.now
    for _ in range(100):
        limiter.acquire()
    assert clock.now - start >= 4.95
    assert clock.now - start == pytest.approx(4.95)


def test_first_call_does_not_wait_and_idle_time_is_not_banked() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, monotonic=clock.monotonic, sleep=clock.sleep)
    assert limiter.acquire() == 0
    clock.now += 60  # a long pause must not allow a burst afterwards
    waits = [limiter.acquire() for _ in range(3)]
    assert waits == pytest.approx([0, 0.1, 0.1])


def test_threads_share_one_limit() -> None:
    limiter = RateLimiter(400)
    start = time.monotonic()

    def work() -> None:
        for _ in range(25):
            limiter.acquire()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - start >= 99 / 400


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(0)


def test_client_passes_every_api_call_through_the_limiter(
    fake: FakeST, make_client: MakeClient
) -> None:
    path = "/jpm/v2/tenant/1001/ping"
    fake.always(path, Canned(json={}))
    clock = FakeClock()
    client = make_client(limiter=RateLimiter(20, monotonic=clock.monotonic, sleep=clock.sleep))
    start = clock.now
    for _ in range(10):
        client.get_json(path, {})
    assert clock.now - start == pytest.approx(9 / 20)
    assert len(fake.api_requests(path)) == 10
