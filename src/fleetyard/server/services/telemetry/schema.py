"""A JSON Schema validator for channel payloads: the common keywords, nothing silent.

Why not a library: the server distribution carries no JSON Schema
dependency yet, and payload checks run on the ingest path, so they are
kept small and fast. Why strict: a schema keyword this module does not
enforce is *rejected* when the schema is set (``json_schema_invalid``) rather
than ignored, so a channel never looks guarded while it is not.

Supported (draft 2020-12 meaning): ``type``, ``enum``, ``const``,
``properties``, ``required``, ``additionalProperties``, ``patternProperties``,
``propertyNames``, ``minProperties``, ``maxProperties``, ``items``,
``prefixItems``, ``minItems``, ``maxItems``, ``uniqueItems``, ``contains``,
``minimum``, ``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum``,
``multipleOf``, ``minLength``, ``maxLength``, ``pattern``, ``allOf``,
``anyOf``, ``oneOf``, ``not``, ``if``/``then``/``else``; annotations
(``title``, ``description``, ``default``, ``examples``, ``format``,
``$schema``, ``$id``, ``$comment``, ``deprecated``, ``readOnly``,
``writeOnly``) are accepted and ignored. ``$ref`` is not supported.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

_ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "format",
        "$schema",
        "$id",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
    }
)
_SUBSCHEMA = ("additionalProperties", "propertyNames", "items", "contains", "not", "if")
_SUBSCHEMA_MAP = ("properties", "patternProperties")
_SUBSCHEMA_LIST = ("prefixItems", "allOf", "anyOf", "oneOf")
_SUBSCHEMA_OPTIONAL = ("then", "else")
_NUMBER = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_COUNT = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")
_TYPES = frozenset({"null", "boolean", "object", "array", "number", "integer", "string"})
_KNOWN = frozenset(
    {"type", "enum", "const", "required", "uniqueItems", "pattern"}
    | set(_SUBSCHEMA)
    | set(_SUBSCHEMA_MAP)
    | set(_SUBSCHEMA_LIST)
    | set(_SUBSCHEMA_OPTIONAL)
    | set(_NUMBER)
    | set(_COUNT)
    | _ANNOTATIONS
)
MAX_ERRORS = 20


class SchemaError(ValueError):
    """A schema this module cannot enforce."""


def check_schema(schema: Any, where: str = "$") -> None:
    """Raise :class:`SchemaError` unless ``schema`` is a schema we fully enforce."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        raise SchemaError(f"{where}: a schema is an object or a boolean")
    unknown = sorted(set(schema) - _KNOWN)
    if unknown:
        raise SchemaError(f"{where}: unsupported keyword(s) {', '.join(unknown)}")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not types or not all(isinstance(x, str) and x in _TYPES for x in types):
            raise SchemaError(f"{where}.type: one of {sorted(_TYPES)} or a list of them")
    if "enum" in schema and not isinstance(schema["enum"], list):
        raise SchemaError(f"{where}.enum: a list")
    if "required" in schema and not (
        isinstance(schema["required"], list) and all(isinstance(x, str) for x in schema["required"])
    ):
        raise SchemaError(f"{where}.required: a list of strings")
    for key in _NUMBER:
        if key in schema and not _is_number(schema[key]):
            raise SchemaError(f"{where}.{key}: a number")
    if "multipleOf" in schema and schema["multipleOf"] <= 0:
        raise SchemaError(f"{where}.multipleOf: greater than 0")
    for key in _COUNT:
        if key in schema and not (_is_int(schema[key]) and schema[key] >= 0):
            raise SchemaError(f"{where}.{key}: a non-negative integer")
    if "uniqueItems" in schema and not isinstance(schema["uniqueItems"], bool):
        raise SchemaError(f"{where}.uniqueItems: a boolean")
    if "pattern" in schema:
        _compile(where + ".pattern", schema["pattern"])
    for key in _SUBSCHEMA + _SUBSCHEMA_OPTIONAL:
        if key in schema:
            check_schema(schema[key], f"{where}.{key}")
    for key in _SUBSCHEMA_MAP:
        if key in schema:
            if not isinstance(schema[key], dict):
                raise SchemaError(f"{where}.{key}: an object of schemas")
            for name, sub in schema[key].items():
                if key == "patternProperties":
                    _compile(f"{where}.{key}", name)
                check_schema(sub, f"{where}.{key}.{name}")
    for key in _SUBSCHEMA_LIST:
        if key in schema:
            if not isinstance(schema[key], list) or (key != "prefixItems" and not schema[key]):
                raise SchemaError(f"{where}.{key}: a non-empty list of schemas")
            for i, sub in enumerate(schema[key]):
                check_schema(sub, f"{where}.{key}[{i}]")


def _compile(where: str, pattern: Any) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise SchemaError(f"{where}: a regular expression string")
    try:
        return _pattern(pattern)
    except re.error as exc:
        raise SchemaError(f"{where}: {exc}") from exc


@lru_cache(maxsize=1024)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _type_matches(value: Any, name: str) -> bool:
    checks: dict[str, Callable[[Any], bool]] = {
        "null": lambda v: v is None,
        "boolean": lambda v: isinstance(v, bool),
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "number": _is_number,
        "integer": lambda v: _is_number(v) and _is_int(v),
        "string": lambda v: isinstance(v, str),
    }
    return checks[name](value)


def _equal(a: Any, b: Any) -> bool:
    # JSON equality: 1 == 1.0, but true is not 1.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


def validate(instance: Any, schema: Any) -> list[str]:
    """Where and why ``instance`` breaks ``schema`` (checked by :func:`check_schema`).

    Returns at most :data:`MAX_ERRORS` messages like ``"$.battery: 120 > maximum 100"``;
    an empty list means valid.
    """
    errors: list[str] = []
    _validate(instance, schema, "$", errors)
    return errors[:MAX_ERRORS]


def _is_valid(instance: Any, schema: Any) -> bool:
    errors: list[str] = []
    _validate(instance, schema, "$", errors)
    return not errors


def _validate(value: Any, schema: Any, at: str, errors: list[str]) -> None:
    if schema is True:
        return
    if schema is False:
        errors.append(f"{at}: not allowed")
        return
    if len(errors) >= MAX_ERRORS:
        return
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_matches(value, t) for t in types):
            errors.append(f"{at}: expected {' or '.join(types)}")
            return
    if "const" in schema and not _equal(value, schema["const"]):
        errors.append(f"{at}: must be {schema['const']!r}")
    if "enum" in schema and not any(_equal(value, e) for e in schema["enum"]):
        errors.append(f"{at}: must be one of {schema['enum']!r}")
    if _is_number(value):
        _numbers(value, schema, at, errors)
    elif isinstance(value, str):
        _strings(value, schema, at, errors)
    elif isinstance(value, list):
        _arrays(value, schema, at, errors)
    elif isinstance(value, dict):
        _objects(value, schema, at, errors)
    for sub in schema.get("allOf", ()):
        _validate(value, sub, at, errors)
    if "anyOf" in schema and not any(_is_valid(value, s) for s in schema["anyOf"]):
        errors.append(f"{at}: matches none of anyOf")
    if "oneOf" in schema:
        matched = sum(1 for s in schema["oneOf"] if _is_valid(value, s))
        if matched != 1:
            errors.append(f"{at}: matches {matched} of oneOf, not exactly 1")
    if "not" in schema and _is_valid(value, schema["not"]):
        errors.append(f"{at}: must not match 'not'")
    if "if" in schema:
        branch = "then" if _is_valid(value, schema["if"]) else "else"
        if branch in schema:
            _validate(value, schema[branch], at, errors)


def _numbers(value: float, schema: dict[str, Any], at: str, errors: list[str]) -> None:
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{at}: {value} < minimum {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        errors.append(f"{at}: {value} > maximum {schema['maximum']}")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        errors.append(f"{at}: {value} <= exclusiveMinimum {schema['exclusiveMinimum']}")
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        errors.append(f"{at}: {value} >= exclusiveMaximum {schema['exclusiveMaximum']}")
    if "multipleOf" in schema:
        quotient = value / schema["multipleOf"]
        if not math.isfinite(quotient) or abs(quotient - round(quotient)) > 1e-9:
            errors.append(f"{at}: {value} is not a multiple of {schema['multipleOf']}")


def _strings(value: str, schema: dict[str, Any], at: str, errors: list[str]) -> None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(f"{at}: shorter than {schema['minLength']} characters")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(f"{at}: longer than {schema['maxLength']} characters")
    if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
        errors.append(f"{at}: does not match {schema['pattern']!r}")


def _arrays(value: list[Any], schema: dict[str, Any], at: str, errors: list[str]) -> None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(f"{at}: fewer than {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{at}: more than {schema['maxItems']} items")
    if schema.get("uniqueItems"):
        for i, item in enumerate(value):
            if any(_equal(item, other) for other in value[:i]):
                errors.append(f"{at}[{i}]: duplicate item")
                break
    prefix = schema.get("prefixItems", [])
    for i, (item, sub) in enumerate(zip(value, prefix, strict=False)):
        _validate(item, sub, f"{at}[{i}]", errors)
    if "items" in schema:
        for i in range(len(prefix), len(value)):
            _validate(value[i], schema["items"], f"{at}[{i}]", errors)
    if "contains" in schema and not any(_is_valid(v, schema["contains"]) for v in value):
        errors.append(f"{at}: no item matches 'contains'")


def _objects(value: dict[str, Any], schema: dict[str, Any], at: str, errors: list[str]) -> None:
    for name in schema.get("required", ()):
        if name not in value:
            errors.append(f"{at}.{name}: required")
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        errors.append(f"{at}: fewer than {schema['minProperties']} members")
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        errors.append(f"{at}: more than {schema['maxProperties']} members")
    properties = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    for name, member in value.items():
        where = f"{at}.{name}"
        if "propertyNames" in schema:
            _validate(name, schema["propertyNames"], f"{where} (name)", errors)
        matched = False
        if name in properties:
            matched = True
            _validate(member, properties[name], where, errors)
        for pattern, sub in patterns.items():
            if _pattern(pattern).search(name):
                matched = True
                _validate(member, sub, where, errors)
        if not matched and "additionalProperties" in schema:
            _validate(member, schema["additionalProperties"], where, errors)
