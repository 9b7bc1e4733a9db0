"""psycopg's errors stop at the store: nothing above `nexus.store` catches or suppresses them."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "nexus"


def _names_psycopg(node: ast.AST | None) -> bool:
    return node is not None and any(
        isinstance(n, ast.Name) and n.id == "psycopg" for n in ast.walk(node)
    )


def test_no_module_above_the_store_catches_psycopg_errors() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if (SRC / "store") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            caught = isinstance(node, ast.ExceptHandler) and _names_psycopg(node.type)
            suppressed = (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "suppress"
                and any(_names_psycopg(arg) for arg in node.args)
            )
            if caught or suppressed:
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")  # type: ignore[attr-defined]
    assert offenders == [], "translate at the store boundary instead: " + ", ".join(offenders)
