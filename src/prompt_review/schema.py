"""A small JSON Schema subset, validated with messages that name the key path.

One schema serves two readers: `prompt-review schema` publishes it for editors, and
`check` validates user files against it, collecting every problem instead of stopping
at the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Schema = Mapping[str, Any]

_TYPE_NAMES = {
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean (true/false)",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def describe(value: Any) -> str:
    """Render a user's value for an error message, short and unambiguous."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _matches_type(value: Any, type_name: str) -> bool:
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "boolean":
        return isinstance(value, bool)
    if type_name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if type_name == "object":
        return isinstance(value, Mapping)
    if type_name == "array":
        return isinstance(value, list)
    return value is None


def _expected(schema: Schema) -> str:
    if "description_short" in schema:
        return str(schema["description_short"])
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    if "oneOf" in schema:
        return " or ".join(_expected(s) for s in schema["oneOf"])
    types = schema.get("type")
    if isinstance(types, list):
        return " or ".join(_TYPE_NAMES[t] for t in types)
    if isinstance(types, str):
        return _TYPE_NAMES[types]
    return "a valid value"


def check(value: Any, schema: Schema, path: str = "") -> list[str]:
    """Return every problem as ``key.path: expected X, got Y`` (empty list when valid)."""
    where = path or "(top level)"
    if "oneOf" in schema:
        for option in schema["oneOf"]:
            if not _shallow_mismatch(value, option):
                return check(value, option, path)
        return [f"{where}: expected {_expected(schema)}, got {describe(value)}"]
    types = schema.get("type")
    if types is not None:
        options = types if isinstance(types, list) else [types]
        if not any(_matches_type(value, t) for t in options):
            return [f"{where}: expected {_expected(schema)}, got {describe(value)}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: expected {_expected(schema)}, got {describe(value)}"]
    problems: list[str] = []
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{where}: expected a value >= {schema['minimum']}, got {value!r}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{where}: expected a value <= {schema['maximum']}, got {value!r}")
    if isinstance(value, str) and "minLength" in schema and len(value) < schema["minLength"]:
        problems.append(f"{where}: expected a non-empty string")
    if isinstance(value, Mapping):
        problems.extend(_check_object(value, schema, path))
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            problems.append(f"{where}: expected at least {schema['minItems']} item(s)")
        item_schema = schema.get("items")
        if item_schema is not None:
            for index, item in enumerate(value):
                problems.extend(check(item, item_schema, f"{path}[{index}]"))
    return problems


def _check_object(value: Mapping[Any, Any], schema: Schema, path: str) -> list[str]:
    problems: list[str] = []
    properties: Mapping[str, Schema] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key in schema.get("required", []):
        if key not in value:
            problems.append(f"{_join(path, key)}: missing (expected {_expected(properties[key])})")
    for key, item in value.items():
        key_path = _join(path, str(key))
        if not isinstance(key, str):
            problems.append(f"{key_path}: keys must be strings")
        elif key in properties:
            problems.extend(check(item, properties[key], key_path))
        elif extra is False:
            known = ", ".join(sorted(properties)) or "none"
            problems.append(f"{key_path}: unknown key (expected one of: {known})")
        elif isinstance(extra, Mapping):
            problems.extend(check(item, extra, key_path))
    return problems


def _shallow_mismatch(value: Any, schema: Schema) -> bool:
    types = schema.get("type")
    if types is None:
        return False
    options = types if isinstance(types, list) else [types]
    return not any(_matches_type(value, t) for t in options)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def to_json_schema(schema: Schema) -> dict[str, Any]:
    """Strip our private annotations so the result is plain JSON Schema."""
    if isinstance(schema, Mapping):
        return {
            k: to_json_schema(v) if isinstance(v, Mapping) else _list(v)
            for k, v in schema.items()
            if k != "description_short"
        }
    return schema


def _list(value: Any) -> Any:
    if isinstance(value, list):
        return [to_json_schema(v) if isinstance(v, Mapping) else v for v in value]
    return value
