"""Service identities that trade an id and secret for tokens: ``client.account.service_clients``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Unpack

from fleetyard.protocol.common import Page
from fleetyard.protocol.identity import ServiceClient, ServiceClientCreated
from fleetyard.sdk._operation import Operation, path_param, str_list
from fleetyard.sdk._pagination import AsyncPager, SyncPager
from fleetyard.sdk._types import ReadOptions, WriteOptions
from fleetyard.sdk.resources._base import (
    AsyncAPIResource,
    SyncAPIResource,
    async_raw_method,
    raw_method,
)

__all__ = [
    "AsyncServiceClients",
    "AsyncServiceClientsWithRawResponse",
    "ServiceClients",
    "ServiceClientsWithRawResponse",
]

_BASE = "/v1/account/service-clients"


def _list_page(cursor: str | None, limit: int | None) -> Operation[Page[ServiceClient]]:
    return Operation("GET", _BASE, Page[ServiceClient], params={"cursor": cursor, "limit": limit})


def _create(name: str, scopes: Sequence[str]) -> Operation[ServiceClientCreated]:
    body = {"name": name, "scopes": str_list(scopes, "scopes")}
    return Operation("POST", _BASE, ServiceClientCreated, json=body)


def _revoke(client_id: str) -> Operation[ServiceClient]:
    return Operation("DELETE", f"{_BASE}/{path_param(client_id, 'client_id')}", ServiceClient)


class ServiceClients(SyncAPIResource):
    """Service clients: machine identities using the client-credentials grant.

    Example::

        svc = client.account.service_clients.create("ingest", ["channel:*:write"])
        worker = fleetyard.Client(client_id=svc.id, client_secret=svc.secret)
    """

    def list(
        self, limit: int | None = None, **options: Unpack[ReadOptions]
    ) -> SyncPager[ServiceClient]:
        """Every service client, fetched ``limit`` per page as you iterate.

        Example::

            names = [c.name for c in client.account.service_clients.list()]
        """
        return SyncPager(lambda cursor: self.list_page(cursor, limit, **options))

    def list_page(
        self,
        cursor: str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[ServiceClient]:
        """One page of service clients; pass its ``next_cursor`` back for the next one.

        Example::

            page = client.account.service_clients.list_page()
        """
        return self._send(_list_page(cursor, limit), options)

    def create(
        self, name: str, scopes: Sequence[str], **options: Unpack[WriteOptions]
    ) -> ServiceClientCreated:
        """Create a service client; the answer holds its secret, shown this once only.

        Example::

            svc = client.account.service_clients.create("ingest", ["channel:*:write"])
        """
        return self._send(_create(name, scopes), options)

    def revoke(self, client_id: str, **options: Unpack[WriteOptions]) -> ServiceClient:
        """Revoke a service client; its tokens stop working.

        Example::

            client.account.service_clients.revoke("cli_01…")
        """
        return self._send(_revoke(client_id), options)


class AsyncServiceClients(AsyncAPIResource):
    """Service clients: machine identities using the client-credentials grant.

    Example::

        svc = await client.account.service_clients.create("ingest", ["channel:*:write"])
    """

    def list(
        self, limit: int | None = None, **options: Unpack[ReadOptions]
    ) -> AsyncPager[ServiceClient]:
        """Every service client, fetched ``limit`` per page as you iterate.

        Example::

            names = [c.name async for c in client.account.service_clients.list()]
        """
        return AsyncPager(lambda cursor: self.list_page(cursor, limit, **options))

    async def list_page(
        self,
        cursor: str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[ServiceClient]:
        """One page of service clients; pass its ``next_cursor`` back for the next one.

        Example::

            page = await client.account.service_clients.list_page()
        """
        return await self._send(_list_page(cursor, limit), options)

    async def create(
        self, name: str, scopes: Sequence[str], **options: Unpack[WriteOptions]
    ) -> ServiceClientCreated:
        """Create a service client; the answer holds its secret, shown this once only.

        Example::

            svc = await client.account.service_clients.create("ingest", ["channel:*:write"])
        """
        return await self._send(_create(name, scopes), options)

    async def revoke(self, client_id: str, **options: Unpack[WriteOptions]) -> ServiceClient:
        """Revoke a service client; its tokens stop working.

        Example::

            await client.account.service_clients.revoke("cli_01…")
        """
        return await self._send(_revoke(client_id), options)


class ServiceClientsWithRawResponse:
    """``client.with_raw_response.account.service_clients``: answers are :class:`RawResponse`.

    Example::

        raw = client.with_raw_response.account.service_clients.revoke("cli_01…")
    """

    def __init__(self, service_clients: ServiceClients) -> None:
        self.list_page = raw_method(service_clients.list_page)
        self.create = raw_method(service_clients.create)
        self.revoke = raw_method(service_clients.revoke)


class AsyncServiceClientsWithRawResponse:
    """``client.with_raw_response.account.service_clients`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.account.service_clients.list_page()
    """

    def __init__(self, service_clients: AsyncServiceClients) -> None:
        self.list_page = async_raw_method(service_clients.list_page)
        self.create = async_raw_method(service_clients.create)
        self.revoke = async_raw_method(service_clients.revoke)
