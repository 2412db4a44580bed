"""Waiting for a long operation by polling it: one flow for both clients.

``wait`` on an execution handle and on an agent command GETs the resource
every ``poll_interval`` seconds until it is finished, telling
``on_progress`` about each change it sees, or raises
:class:`~fleetyard.WaitTimeoutError` once ``timeout`` seconds have passed.
No I/O here: the clients perform the requests and the sleeps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypedDict, TypeVar

from fleetyard.sdk._exceptions import WaitTimeoutError
from fleetyard.sdk._flow import Flow, sleep
from fleetyard.sdk._operation import Operation
from fleetyard.sdk._response import RawResponse
from fleetyard.sdk._types import ReadOptions

if TYPE_CHECKING:
    from fleetyard.sdk._base_client import BaseClient

__all__ = ["DEFAULT_POLL_INTERVAL", "PollOptions", "ProgressCallback", "poll_until", "read_options"]

T = TypeVar("T")

DEFAULT_POLL_INTERVAL = 0.5
"""Seconds between two polls: short, since an execution usually takes a few seconds."""


class PollOptions(TypedDict, total=False):
    """Per-call options of a wait: ``timeout`` is the wait's own, so not here.

    Example::

        handle.wait(timeout=60, extra_headers={"X-Trace": "abc"})
    """

    extra_headers: Mapping[str, str]
    extra_query: Mapping[str, str | int]


def read_options(options: PollOptions) -> ReadOptions:
    """The same options, typed as every call takes them."""
    read: ReadOptions = {}
    if "extra_headers" in options:
        read["extra_headers"] = options["extra_headers"]
    if "extra_query" in options:
        read["extra_query"] = options["extra_query"]
    return read


ProgressCallback = Callable[[T], object]
"""Called with each new version of the resource a wait sees (the first one included)."""


def poll_until(
    client: BaseClient,
    op: Operation[T],
    *,
    done: Callable[[T], bool],
    fingerprint: Callable[[T], object],
    what: str,
    timeout: float | None,
    poll_interval: float,
    on_progress: Callable[[T], object] | None,
    options: ReadOptions,
) -> Flow[RawResponse[T]]:
    """GET ``op`` until ``done``; answer the last response (so raw views work too).

    ``fingerprint`` tells versions apart: ``on_progress`` hears only changes.
    """
    if poll_interval <= 0:
        raise ValueError(f"poll_interval must be positive, got {poll_interval!r}")
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must not be negative, got {timeout!r}")
    started = client._now()
    seen: object = _NOTHING
    while True:
        raw = yield from client._call(op, options)
        current = raw.parse()
        key = fingerprint(current)
        if on_progress is not None and key != seen:
            on_progress(current)
        seen = key
        if done(current):
            return raw
        elapsed = (client._now() - started).total_seconds()
        if timeout is not None and elapsed >= timeout:
            raise WaitTimeoutError(f"{what} did not finish within {timeout:g}s", last=current)
        remaining = poll_interval if timeout is None else min(poll_interval, timeout - elapsed)
        yield from sleep(remaining)


_NOTHING = object()
