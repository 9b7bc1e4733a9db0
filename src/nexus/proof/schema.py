"""The proof's JSON Schema, generated from the typed model.

`python -m nexus.proof.schema` rewrites `proof.schema.json`; a test fails when
the file and the model differ.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nexus.proof.model import Proof

SCHEMA_FILE = Path(__file__).with_name("proof.schema.json")


def proof_schema() -> dict[str, Any]:
    schema = Proof.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://nexus.invalid/schemas/proof.schema.json",
        "title": "Nexus Evolution Proof",
        "description": "Whether a tenant's ServiceTitan mirror can be trusted, why not, and what "
        "to do. Printed by `nexus proof --json` and `nexus replay --json`, served at "
        "/proof.json. Generated from nexus.proof.model; do not edit by hand.",
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }


def schema_text() -> str:
    return json.dumps(proof_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.write_text(schema_text())
    print(f"wrote {SCHEMA_FILE.name}")
