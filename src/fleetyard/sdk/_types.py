"""Small shared types: the ``NOT_GIVEN`` sentinel and per-call request options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, TypedDict, final

import httpx2

TimeoutTypes = float | httpx2.Timeout | None
"""Seconds (one number for every phase), an :class:`httpx2.Timeout`, or ``None`` for no limit."""


@final
class NotGiven:
    """The type of :data:`NOT_GIVEN`: "the caller did not pass this argument".

    It exists because ``None`` is often a meaningful value on the wire
    (``description=None`` clears a description), so it cannot also mean
    "leave this field alone".

    Example::

        client.sites.update("site_01…", description=None)  # clears it
        client.sites.update("site_01…", name="Depot")  # description untouched
    """

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        # One instance only, so `is NOT_GIVEN` is always the right test.
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __reduce__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()
"""Sentinel default for optional arguments that are omitted from the request when not given.

Example::

    from fleetyard import NOT_GIVEN

    def rename(client, site_id, name=NOT_GIVEN):
        return client.sites.update(site_id, name=name)
"""


class ReadOptions(TypedDict, total=False):
    """Per-call options every resource method accepts as keyword arguments.

    - ``extra_headers``: more headers for this call (they win over the defaults).
    - ``extra_query``: more query parameters for this call.
    - ``timeout``: this call's timeout, replacing the client's.

    Example::

        client.sites.get("site_01…", timeout=5.0, extra_headers={"X-Trace": "abc"})
    """

    extra_headers: Mapping[str, str]
    extra_query: Mapping[str, str | int]
    timeout: TimeoutTypes


class WriteOptions(ReadOptions, total=False):
    """Options of calls that change something: :class:`ReadOptions` plus ``idempotency_key``.

    Without ``idempotency_key`` the SDK makes one per call and reuses it on
    every retry, so a retried create never creates twice. Pass your own to make
    a call idempotent across processes (a job that may run again after a crash).

    Example::

        client.sites.create("Depot", idempotency_key="import-2026-11-24-depot")
    """

    idempotency_key: str
