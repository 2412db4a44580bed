"""Sites, the groups machines belong to: ``client.sites``."""

from __future__ import annotations

from typing import Any, Unpack

from fleetyard.protocol.common import Page
from fleetyard.protocol.identity import Site
from fleetyard.sdk._operation import Operation, path_param
from fleetyard.sdk._pagination import AsyncPager, SyncPager
from fleetyard.sdk._types import NOT_GIVEN, NotGiven, ReadOptions, WriteOptions
from fleetyard.sdk.resources._base import (
    AsyncAPIResource,
    SyncAPIResource,
    async_raw_method,
    raw_method,
)

__all__ = ["AsyncSites", "AsyncSitesWithRawResponse", "Sites", "SitesWithRawResponse"]


def _list_page(cursor: str | None, limit: int | None) -> Operation[Page[Site]]:
    return Operation("GET", "/v1/sites", Page[Site], params={"cursor": cursor, "limit": limit})


def _get(site_id: str) -> Operation[Site]:
    return Operation("GET", f"/v1/sites/{path_param(site_id, 'site_id')}", Site)


def _create(name: str, description: str | None) -> Operation[Site]:
    body: dict[str, Any] = {"name": name}
    if description is not None:
        body["description"] = description
    return Operation("POST", "/v1/sites", Site, json=body)


def _update(
    site_id: str, name: str | NotGiven, description: str | NotGiven | None
) -> Operation[Site]:
    # Only what was given: None is a value (clear the description), NOT_GIVEN is not.
    body: dict[str, Any] = {}
    if not isinstance(name, NotGiven):
        body["name"] = name
    if not isinstance(description, NotGiven):
        body["description"] = description
    return Operation("PATCH", f"/v1/sites/{path_param(site_id, 'site_id')}", Site, json=body)


class Sites(SyncAPIResource):
    """The organisation's sites.

    Example::

        depot = client.sites.create("Depot", description="North yard")
        for site in client.sites.list():
            print(site.name)
    """

    def list(self, limit: int | None = None, **options: Unpack[ReadOptions]) -> SyncPager[Site]:
        """Every site the caller may see, fetched ``limit`` per page as you iterate.

        Example::

            names = [site.name for site in client.sites.list()]
        """
        return SyncPager(lambda cursor: self.list_page(cursor, limit, **options))

    def list_page(
        self,
        cursor: str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Site]:
        """One page of sites; pass its ``next_cursor`` back for the next one.

        Example::

            page = client.sites.list_page(limit=50)
        """
        return self._send(_list_page(cursor, limit), options)

    def get(self, site_id: str, **options: Unpack[ReadOptions]) -> Site:
        """One site by id.

        Example::

            site = client.sites.get("site_01…")
        """
        return self._send(_get(site_id), options)

    def create(
        self, name: str, *, description: str | None = None, **options: Unpack[WriteOptions]
    ) -> Site:
        """Create a site.

        Example::

            site = client.sites.create("Depot", description="North yard")
        """
        return self._send(_create(name, description), options)

    def update(
        self,
        site_id: str,
        *,
        name: str | NotGiven = NOT_GIVEN,
        description: str | NotGiven | None = NOT_GIVEN,
        **options: Unpack[WriteOptions],
    ) -> Site:
        """Change a site's name and/or description; what is not given stays as it is.

        Example::

            client.sites.update("site_01…", description=None)  # clear the description
        """
        return self._send(_update(site_id, name, description), options)


class AsyncSites(AsyncAPIResource):
    """The organisation's sites.

    Example::

        depot = await client.sites.create("Depot")
        async for site in client.sites.list():
            print(site.name)
    """

    def list(self, limit: int | None = None, **options: Unpack[ReadOptions]) -> AsyncPager[Site]:
        """Every site the caller may see, fetched ``limit`` per page as you iterate.

        Example::

            names = [site.name async for site in client.sites.list()]
        """
        return AsyncPager(lambda cursor: self.list_page(cursor, limit, **options))

    async def list_page(
        self,
        cursor: str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Site]:
        """One page of sites; pass its ``next_cursor`` back for the next one.

        Example::

            page = await client.sites.list_page(limit=50)
        """
        return await self._send(_list_page(cursor, limit), options)

    async def get(self, site_id: str, **options: Unpack[ReadOptions]) -> Site:
        """One site by id.

        Example::

            site = await client.sites.get("site_01…")
        """
        return await self._send(_get(site_id), options)

    async def create(
        self, name: str, *, description: str | None = None, **options: Unpack[WriteOptions]
    ) -> Site:
        """Create a site.

        Example::

            site = await client.sites.create("Depot", description="North yard")
        """
        return await self._send(_create(name, description), options)

    async def update(
        self,
        site_id: str,
        *,
        name: str | NotGiven = NOT_GIVEN,
        description: str | NotGiven | None = NOT_GIVEN,
        **options: Unpack[WriteOptions],
    ) -> Site:
        """Change a site's name and/or description; what is not given stays as it is.

        Example::

            await client.sites.update("site_01…", name="Depot North")
        """
        return await self._send(_update(site_id, name, description), options)


class SitesWithRawResponse:
    """``client.with_raw_response.sites``: the same calls, answering :class:`RawResponse`.

    Example::

        raw = client.with_raw_response.sites.create("Depot")
        print(raw.status_code, raw.parse().id)
    """

    def __init__(self, sites: Sites) -> None:
        self.list_page = raw_method(sites.list_page)
        self.get = raw_method(sites.get)
        self.create = raw_method(sites.create)
        self.update = raw_method(sites.update)


class AsyncSitesWithRawResponse:
    """``client.with_raw_response.sites`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.sites.get("site_01…")
    """

    def __init__(self, sites: AsyncSites) -> None:
        self.list_page = async_raw_method(sites.list_page)
        self.get = async_raw_method(sites.get)
        self.create = async_raw_method(sites.create)
        self.update = async_raw_method(sites.update)
