"""Instants: integer milliseconds in the database, aware datetimes in models."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now_ms() -> int:
    """Milliseconds since the epoch, now."""
    return time.time_ns() // 1_000_000


def to_datetime(ms: int) -> datetime:
    """An aware UTC datetime for a stored instant (exact, no float rounding)."""
    return _EPOCH + timedelta(milliseconds=ms)


def optional_datetime(ms: int | None) -> datetime | None:
    """``to_datetime`` that passes None through."""
    return None if ms is None else to_datetime(ms)


def to_ms(value: datetime) -> int:
    """Milliseconds since the epoch for an instant (naive means UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(milliseconds=1)
