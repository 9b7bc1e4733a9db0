"""The proof's contract is its typed model: the schema file is generated from it, and every
setting nexus.toml declares is read by some code."""

from __future__ import annotations

import ast
import json
import types
import typing
from pathlib import Path

from pydantic import BaseModel

from nexus.checks import CHECKS
from nexus.proof.model import Proof
from nexus.proof.schema import SCHEMA_FILE, proof_schema
from nexus.registry.config import Config

SRC = Path(__file__).parents[2] / "src" / "nexus"


def test_the_published_schema_is_generated_from_the_model() -> None:
    published = json.loads(SCHEMA_FILE.read_text())
    assert published == proof_schema(), (
        "proof.schema.json differs from nexus.proof.model: run `python -m nexus.proof.schema`"
    )


def test_every_check_fills_only_sections_the_proof_declares() -> None:
    fields = set(Proof.model_fields)
    for check in CHECKS:
        result_type = typing.get_type_hints(check)["return"]
        filled = set(result_type.model_fields) - {"alerts"}
        assert filled <= fields, (check.__module__, filled - fields)


def _sections(model: type[BaseModel]) -> dict[type[BaseModel], list[str]]:
    """Every model reachable from `model` through its fields, with its field names."""
    found: dict[type[BaseModel], list[str]] = {}

    def visit(kind: object) -> None:
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            if kind in found:
                return
            found[kind] = list(kind.model_fields)
            for field in kind.model_fields.values():
                visit(field.annotation)
        for arg in typing.get_args(kind) if not isinstance(kind, types.NoneType) else ():
            visit(arg)

    visit(model)
    return found


def _attributes_read(skip: Path) -> set[str]:
    names: set[str] = set()
    for path in SRC.rglob("*.py"):
        if path == skip or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
    return names


def test_every_setting_of_nexus_toml_is_read_by_some_code() -> None:
    """A setting that is declared, documented and validated but read by nothing is a lie."""
    read = _attributes_read(skip=SRC / "registry" / "config.py")
    unread = [
        f"{section.__name__}.{name}"
        for section, names in _sections(Config).items()
        for name in names
        if name not in read and name != "source_path"
    ]
    assert unread == [], f"declared in nexus.toml but read by no code: {unread}"
