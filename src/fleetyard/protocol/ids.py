"""Prefixed, sortable resource identifiers: ``site_01JD…``, ``key_01JD…``.

The part after the prefix is a ULID-like string: 48 bits of milliseconds then
80 random bits, in Crockford base32. Ids made later sort after earlier ones,
so they double as stable cursors.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

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


def new_id(
    prefix: str,
    *,
    now_ms: int | None = None,
    random_bits: Callable[[int], int] = secrets.randbits,
) -> str:
    """A new identifier with ``prefix`` (``random_bits``: where the random part comes
    from; the default, ``secrets``, makes ids unguessable as well as unique).

    >>> new_id("site").startswith("site_")
    True
    """
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    return f"{prefix}_{_encode(ms, 10)}{_encode(random_bits(80), 16)}"
