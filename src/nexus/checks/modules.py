"""Action modules: the outside producers Nexus only watches, and how many keep their output fresh.

A census, not a sample: every declared outside producer's products, each
fresh or not by its own measure (the database, or a file's mtime).
"""

from __future__ import annotations

from typing import Literal

from nexus.checks.alert import NONE_FOUND, Alert, Measurement, Model, questions
from nexus.checks.freshness import by_product, is_fresh
from nexus.checks.inputs import CheckInputs, CheckResult
from nexus.stats import wilson


class ModuleProduct(Model):
    producer: str
    product: str
    fresh: bool
    measured_by: Literal["db", "file_mtime"]


class ActionModules(Model):
    declared: int
    fresh: int
    share: float | None
    breakdown: tuple[ModuleProduct, ...]


class ModulesResult(CheckResult):
    action_modules: ActionModules


def check(inputs: CheckInputs) -> ModulesResult:
    config = inputs.config
    outside = {name for name, p in config.producers.items() if p.kind == "external" and p.enabled}
    measured = by_product(inputs.freshness)
    breakdown = tuple(
        ModuleProduct(
            producer=p.owner,
            product=p.name,
            fresh=is_fresh(measured.get(p.name, [])),
            measured_by=p.measured_by,
        )
        for p in config.products
        if p.owner in outside
    )
    fresh = sum(1 for b in breakdown if b.fresh)
    rate = wilson(fresh, len(breakdown)) if breakdown else None
    modules = ActionModules(
        declared=len(breakdown),
        fresh=fresh,
        share=None if rate is None else round(rate.rate, 4),
        breakdown=breakdown,
    )
    stale = tuple(b.product for b in breakdown if not b.fresh)
    if not stale:
        return ModulesResult(action_modules=modules)
    alert = Alert(
        check="action_modules",
        severity="warning",
        status="warning",
        label="Outside producers with fresh output",
        product=None,
        measurement=Measurement(
            counts="declared outside producers whose products are fresh",
            n=modules.declared,
            k=modules.fresh,
            rate=modules.share,
            stale=stale,
        ),
        questions=questions(inputs.db_fresh, None, "a census, not a sample", NONE_FOUND),
    )
    return ModulesResult(alerts=(alert,), action_modules=modules)
