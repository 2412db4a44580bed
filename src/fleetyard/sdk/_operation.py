"""A call described as data: what to send, how to read the answer, with which credentials.

Resource methods only build an :class:`Operation`; the shared core turns it
into a :class:`RequestSpec` per attempt and the sync/async clients send that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

from fleetyard.sdk._types import TimeoutTypes

__all__ = ["AuthMode", "Operation", "QueryValue", "RequestSpec", "path_param", "str_list"]

T = TypeVar("T")

QueryValue = str | int | bool | list[str] | None
"""A query parameter value; ``None`` leaves the parameter out, a list repeats it."""

AuthMode = Literal["default", "none", "passive"]
"""How a call authenticates.

- ``default``: send the bearer, refresh it before expiry and once on ``token_expired``;
- ``none``: send no credentials (login, refresh, token grants carry their own);
- ``passive``: send the bearer if there is one, never refresh (logout).
"""


@dataclass(frozen=True, slots=True)
class Operation(Generic[T]):
    """One logical API call: method, path under the base URL, body, and the answer's type.

    ``cast_to`` is a pydantic model (the body is validated into it),
    ``type(None)`` for answers without a body, or :class:`httpx2.Response` to
    get the response itself. ``on_result`` runs with the parsed answer once the
    call succeeded (a login adopts its tokens that way). ``headers`` belong to
    the call itself (``If-Match``); per-call options still win over them.
    """

    method: str
    path: str
    cast_to: type[T]
    params: Mapping[str, QueryValue] | None = None
    json: Any = None
    content: bytes | None = None
    auth: AuthMode = "default"
    on_result: Callable[[T], None] | None = None
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """One attempt of an operation, fully resolved: what the transport sends as-is."""

    method: str
    url: str
    params: dict[str, str | int | bool | list[str]]
    # Holds the Authorization header: keep it out of reprs and logs.
    headers: dict[str, str] = field(repr=False)
    json: Any = None
    content: bytes | None = None
    timeout: TimeoutTypes = None


def path_param(value: str, name: str) -> str:
    """A path segment from an id, quoted so it cannot escape its segment.

    >>> path_param("site_01", "site_id"), path_param("../x", "site_id")
    ('site_01', '..%2Fx')
    """
    if not isinstance(value, str) or not value:
        # An empty id would silently turn `GET /v1/sites/{id}` into the list route.
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


def str_list(values: Iterable[str], name: str) -> list[str]:
    """A JSON list of strings from any iterable of strings, refusing a bare string.

    >>> str_list(("a", "b"), "scopes")
    ['a', 'b']
    """
    # A bare string is iterable too, and "site:*:read" would become 11 scopes.
    if isinstance(values, str | bytes):
        raise TypeError(f"{name} must be a list of strings, not a single string")
    try:
        items = list(values)
    except TypeError:
        raise TypeError(f"{name} must be a list of strings") from None
    if not all(isinstance(v, str) for v in items):
        raise TypeError(f"{name} must be a list of strings")
    return items
