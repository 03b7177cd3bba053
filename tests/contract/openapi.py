"""The vendor's OpenAPI 3.0 document as a test oracle: JSON Schema validators per operation and status.

The document ships in the `nmbrs-rest-api` package (`nmbrs_rest/_spec/nmbrs-openapi.yaml`) and is
read from the installed package. OpenAPI 3.0's `nullable: true` becomes a JSON Schema `null` type;
`$ref`s resolve inside the document; `uuid` and `date-time` formats are checked.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.resources
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import yaml

SPEC_PACKAGE = "nmbrs_rest"
SPEC_FILE = "_spec/nmbrs-openapi.yaml"


@functools.cache
def document() -> dict:
    return yaml.safe_load(importlib.resources.files(SPEC_PACKAGE).joinpath(SPEC_FILE).read_text("utf-8"))


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: `nullable: true` admits null (in `type` and in `enum`)."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _nullable(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        if "type" in converted:
            converted["type"] = [converted["type"], "null"]
        if "enum" in converted:
            converted["enum"] = [*converted["enum"], None]
        if "$ref" in converted:
            converted = {"anyOf": [{"$ref": converted.pop("$ref")}, {"type": "null"}], **converted}
    return converted


_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if isinstance(value, str):
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@functools.cache
def _components() -> dict:
    return _nullable(document()["components"])


def validator(schema: dict) -> jsonschema.protocols.Validator:
    """A validator for a schema of the document (its `$ref`s resolve against the document)."""
    root = {"allOf": [_nullable(schema)], "components": _components()}
    return jsonschema.Draft7Validator(root, format_checker=_FORMATS)


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "/?$", re.IGNORECASE)


@functools.cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    return [(_template_regex(path), path) for path in document()["paths"]]


def operation(path: str, method: str = "get") -> tuple[str, dict]:
    """The spec's path template and operation that a concrete path belongs to."""
    matches = [template for pattern, template in _templates() if pattern.match(path)]
    if not matches:
        raise LookupError(f"the vendor's document has no path for {path}")
    template = min(matches, key=lambda t: t.count("{"))  # literal segments beat parameters
    return template, document()["paths"][template][method]


def response_schema(path: str, status: int, content_type: str = "application/json") -> dict | None:
    """The schema the document gives for this path's answer with this status (None: no body schema)."""
    _, op = operation(path)
    response = op["responses"].get(str(status))
    if response is None:
        raise LookupError(f"the vendor's document lists no {status} answer for GET {path}")
    if "$ref" in response:
        response = document()["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    content = response.get("content") or {}
    media = content.get(content_type.split(";")[0].strip()) or next(iter(content.values()), None)
    return None if media is None else media.get("schema")


def examples(path_template: str, status: str = "200") -> Iterator[Any]:
    """Every example value the document gives for an operation's answer (inline and referenced)."""
    op = document()["paths"][path_template]["get"]
    response = op["responses"].get(status) or {}
    if "$ref" in response:
        response = document()["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    for media in (response.get("content") or {}).values():
        for example in (media.get("examples") or {}).values():
            yield example["value"]
        if "example" in media:
            yield media["example"]


def violations(path: str, status: int, content_type: str, body: Any) -> list[str]:
    """Every way one answer breaks the vendor's schema for it, as readable lines."""
    schema = response_schema(path, status, content_type)
    if schema is None:
        return [f"GET {path} {status}: the document has no schema for this answer"]
    return [
        f"GET {path} {status} at {'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator(schema).iter_errors(body)
    ]
