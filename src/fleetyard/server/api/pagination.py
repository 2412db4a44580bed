"""``?limit=&cursor=`` in, ``{"items": [...], "next_cursor": ...}`` out.

A cursor is the URL-safe base64 of the last item's id (unpadded). It is
opaque to clients: only this module makes and reads it, so its shape can
change without breaking anyone who just passes it back.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, TypeVar

from fastapi import Depends, Query

from fleetyard.protocol.common import Page
from fleetyard.protocol.errors import ErrorCode
from fleetyard.server.services.errors import BadRequest
from fleetyard.server.services.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageRequest, PageResult

T = TypeVar("T")

_KEY = re.compile(r"^[a-z]{1,10}_[0-9a-z]{1,40}$")


def encode_cursor(key: str) -> str:
    """The cursor that continues after ``key``."""
    return base64.urlsafe_b64encode(key.encode("ascii")).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> str:
    """The id a cursor stands for; anything else is 400 ``invalid_cursor``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True).decode(
            "ascii"
        )
    except (ValueError, UnicodeError, binascii.Error):
        key = ""
    if not _KEY.match(key):
        raise BadRequest(
            "The cursor is not one this server handed out; start again without it.",
            code=ErrorCode.INVALID_CURSOR,
        )
    return key


async def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="How many items at most (1 to 200).")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(max_length=200, description="`next_cursor` of the previous page."),
    ] = None,
) -> PageRequest:
    """The dependency behind :data:`Pagination`."""
    return PageRequest(after=None if cursor is None else decode_cursor(cursor), limit=limit)


Pagination = Annotated[PageRequest, Depends(page_params)]
"""Where a list starts and how long it is, from ``?limit=&cursor=``."""


def to_page(result: PageResult[T]) -> Page[T]:
    """The wire page for a service's page result, with its opaque cursor."""
    next_cursor = None if result.next_after is None else encode_cursor(result.next_after)
    return Page[T](items=result.items, next_cursor=next_cursor)
