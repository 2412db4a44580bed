"""Base models, timestamps and the list envelope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer

T = TypeVar("T")


def format_timestamp(value: datetime) -> str:
    """Render an instant as RFC 3339 UTC with milliseconds.

    >>> format_timestamp(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC))
    '2026-01-02T03:04:05.678Z'
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _as_utc(value: datetime) -> datetime:
    # A naive instant is taken as UTC: the wire never carries local time.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Timestamp = Annotated[
    datetime,
    AfterValidator(_as_utc),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]
"""An instant: an aware ``datetime`` in Python, RFC 3339 UTC with milliseconds on the wire."""


class ResponseModel(BaseModel):
    """Base of everything the server sends.

    Unknown fields are kept rather than rejected, so an older SDK keeps
    working against a newer server.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class RequestModel(BaseModel):
    """Base of everything the server accepts: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Page(ResponseModel, Generic[T]):
    """One page of a list: ``{"items": [...], "next_cursor": "..." | null}``.

    Example::

        page = client.sites.list_page(limit=50)
        while page.next_cursor:
            page = client.sites.list_page(cursor=page.next_cursor)
    """

    items: list[T]
    next_cursor: str | None = None


class Deleted(ResponseModel):
    """Answer to a DELETE: the id that is gone."""

    id: str
    deleted: bool = True
