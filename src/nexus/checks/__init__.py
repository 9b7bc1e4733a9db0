"""The checks of the Evolution Proof, one module each, run in this order by `build_proof`."""

from __future__ import annotations

from collections.abc import Callable

from nexus.checks import (
    by_technician,
    coverage,
    freshness,
    losses,
    modules,
    quarantine,
    revenue,
    volume,
)
from nexus.checks.inputs import CheckInputs, CheckResult

Check = Callable[[CheckInputs], CheckResult]

#: Every check; each reads its own `[checks.<section>]` of nexus.toml, where it has one.
CHECKS: tuple[Check, ...] = (
    coverage.check,
    # after coverage: when both carry the same cause, the tenant-wide gap leads the group
    by_technician.check,
    # before freshness: a feed waiting before held writes is stale because of them, and the
    # first alert of a group gives the group its cause
    quarantine.check,
    freshness.check,
    volume.check,
    revenue.check,
    modules.check,
    losses.check,
)
