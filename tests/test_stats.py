"""Wilson intervals against published figures, and their properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus.stats import Severity, severity_above, wilson


def test_six_of_eight_is_40_9_to_92_9_percent() -> None:
    r = wilson(6, 8)
    assert round(r.ci_low * 100, 1) == 40.9
    assert round(r.ci_high * 100, 1) == 92.9


def test_hundred_of_124_is_72_8_to_86_6_percent() -> None:
    r = wilson(100, 124)
    assert round(r.ci_low * 100, 1) == 72.8
    assert round(r.ci_high * 100, 1) == 86.6


@given(
    st.integers(min_value=1, max_value=100_000).flatmap(
        lambda n: st.tuples(st.integers(0, n), st.just(n))
    )
)
def test_interval_contains_the_rate_and_stays_in_the_unit_interval(kn: tuple[int, int]) -> None:
    k, n = kn
    r = wilson(k, n)
    assert 0.0 <= r.ci_low <= r.rate <= r.ci_high <= 1.0


@given(st.integers(min_value=2, max_value=5000))
def test_more_data_never_widens_the_interval_at_the_same_rate(n: int) -> None:
    small = wilson(n // 2, n)
    large = wilson((n // 2) * 4, n * 4)
    assert large.ci_high - large.ci_low <= small.ci_high - small.ci_low + 1e-12


@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [
        (6, 8, Severity.INSUFFICIENT_DATA),  # the incident's 8-row alarm
        (100, 124, Severity.CRITICAL),  # the real gap: whole interval above 0.7
        (17, 20, Severity.WARNING),  # 85 % but the interval (64–95 %) straddles 0.7
        (10, 40, Severity.OK),
    ],
)
def test_severity_follows_the_interval_not_the_point(k: int, n: int, expected: Severity) -> None:
    assert severity_above(wilson(k, n), threshold=0.7, min_n=20) is expected


def test_bad_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="k <= n"):
        wilson(5, 4)
