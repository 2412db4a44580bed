"""JSON request bodies read by hand, and JSON that parses but cannot be stored.

The hot routes (publishing) skip FastAPI's body machinery: they validate the
raw bytes with a pre-built pydantic model and answer a malformed body the way
every other route does (400 ``invalid_json``, 422 ``validation_failed`` with
per-field ``errors``), by raising :class:`RequestValidationError`.

Every telemetry body also passes :func:`check_storable`. Python's JSON
parser (and pydantic's, for ``JsonValue``) accepts things neither database
can hold or that break JSON on the way out: ``NaN``/``Infinity`` tokens,
numbers that overflow to infinity (``1e400``), ``\\u0000`` (PostgreSQL text
and ``jsonb`` refuse it) and lone surrogates. A regular expression over the
raw bytes finds whether any of them *might* be present (one C-speed scan, so
ordinary bodies pay almost nothing); only then is the body walked to say
exactly where.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, JsonValue, TypeAdapter, ValidationError

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

_SUSPECT = re.compile(rb"NaN|Infinity|\\u0000|\\u[dD][89a-fA-F]|[eE][+]?[0-9]{3}|[0-9]{300}")
_MAX_REPORTED = 20


class _Constant(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _Constant(name)


def invalid_json(detail: str) -> RequestValidationError:
    """400 ``invalid_json`` through the shared problem handler."""
    return RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": detail}])


def _unstorable(value: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if not _text_ok(item):
                yield path, "strings must not contain NUL characters or lone surrogates"
        elif isinstance(item, float):
            if not math.isfinite(item):
                yield path, "number out of range (not a finite double)"
        elif isinstance(item, dict):
            for key, child in item.items():
                if not _text_ok(key):
                    yield (*path, key), "keys must not contain NUL characters or lone surrogates"
                stack.append(((*path, key), child))
        elif isinstance(item, list):
            stack.extend(((*path, index), child) for index, child in enumerate(item))


def _text_ok(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_storable(raw: bytes) -> None:
    """Refuse a body with ``NaN``/``Infinity`` (400) or values no database stores (422)."""
    if not _SUSPECT.search(raw):
        return
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except _Constant as exc:
        raise invalid_json(f"{exc} is not JSON (RFC 8259 has no NaN or Infinity).") from None
    except (ValueError, RecursionError):
        return  # not JSON at all: the model's own parser says so
    errors = [
        {"type": "value_error", "loc": ("body", *path), "msg": message}
        for path, message in islice(_unstorable(value), _MAX_REPORTED)
    ]
    if errors:
        raise RequestValidationError(errors)


def parse(raw: bytes, model: type[M]) -> M:
    """``model`` from the raw body, or the same 400/422 problems FastAPI bodies get."""
    return _validated(raw, model.model_validate_json)


_ANY_JSON: TypeAdapter[JsonValue] = TypeAdapter(JsonValue)


def parse_any(raw: bytes) -> JsonValue:
    """Any JSON value (object, array, scalar, null) from the raw body; 400 when it is not JSON."""
    return _validated(raw, _ANY_JSON.validate_json)


def _validated(raw: bytes, validate: Callable[[bytes], T]) -> T:
    check_storable(raw)
    try:
        return validate(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [
                {"type": e["type"], "loc": ("body", *e["loc"]), "msg": e["msg"]}
                for e in exc.errors(include_url=False, include_context=False)
            ]
        ) from None


async def storable_body(request: Request) -> None:
    """Dependency for routes with a FastAPI-parsed body: :func:`check_storable` on it."""
    check_storable(await request.body())
