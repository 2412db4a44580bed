"""Iterate lists page by page or item by item: ``?limit=&cursor=`` → ``{items, next_cursor}``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Generic, TypeVar

from fleetyard.protocol.common import Page
from fleetyard.sdk._exceptions import FleetyardError

__all__ = ["AsyncPager", "SyncPager"]

T = TypeVar("T")


class _Cursors:
    """Which cursor comes next; refuses to loop forever if the server repeats one."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def after(self, page: Page[T]) -> str | None:
        cursor = page.next_cursor
        if not cursor:
            return None
        if cursor in self._seen:
            raise FleetyardError(f"the server returned cursor {cursor!r} twice; stopping")
        self._seen.add(cursor)
        return cursor


class SyncPager(Generic[T]):
    """All items of a list, fetched one page at a time as you iterate.

    Nothing is requested until iteration starts; iterating again starts over.

    Example::

        for site in client.sites.list():
            print(site.name)

        for page in client.sites.list(limit=100).pages():
            print(len(page.items), page.next_cursor)
    """

    def __init__(self, fetch: Callable[[str | None], Page[T]]) -> None:
        self._fetch = fetch

    def pages(self) -> Iterator[Page[T]]:
        """Iterate whole pages (each a :class:`~fleetyard.protocol.Page`)."""
        cursors = _Cursors()
        cursor: str | None = None
        while True:
            page = self._fetch(cursor)
            yield page
            cursor = cursors.after(page)
            if cursor is None:
                return

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.items


class AsyncPager(Generic[T]):
    """All items of a list, fetched one page at a time as you ``async for`` over it.

    Example::

        async for site in client.sites.list():
            print(site.name)

        async for page in client.sites.list(limit=100).pages():
            print(len(page.items))
    """

    def __init__(self, fetch: Callable[[str | None], Awaitable[Page[T]]]) -> None:
        self._fetch = fetch

    async def pages(self) -> AsyncIterator[Page[T]]:
        """Iterate whole pages (each a :class:`~fleetyard.protocol.Page`)."""
        cursors = _Cursors()
        cursor: str | None = None
        while True:
            page = await self._fetch(cursor)
            yield page
            cursor = cursors.after(page)
            if cursor is None:
                return

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.items:
                yield item
