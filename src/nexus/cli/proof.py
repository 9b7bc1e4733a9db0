"""`nexus proof`: the Evolution Proof of a tenant, now."""

from __future__ import annotations

from nexus.cli.common import (
    JsonOption,
    TenantOption,
    _clock,
    _config,
    _database,
    _print_json,
    _tenant,
    friendly,
)
from nexus.cli.console import console


@friendly
def proof(tenant: TenantOption = None, as_json: JsonOption = False) -> None:
    """Show the Evolution Proof: can the mirror's numbers be trusted, why not, what to do."""
    from nexus.proof.render import render
    from nexus.proof.service import current_proof

    config = _config()
    result = current_proof(_database(), config, _tenant(config, tenant), _clock())
    if as_json:
        _print_json(result.to_json())
    else:
        render(result, console)
