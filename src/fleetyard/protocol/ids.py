"""Prefixed, sortable resource identifiers: ``site_01JD…``, ``key_01JD…``.

The part after the prefix is a ULID-like string: 48 bits of milliseconds then
80 random bits, in Crockford base32. Ids made later sort after earlier ones,
so they double as stable cursors.
"""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"

PREFIXES = {
    "org": "org",
    "user": "usr",
    "site": "site",
    "api_key": "key",
    "service_client": "cli",
    "request": "req",
}


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str, *, now_ms: int | None = None) -> str:
    """A new identifier with ``prefix``.

    >>> new_id("site").startswith("site_")
    True
    """
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    return f"{prefix}_{_encode(ms, 10)}{_encode(secrets.randbits(80), 16)}"
