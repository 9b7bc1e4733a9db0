"""The producers table people read: each producer with its products, vitals and schedule."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python

from nexus.registry.config import Config
from nexus.registry.ownership import ownership
from nexus.registry.vitals import ledger, orphans, vitals
from nexus.store.database import Database


def producers_report(db: Database, config: Config, tenant: int, now: datetime) -> dict[str, Any]:
    """Every declared producer with kind, schedule, owned products and vitals; and the orphans."""
    db.ensure_schema()
    with db.connect(autocommit=True) as conn:
        state = ownership(conn, config)
        entries = ledger(conn, tenant, now)
        by_name = {v.producer: v for v in vitals(conn, config, tenant, now, state, entries)}
        orphan_list = orphans(conn, config, tenant, now, state, entries)
    rows = []
    for name, producer in config.producers.items():
        vital = by_name.get(name)
        rows.append(
            {
                "producer": name,
                "kind": producer.kind,
                "enabled": producer.enabled,
                "every_s": int(producer.every.total_seconds()),
                "products": state.owned_by(name),
                "status": vital.status if vital else "disabled",
                "last_success": vital.last_success.isoformat()
                if vital and vital.last_success
                else None,
                "error": vital.error if vital else None,
            }
        )
    return {
        "tenant": tenant,
        "as_of": now.isoformat(),
        "producers": rows,
        "orphans": [to_jsonable_python(o) for o in orphan_list],
    }
