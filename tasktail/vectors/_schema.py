"""A small validator for the subset of JSON Schema (draft 2020-12) that schema.json uses.

Supported keywords: ``$ref`` (local ``#/$defs/...``), ``type``, ``enum``, ``const``,
``properties``, ``required``, ``additionalProperties``, ``items``, ``minItems``,
``uniqueItems``, ``oneOf``, ``anyOf``, ``minimum``, ``exclusiveMinimum``, ``maximum``,
``minLength``, ``maxLength``, ``pattern``. Annotations (``$id``, ``title``, ``description``,
``$comment``, ``$schema``, ``version``) are ignored. Any other keyword is an error, so the
schema cannot silently use one this validator does not check.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ANNOTATIONS = {"$id", "$schema", "$defs", "title", "description", "$comment", "version"}
KEYWORDS = {"$ref", "type", "enum", "const", "properties", "required", "additionalProperties", "items", "minItems",
            "uniqueItems", "oneOf", "anyOf", "minimum", "exclusiveMinimum", "maximum", "minLength", "maxLength",
            "pattern"}
TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def validate(instance: Any, schema: dict[str, Any], root: dict[str, Any] | None = None, at: str = "$") -> list[str]:
    """Every way ``instance`` breaks ``schema`` (empty: valid)."""
    root = schema if root is None else root
    unknown = set(schema) - KEYWORDS - ANNOTATIONS
    if unknown:
        raise ValueError(f"schema at {at} uses keywords this validator does not check: {sorted(unknown)}")
    errors: list[str] = []
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/$defs/"):
            raise ValueError(f"only local $defs references are supported, not {ref}")
        errors += validate(instance, root["$defs"][ref.removeprefix("#/$defs/")], root, at)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(TYPES[t](instance) for t in types):
            return errors + [f"{at}: {instance!r} is not of type {' or '.join(types)}"]
    if "enum" in schema and not any(_same(instance, e) for e in schema["enum"]):
        errors.append(f"{at}: {instance!r} is not one of {schema['enum']}")
    if "const" in schema and not _same(instance, schema["const"]):
        errors.append(f"{at}: {instance!r} is not {schema['const']!r}")
    if isinstance(instance, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", ()):
            if key not in instance:
                errors.append(f"{at}: missing {key!r}")
        for key, value in instance.items():
            if key in props:
                errors += validate(value, props[key], root, f"{at}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{at}: unexpected key {key!r}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += validate(value, schema["additionalProperties"], root, f"{at}.{key}")
    if isinstance(instance, list):
        if len(instance) < schema.get("minItems", 0):
            errors.append(f"{at}: fewer than {schema['minItems']} items")
        if schema.get("uniqueItems") and len({json.dumps(i, sort_keys=True) for i in instance}) != len(instance):
            errors.append(f"{at}: items are not unique")
        if "items" in schema:
            for i, item in enumerate(instance):
                errors += validate(item, schema["items"], root, f"{at}[{i}]")
    if isinstance(instance, str):
        if len(instance) < schema.get("minLength", 0):
            errors.append(f"{at}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(instance) > schema["maxLength"]:
            errors.append(f"{at}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            errors.append(f"{at}: {instance!r} does not match {schema['pattern']}")
    if TYPES["number"](instance):
        if "minimum" in schema and instance < schema["minimum"]:
            errors.append(f"{at}: {instance} < {schema['minimum']}")
        if "exclusiveMinimum" in schema and instance <= schema["exclusiveMinimum"]:
            errors.append(f"{at}: {instance} <= {schema['exclusiveMinimum']}")
        if "maximum" in schema and instance > schema["maximum"]:
            errors.append(f"{at}: {instance} > {schema['maximum']}")
    for key, need in (("oneOf", 1), ("anyOf", None)):
        if key in schema:
            matching = sum(not validate(instance, s, root, at) for s in schema[key])
            if (need is None and matching == 0) or (need is not None and matching != need):
                errors.append(f"{at}: matches {matching} of the {key} alternatives")
    return errors


def load_schema(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))
