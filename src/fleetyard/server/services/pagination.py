"""Keyset pagination shared by every list: where to start and how many."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

R = TypeVar("R")
T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Items strictly after the id ``after`` (None: from the start), at most ``limit``."""

    after: str | None = None
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True, slots=True)
class PageResult(Generic[T]):
    """One page; ``next_after`` is the key to continue from, None on the last page."""

    items: list[T]
    next_after: str | None


def cut(
    rows: Sequence[R], page: PageRequest, key: Callable[[R], str], convert: Callable[[R], T]
) -> PageResult[T]:
    """Shape ``limit + 1`` fetched rows into a page: the extra row only says "there is more"."""
    shown = list(rows[: page.limit])
    more = len(rows) > page.limit and bool(shown)
    return PageResult([convert(r) for r in shown], key(shown[-1]) if more else None)
