"""Who is calling, and what they own: ``client.account``."""

from __future__ import annotations

from functools import cached_property
from typing import Unpack

from fleetyard.protocol.identity import ApiVersionInfo, Principal
from fleetyard.sdk._operation import Operation
from fleetyard.sdk._types import ReadOptions
from fleetyard.sdk.resources._base import (
    AsyncAPIResource,
    SyncAPIResource,
    async_raw_method,
    raw_method,
)
from fleetyard.sdk.resources.api_keys import (
    ApiKeys,
    ApiKeysWithRawResponse,
    AsyncApiKeys,
    AsyncApiKeysWithRawResponse,
)
from fleetyard.sdk.resources.service_clients import (
    AsyncServiceClients,
    AsyncServiceClientsWithRawResponse,
    ServiceClients,
    ServiceClientsWithRawResponse,
)
from fleetyard.sdk.resources.totp import (
    AsyncTotp,
    AsyncTotpWithRawResponse,
    Totp,
    TotpWithRawResponse,
)

__all__ = ["Account", "AccountWithRawResponse", "AsyncAccount", "AsyncAccountWithRawResponse"]


def _whoami() -> Operation[Principal]:
    return Operation("GET", "/v1/account", Principal)


def _version() -> Operation[ApiVersionInfo]:
    return Operation("GET", "/v1/account/version", ApiVersionInfo)


class Account(SyncAPIResource):
    """The calling principal, its API keys, service clients and two-factor setup.

    Example::

        me = client.account.whoami()
        print(me.kind, me.org.name, me.scopes)
    """

    def whoami(self, **options: Unpack[ReadOptions]) -> Principal:
        """``GET /v1/account``: who is calling (user, API key or service client) and their scopes.

        Example::

            print(client.account.whoami().org.id)
        """
        return self._send(_whoami(), options)

    def version(self, **options: Unpack[ReadOptions]) -> ApiVersionInfo:
        """The API version this client was served with, and the versions the server supports.

        Example::

            info = client.account.version()
            assert info.served == fleetyard.protocol.API_VERSION
        """
        return self._send(_version(), options)

    @cached_property
    def api_keys(self) -> ApiKeys:
        """API keys: list, create, rotate, revoke."""
        return ApiKeys(self._client, raw=self._raw)

    @cached_property
    def service_clients(self) -> ServiceClients:
        """Service clients: list, create, revoke."""
        return ServiceClients(self._client, raw=self._raw)

    @cached_property
    def totp(self) -> Totp:
        """Two-factor login: setup, confirm, disable."""
        return Totp(self._client, raw=self._raw)


class AsyncAccount(AsyncAPIResource):
    """The calling principal, its API keys, service clients and two-factor setup.

    Example::

        me = await client.account.whoami()
    """

    async def whoami(self, **options: Unpack[ReadOptions]) -> Principal:
        """``GET /v1/account``: who is calling (user, API key or service client) and their scopes.

        Example::

            print((await client.account.whoami()).org.id)
        """
        return await self._send(_whoami(), options)

    async def version(self, **options: Unpack[ReadOptions]) -> ApiVersionInfo:
        """The API version this client was served with, and the versions the server supports.

        Example::

            info = await client.account.version()
        """
        return await self._send(_version(), options)

    @cached_property
    def api_keys(self) -> AsyncApiKeys:
        """API keys: list, create, rotate, revoke."""
        return AsyncApiKeys(self._client, raw=self._raw)

    @cached_property
    def service_clients(self) -> AsyncServiceClients:
        """Service clients: list, create, revoke."""
        return AsyncServiceClients(self._client, raw=self._raw)

    @cached_property
    def totp(self) -> AsyncTotp:
        """Two-factor login: setup, confirm, disable."""
        return AsyncTotp(self._client, raw=self._raw)


class AccountWithRawResponse:
    """``client.with_raw_response.account``: answers are :class:`RawResponse`.

    Example::

        raw = client.with_raw_response.account.whoami()
        print(raw.request_id)
    """

    def __init__(self, account: Account) -> None:
        self._account = account
        self.whoami = raw_method(account.whoami)
        self.version = raw_method(account.version)

    @cached_property
    def api_keys(self) -> ApiKeysWithRawResponse:
        """Raw-response API keys."""
        return ApiKeysWithRawResponse(self._account.api_keys)

    @cached_property
    def service_clients(self) -> ServiceClientsWithRawResponse:
        """Raw-response service clients."""
        return ServiceClientsWithRawResponse(self._account.service_clients)

    @cached_property
    def totp(self) -> TotpWithRawResponse:
        """Raw-response two-factor calls."""
        return TotpWithRawResponse(self._account.totp)


class AsyncAccountWithRawResponse:
    """``client.with_raw_response.account`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.account.whoami()
    """

    def __init__(self, account: AsyncAccount) -> None:
        self._account = account
        self.whoami = async_raw_method(account.whoami)
        self.version = async_raw_method(account.version)

    @cached_property
    def api_keys(self) -> AsyncApiKeysWithRawResponse:
        """Raw-response API keys."""
        return AsyncApiKeysWithRawResponse(self._account.api_keys)

    @cached_property
    def service_clients(self) -> AsyncServiceClientsWithRawResponse:
        """Raw-response service clients."""
        return AsyncServiceClientsWithRawResponse(self._account.service_clients)

    @cached_property
    def totp(self) -> AsyncTotpWithRawResponse:
        """Raw-response two-factor calls."""
        return AsyncTotpWithRawResponse(self._account.totp)
