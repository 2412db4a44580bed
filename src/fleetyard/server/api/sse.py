"""Server-sent events: the response class, frame formatting, and event ids.

An event id is an OPAQUE string to clients: send the last one back as
``Last-Event-ID`` (browsers do it on their own) and every channel of the
stream resumes where it was. Today it reads ``v1;ch_…=<seq>.<version>;…`` —
the per-channel message seq and aggregate version — but clients must not
parse or build it; the format may change (a new ``v`` prefix).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = [
    "MAX_SSE_CHANNELS",
    "EventStreamResponse",
    "SSEWriter",
    "format_event_id",
    "parse_event_id",
]

MAX_SSE_CHANNELS = 100
"""Channels one event stream may follow (every event id carries all their positions)."""
RETRY_MS = 3000

_VERSION = "v1"
_ENTRY = re.compile(r"^([A-Za-z0-9_\-]{1,64})=(\d{1,19})\.(\d{1,19})$")

SendBytes = Callable[[bytes], Awaitable[None]]


def format_event_id(positions: Mapping[str, tuple[int, int]]) -> str:
    """The event id for these ``channel id → (seq, aggregate version)`` positions.

    >>> format_event_id({"ch_b": (7, 0), "ch_a": (12, 3)})
    'v1;ch_a=12.3;ch_b=7.0'
    """
    entries = [f"{cid}={seq}.{version}" for cid, (seq, version) in sorted(positions.items())]
    return ";".join([_VERSION, *entries])


def parse_event_id(text: str) -> dict[str, tuple[int, int]] | None:
    """The positions in an event id, or ``None`` when it is not one of ours.

    >>> parse_event_id("v1;ch_a=12.3")
    {'ch_a': (12, 3)}
    >>> parse_event_id("42") is None
    True
    """
    parts = text.strip().split(";")
    if parts[0] != _VERSION or len(parts) > MAX_SSE_CHANNELS + 1:
        return None
    positions: dict[str, tuple[int, int]] = {}
    for part in parts[1:]:
        match = _ENTRY.match(part)
        if match is None:
            return None
        positions[match.group(1)] = (int(match.group(2)), int(match.group(3)))
    return positions


class SSEWriter:
    """Turns session frames into SSE events, each stamped with the stream's positions."""

    def __init__(self) -> None:
        self.send: SendBytes | None = None
        self.positions: Callable[[], Mapping[str, tuple[int, int]]] = dict
        # Sent with the first event: on its own some clients would report an empty event.
        self._retry: str = f"retry: {RETRY_MS}\n"

    async def emit(self, kind: str, frame: str) -> None:
        if kind == "heartbeat":
            await self._write(": heartbeat\n\n")
            return
        retry, self._retry = self._retry, ""
        if kind in ("error", "connected"):
            await self._write(f"{retry}event: {kind}\ndata: {frame}\n\n")
        else:
            # Frames are single-line JSON: one data line per event.
            event_id = format_event_id(self.positions())
            await self._write(f"{retry}id: {event_id}\nevent: {kind}\ndata: {frame}\n\n")

    async def _write(self, text: str) -> None:
        assert self.send is not None, "the response has not started"
        await self.send(text.encode())


class EventStreamResponse(Response):
    """A ``text/event-stream`` fed by ``run(send)`` until it returns or the client leaves."""

    media_type = "text/event-stream"

    def __init__(self, run: Callable[[SendBytes], Awaitable[None]] | None = None) -> None:
        # No Response.__init__: it would add a Content-Length to an endless body.
        self.status_code = 200
        self.background = None
        self._run = run
        # No proxy buffering: an event must reach the client when it is sent.
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )

        async def write(chunk: bytes) -> None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

        async def disconnected() -> None:
            while True:
                message: Any = await receive()
                if message["type"] == "http.disconnect":
                    return

        jobs = [asyncio.ensure_future(disconnected())]
        if self._run is not None:
            jobs.append(asyncio.ensure_future(self._run(write)))
        try:
            await asyncio.wait(jobs, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for job in jobs:
                job.cancel()
            results = await asyncio.gather(*jobs, return_exceptions=True)
        with contextlib.suppress(OSError, RuntimeError):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        for result in results:
            if isinstance(result, Exception) and not isinstance(result, OSError):
                raise result
