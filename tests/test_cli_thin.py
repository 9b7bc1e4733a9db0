"""The commands stay thin skins: each parses its options, calls one core function and prints.

Logic that grows past that belongs in the core module of its concept, where
the web and the worker can call it too; this test says which command grew.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import typer.main

from nexus.cli import app

#: The longest body a command may have, in lines (its signature and docstring left out).
LIMIT = 25


def body_lines(source: str) -> int:
    """How many lines the body of the function in `source` spans, without its docstring."""
    function = ast.parse(textwrap.dedent(source)).body[0]
    assert isinstance(function, ast.FunctionDef), source
    body = function.body
    if ast.get_docstring(function) is not None:
        body = body[1:]
    return body[-1].end_lineno - body[0].lineno + 1 if body else 0  # type: ignore[operator]


def callbacks(command: Any, path: str = "nexus") -> Iterator[tuple[str, Callable[..., Any]]]:
    """Every function the app runs for a command or a group, as Nexus wrote it (unwrapped)."""
    if command.callback is not None:
        yield path, inspect.unwrap(command.callback)
    for name, sub in getattr(command, "commands", {}).items():
        yield from callbacks(sub, f"{path} {name}")


def test_every_command_is_a_thin_skin_over_one_core_call() -> None:
    found = list(callbacks(typer.main.get_command(app)))
    assert len(found) > 30  # every leaf command, and the callbacks of the root and some groups
    outside = [path for path, func in found if not func.__module__.startswith("nexus.cli")]
    assert not outside, f"commands defined outside the nexus.cli package: {outside}"
    long = {
        f"{path} ({func.__module__}.{func.__name__})": n
        for path, func in found
        if (n := body_lines(inspect.getsource(func))) > LIMIT
    }
    assert not long, (
        f"these commands are longer than {LIMIT} lines: {long} — move their logic into a "
        "named function of the core module of their concept and call that"
    )


def test_the_count_is_of_the_body_alone() -> None:
    statements = "\n".join(f"    x{i} = {i}" for i in range(LIMIT + 1))
    source = f'def long(\n    a: int,\n    b: int,\n) -> None:\n    """Docs."""\n{statements}\n'
    assert body_lines(source) == LIMIT + 1
    assert body_lines('def short() -> None:\n    """Only docs."""\n') == 0
    assert body_lines("    def nested() -> None:\n        pass\n") == 1
