"""What every repository shares: the duplicate error and keyset pagination."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from fleetyard.server.storage.dialect import is_unique_violation

T = TypeVar("T")
S = TypeVar("S", bound=sa.Select[Any])


class DuplicateError(Exception):
    """An insert or update collided with a unique constraint (name, email, hash…)."""


async def translating_duplicates(operation: Awaitable[T]) -> T:
    """Run ``operation``; a unique violation becomes :class:`DuplicateError`.

    Other integrity errors (a missing foreign key…) propagate unchanged: they
    are bugs in the caller, not conflicts a client can cause.
    """
    try:
        return await operation
    except IntegrityError as exc:
        if is_unique_violation(exc):
            raise DuplicateError(str(exc.orig)) from exc
        raise


def keyset(stmt: S, column: sa.ColumnElement[str], *, after: str | None, limit: int) -> S:
    """Order by ``column``, start after ``after`` and fetch one row more than ``limit``."""
    if after is not None:
        stmt = stmt.where(column > after)
    return stmt.order_by(column).limit(limit + 1)
