"""Who owns each data product, and retiring or restoring producers safely.

Ownership starts from nexus.toml and is then changed only by recorded
decisions: a hand-over moves a product to another producer, `--retire-product`
retires it with its producer. Retiring a producer that still owns a product
nobody else covers is refused — that is how, in the incident behind Nexus, two
of a script's three jobs were silently orphaned for five days.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from nexus import times
from nexus.errors import NexusError
from nexus.registry.model import RegistryConfig
from nexus.registry.timeline import record_event
from nexus.store.connection import Connection


class RegistryError(NexusError):
    """A retirement or restoration that cannot be done as asked."""


class RetirementRefused(RegistryError):
    """The producer still owns products that nobody else covers."""

    def __init__(self, producer: str, uncovered: list[str], others: list[str]) -> None:
        self.producer = producer
        self.uncovered = uncovered
        lines = [
            f"refusing to retire {producer}: it still owns {len(uncovered)} product(s)"
            " that no other producer covers:"
        ]
        lines += [f"  - {product}" for product in uncovered]
        example = others[0] if others else "OTHER"
        lines.append(
            "Resolve each one with --hand-over PRODUCT=OTHER (e.g. --hand-over "
            f"{uncovered[0]}={example}) or --retire-product PRODUCT, "
            "or pass --force to retire anyway and leave them orphaned."
        )
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Ownership:
    """The effective registry: owners after hand-overs, retired producers and products."""

    owners: dict[str, str]  # product → owning producer (retired products excluded)
    retired_producers: dict[str, datetime]  # producer → retired since
    retired_products: set[str]
    declared: set[str]  # producers in the configuration

    def owned_by(self, producer: str) -> list[str]:
        return sorted(p for p, owner in self.owners.items() if owner == producer)


@dataclass(frozen=True)
class RetiredProducer:
    """A producer's retirement as it stands: since when, why, whether it was forced."""

    since: datetime
    reason: str
    forced: bool
    event_id: int


@dataclass
class Retirement:
    producer: str
    event_id: int
    forced: bool
    handed_over: dict[str, str] = field(default_factory=dict)
    retired_products: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)


def ownership(conn: Connection, config: RegistryConfig) -> Ownership:
    owners = {p.name: p.owner for p in config.products}
    retired_products: set[str] = set()
    for product, owner, retired in conn.execute(
        "SELECT product, owner, retired FROM nexus.product_owners"
    ):
        if retired:
            owners.pop(product, None)
            retired_products.add(product)
        elif owner is not None:
            owners[product] = owner
    retired = dict(conn.execute("SELECT producer, since FROM nexus.retired_producers").fetchall())
    return Ownership(owners, retired, retired_products, set(config.producers))


def retirement_of(conn: Connection, producer: str) -> RetiredProducer | None:
    """The producer's retirement, or None while it is not retired."""
    row = conn.execute(
        "SELECT since, reason, forced, event_id FROM nexus.retired_producers WHERE producer = %s",
        (producer,),
    ).fetchone()
    return None if row is None else RetiredProducer(*row)


def retire(
    conn: Connection,
    config: RegistryConfig,
    producer: str,
    *,
    reason: str,
    actor: str,
    now: datetime,
    hand_over: Mapping[str, str] | None = None,
    retire_products: Iterable[str] = (),
    force: bool = False,
) -> Retirement:
    """Retire `producer`, or raise `RetirementRefused` listing what it would orphan."""
    hand_over = dict(hand_over or {})
    to_retire = sorted(set(retire_products))
    with conn.transaction():
        state = ownership(conn, config)
        if producer not in state.declared:
            raise RegistryError(
                f"no producer named '{producer}' in the configuration; declared: "
                + ", ".join(sorted(state.declared))
            )
        if producer in state.retired_producers:
            raise RegistryError(
                f"{producer} is already retired (since "
                f"{times.local(state.retired_producers[producer], config.zone())}); "
                f"`nexus producers restore {producer}` brings it back."
            )
        owned = state.owned_by(producer)
        _check_resolutions(producer, owned, hand_over, to_retire, state)
        uncovered = [p for p in owned if p not in hand_over and p not in to_retire]
        live_others = sorted(state.declared - set(state.retired_producers) - {producer})
        if uncovered and not force:
            raise RetirementRefused(producer, uncovered, live_others)

        kind = "producer_retired_forced" if uncovered else "producer_retired"
        event_id = record_event(
            conn,
            at=now,
            kind=kind,
            actor=actor,
            producer=producer,
            reason=reason,
            detail={"orphaned": uncovered, "handed_over": hand_over, "retired_products": to_retire},
        )
        conn.execute(
            "INSERT INTO nexus.retired_producers (producer, since, reason, forced, event_id)"
            " VALUES (%s, %s, %s, %s, %s)",
            (producer, now, reason, bool(uncovered), event_id),
        )
        for product, other in sorted(hand_over.items()):
            eid = record_event(
                conn,
                at=now,
                kind="product_handed_over",
                actor=actor,
                producer=other,
                product=product,
                reason=reason,
                detail={"from": producer, "to": other},
            )
            _set_owner(
                conn, product, owner=other, retired=False, previous=producer, now=now, event=eid
            )
        for product in to_retire:
            eid = record_event(
                conn,
                at=now,
                kind="product_retired",
                actor=actor,
                producer=producer,
                product=product,
                reason=reason,
            )
            _set_owner(
                conn, product, owner=None, retired=True, previous=producer, now=now, event=eid
            )
        for product in uncovered:
            record_event(
                conn,
                at=now,
                kind="product_orphaned",
                actor=actor,
                producer=producer,
                product=product,
                reason=reason,
                detail={"retired_with": producer, "forced": True},
            )
    return Retirement(producer, event_id, bool(uncovered), hand_over, to_retire, uncovered)


def hand_over(
    conn: Connection,
    config: RegistryConfig,
    product: str,
    to: str,
    *,
    actor: str,
    now: datetime,
    reason: str = "",
) -> str:
    """Give `product` to producer `to`, e.g. a retired producer's orphan; return the old owner."""
    with conn.transaction():
        state = ownership(conn, config)
        if product not in state.owners:
            known = ", ".join(sorted(state.owners)) or "none"
            raise RegistryError(f"no active product named '{product}'; products: {known}")
        if to not in state.declared:
            raise RegistryError(f"no producer named '{to}' in the configuration")
        if to in state.retired_producers:
            raise RegistryError(f"{to} is retired; restore it first or choose a live producer")
        previous = state.owners[product]
        if previous == to:
            raise RegistryError(f"{to} already owns {product}")
        eid = record_event(
            conn,
            at=now,
            kind="product_handed_over",
            actor=actor,
            producer=to,
            product=product,
            reason=reason or None,
            detail={"from": previous, "to": to},
        )
        _set_owner(conn, product, owner=to, retired=False, previous=previous, now=now, event=eid)
        return previous


def restore(
    conn: Connection,
    config: RegistryConfig,
    producer: str,
    *,
    actor: str,
    now: datetime,
    reason: str = "",
) -> list[str]:
    """Bring a retired producer back with the products retired or orphaned with it.

    Products handed over to another producer stay with their new owner: someone
    took responsibility for them. Returns the products it owns again.
    """
    with conn.transaction():
        state = ownership(conn, config)
        if producer not in state.retired_producers:
            raise RegistryError(f"{producer} is not retired; nothing to restore.")
        if producer not in state.declared:
            raise RegistryError(
                f"{producer} is no longer declared in the configuration; "
                f"add [producers.{producer}] back before restoring it."
            )
        brought_back = [
            r[0]
            for r in conn.execute(
                "DELETE FROM nexus.product_owners WHERE retired AND previous_owner = %s"
                " RETURNING product",
                (producer,),
            )
        ]
        conn.execute("DELETE FROM nexus.retired_producers WHERE producer = %s", (producer,))
        record_event(
            conn,
            at=now,
            kind="producer_restored",
            actor=actor,
            producer=producer,
            reason=reason or None,
            detail={"products_restored": sorted(brought_back)},
        )
        return ownership(conn, config).owned_by(producer)


def _check_resolutions(
    producer: str,
    owned: list[str],
    hand_over: Mapping[str, str],
    to_retire: list[str],
    state: Ownership,
) -> None:
    problems = []
    for product, other in hand_over.items():
        if product not in owned:
            problems.append(f"--hand-over {product}={other}: {producer} does not own {product}")
        elif other == producer:
            problems.append(f"--hand-over {product}={other}: cannot hand a product to itself")
        elif other not in state.declared:
            problems.append(f"--hand-over {product}={other}: no producer named '{other}'")
        elif other in state.retired_producers:
            problems.append(f"--hand-over {product}={other}: {other} is retired")
    for product in to_retire:
        if product not in owned:
            problems.append(f"--retire-product {product}: {producer} does not own {product}")
        if product in hand_over:
            problems.append(f"{product} is both handed over and retired; choose one")
    if problems:
        owned_text = ", ".join(owned) or "nothing"
        raise RegistryError("\n".join([*problems, f"{producer} owns: {owned_text}"]))


def _set_owner(
    conn: Connection,
    product: str,
    *,
    owner: str | None,
    retired: bool,
    previous: str,
    now: datetime,
    event: int,
) -> None:
    conn.execute(
        "INSERT INTO nexus.product_owners"
        " (product, owner, retired, previous_owner, since, event_id)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (product) DO UPDATE SET"
        " owner = EXCLUDED.owner, retired = EXCLUDED.retired,"
        " previous_owner = EXCLUDED.previous_owner, since = EXCLUDED.since,"
        " event_id = EXCLUDED.event_id",
        (product, owner, retired, previous, now, event),
    )
