"""ServiceTitan's own OpenAPI documents, read as the catalog needs them.

`openapi/` holds the 24 v2 documents exactly as ServiceTitan publishes them.
This module loads one on first use, follows `$ref`s, and answers the few
questions the catalog asks: a document's base path, whether it serves a path,
which query parameters a path takes, and the schema of one record a path
returns (the items of `data` for export and list envelopes).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import orjson

Schema = dict[str, Any]

#: The documents shipped in the package, by name (`jpm-v2`, `accounting-v2`, …).
DOCUMENTS = "openapi"


class SpecError(LookupError):
    """A feed declaration names something its ServiceTitan document does not have."""


@cache
def document(name: str) -> Schema:
    """The parsed document `name` (e.g. `jpm-v2`)."""
    files = resources.files("nexus.catalog").joinpath(DOCUMENTS)
    path = files.joinpath(f"{name}.json")
    if not path.is_file():
        known = sorted(p.name.removesuffix(".json") for p in files.iterdir())
        raise SpecError(f"no ServiceTitan document '{name}': known are {', '.join(known)}")
    loaded: Schema = orjson.loads(path.read_bytes())
    return loaded


def document_names() -> list[str]:
    files = resources.files("nexus.catalog").joinpath(DOCUMENTS)
    return sorted(p.name.removesuffix(".json") for p in files.iterdir() if p.name.endswith(".json"))


def base_path(name: str) -> str:
    """The path every operation of the document is relative to, e.g. `/jpm/v2`."""
    url: str = document(name)["servers"][0]["url"]
    return urlsplit(url).path.rstrip("/")


def resolve(name: str, schema: Schema) -> Schema:
    """Follow `$ref`s (and single-branch `allOf`) until a schema with content is reached."""
    schemas = document(name)["components"]["schemas"]
    seen = 0
    while True:
        if "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
        elif "allOf" in schema and len(schema["allOf"]) == 1 and "properties" not in schema:
            schema = schema["allOf"][0]
        else:
            return schema
        seen += 1
        if seen > 50:
            raise SpecError(f"{name}: a $ref cycle")


def operation(name: str, path: str) -> Schema | None:
    """The GET operation at `path` (as written in the document), or None."""
    item = document(name)["paths"].get(path)
    return None if item is None else item.get("get")


def query_parameters(name: str, path: str) -> frozenset[str]:
    op = operation(name, path)
    if op is None:
        return frozenset()
    return frozenset(
        resolve(name, p)["name"]
        for p in op.get("parameters", [])
        if resolve(name, p).get("in") == "query"
    )


def response_schema(name: str, path: str) -> Schema:
    """The 200 response schema of GET `path`."""
    op = operation(name, path)
    if op is None:
        raise SpecError(f"{name} has no GET {path}")
    content = op["responses"]["200"]["content"]
    media = content.get("application/json") or next(iter(content.values()))
    return resolve(name, media["schema"])


def record_schema(name: str, path: str) -> Schema:
    """The schema of one record GET `path` returns: `data` items of an envelope, else itself."""
    schema = response_schema(name, path)
    data = schema.get("properties", {}).get("data")
    if data is not None:
        return resolve(name, resolve(name, data)["items"])
    return schema
