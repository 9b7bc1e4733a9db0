"""Lines of tables, keys and array elements, found in the TOML source."""

from __future__ import annotations

import tomllib

from nexus.registry.config import default_config_text
from nexus.registry.toml_lines import Key, key_lines, line_of

TRICKY = '''\
top = 1  # a comment with "quotes" and [brackets]
[producers.job_sync]
kind = "sync" # k
desc = """two
lines with a fake
key = "value" inside"""
[producers."odd.name"]
x = [1,
  {a = 1, b = [2, 3]},
  "s#" ]
[[products]]
name = "a"
[[products]]
name = 'b'
[products.sub]
k = 1
[[products]]
"q".r = 2
lit = \'\'\'x
y\'\'\'
after = 3
'''


def _paths(value: object, path: Key = ()) -> list[Key]:
    found: list[Key] = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def test_tricky_document_lines() -> None:
    lines = key_lines(TRICKY)
    assert lines[("top",)] == 1
    assert lines[("producers", "job_sync", "desc")] == 4
    assert lines[("producers", "odd.name")] == 7
    assert lines[("producers", "odd.name", "x", 1, "b")] == 9
    assert lines[("producers", "odd.name", "x", 2)] == 10
    assert lines[("products", 1)] == 13
    assert lines[("products", 1, "sub", "k")] == 16
    assert lines[("products", 2, "q", "r")] == 18
    assert lines[("products", 2, "after")] == 21
    assert ("producers", "job_sync", "key") not in lines


def test_every_value_of_the_default_file_has_a_line() -> None:
    text = default_config_text()
    lines = key_lines(text)
    source = text.splitlines()
    for path in _paths(tomllib.loads(text)):
        assert path in lines, path
        if isinstance(path[-1], str):
            assert path[-1] in source[lines[path] - 1], path


def test_line_of_falls_back_to_the_nearest_table() -> None:
    lines = key_lines(TRICKY)
    assert line_of(lines, ("products", 1, "missing")) == 13
    assert line_of(lines, ("nothing",)) is None
