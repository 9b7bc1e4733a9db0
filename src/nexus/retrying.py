"""Retry policies that cost nothing until the first failure.

Most calls succeed at once: a replay asks ServiceTitan and the database tens of
thousands of times without a single retry. Building a tenacity `Retrying` for
each call (its state, an outcome future with its lock and condition per attempt)
cost more than some of the calls themselves, so callers try once first and hand
a failure to `retried_after`, which goes on with the policy exactly as if its own
first attempt had just failed: the same waits, attempt numbers, logs and stop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import Retrying

T = TypeVar("T")


def retried_after(failure: BaseException, retrying: Retrying, work: Callable[[], T]) -> T:
    """Go on with `retrying` over `work` as if its first attempt had raised `failure`.

    Call it with the exception of a first call of `work` that the policy retries.
    """
    pending = [failure]

    def attempt() -> T:
        if pending:
            raise pending.pop()
        return work()

    return retrying(attempt)
