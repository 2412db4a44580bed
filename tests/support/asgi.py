"""Drive the real app in-process from synchronous code.

httpx2's ASGITransport is async-only; the sync ``Client`` needs a sync
transport. This one runs the app (and its lifespan) in an anyio blocking
portal, the way Starlette's TestClient does, so the sync SDK talks to the very
same app object as the async one, with no socket.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio.from_thread
import httpx2


class PortalASGITransport(httpx2.BaseTransport):
    def __init__(self, app: Any, portal: anyio.from_thread.BlockingPortal) -> None:
        self._inner = httpx2.ASGITransport(app=app)
        self._portal = portal

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        body = request.read()

        async def call() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            async_request = httpx2.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            response = await self._inner.handle_async_request(async_request)
            content = await response.aread()
            return response.status_code, response.headers.raw, content

        status, headers, content = self._portal.call(call)
        return httpx2.Response(status, headers=headers, content=content, request=request)


@contextmanager
def running_app(app: Any) -> Iterator[PortalASGITransport]:
    """Start ``app``'s lifespan in a background event loop and yield a sync transport to it."""
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(app.router.lifespan_context(app)),
    ):
        yield PortalASGITransport(app, portal)
