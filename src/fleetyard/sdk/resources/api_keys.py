"""The caller's API keys: ``client.account.api_keys``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Unpack

from fleetyard.protocol.common import Page, format_timestamp
from fleetyard.protocol.identity import ApiKey, ApiKeyCreated, KeyEnvironment
from fleetyard.sdk._operation import Operation, path_param, str_list
from fleetyard.sdk._pagination import AsyncPager, SyncPager
from fleetyard.sdk._types import ReadOptions, WriteOptions
from fleetyard.sdk.resources._base import (
    AsyncAPIResource,
    SyncAPIResource,
    async_raw_method,
    raw_method,
)

__all__ = ["ApiKeys", "ApiKeysWithRawResponse", "AsyncApiKeys", "AsyncApiKeysWithRawResponse"]

_BASE = "/v1/account/api-keys"


def _list_page(cursor: str | None, limit: int | None) -> Operation[Page[ApiKey]]:
    return Operation("GET", _BASE, Page[ApiKey], params={"cursor": cursor, "limit": limit})


def _create(
    name: str,
    scopes: Sequence[str],
    environment: KeyEnvironment | str,
    expires_at: datetime | None,
) -> Operation[ApiKeyCreated]:
    body: dict[str, Any] = {
        "name": name,
        "scopes": str_list(scopes, "scopes"),
        "environment": str(environment),
    }
    if expires_at is not None:
        body["expires_at"] = format_timestamp(expires_at)
    return Operation("POST", _BASE, ApiKeyCreated, json=body)


def _rotate(key_id: str, grace_seconds: int) -> Operation[ApiKeyCreated]:
    path = f"{_BASE}/{path_param(key_id, 'key_id')}/rotate"
    return Operation("POST", path, ApiKeyCreated, json={"grace_seconds": grace_seconds})


def _revoke(key_id: str) -> Operation[ApiKey]:
    return Operation("DELETE", f"{_BASE}/{path_param(key_id, 'key_id')}", ApiKey)


class ApiKeys(SyncAPIResource):
    """API keys (``fy_live_…``/``fy_test_…``) of the calling user or organisation.

    Example::

        key = client.account.api_keys.create("ci", ["site:*:read"])
        print(key.secret)  # shown this once only
    """

    def list(self, limit: int | None = None, **options: Unpack[ReadOptions]) -> SyncPager[ApiKey]:
        """Every key (never the secrets), fetched ``limit`` per page as you iterate.

        Example::

            active = [k for k in client.account.api_keys.list() if k.revoked_at is None]
        """
        return SyncPager(lambda cursor: self.list_page(cursor, limit, **options))

    def list_page(
        self,
        cursor: str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[ApiKey]:
        """One page of keys; pass its ``next_cursor`` back for the next one.

        Example::

            page = client.account.api_keys.list_page(limit=10)
        """
        return self._send(_list_page(cursor, limit), options)

    def create(
        self,
        name: str,
        scopes: Sequence[str],
        *,
        environment: KeyEnvironment | str = KeyEnvironment.LIVE,
        expires_at: datetime | None = None,
        **options: Unpack[WriteOptions],
    ) -> ApiKeyCreated:
        """Create a key with ``resource:id:permission`` scopes; the answer holds the secret.

        Example::

            key = client.account.api_keys.create("deploy bot", ["app:*:deploy"], environment="test")
        """
        return self._send(_create(name, scopes, environment, expires_at), options)

    def rotate(
        self, key_id: str, *, grace_seconds: int = 86_400, **options: Unpack[WriteOptions]
    ) -> ApiKeyCreated:
        """Replace a key by a new one; the old one keeps working ``grace_seconds`` longer.

        Example::

            new = client.account.api_keys.rotate("key_01…", grace_seconds=3600)
        """
        return self._send(_rotate(key_id, grace_seconds), options)

    def revoke(self, key_id: str, **options: Unpack[WriteOptions]) -> ApiKey:
        """Revoke a key at once.

        Example::

            client.account.api_keys.revoke("key_01…")
        """
        return self._send(_revoke(key_id), options)


class AsyncApiKeys(AsyncAPIResource):
    """API keys (``fy_live_…``/``fy_test_…``) of the calling user or organisation.

    Example::

        key = await client.account.api_keys.create("ci", ["site:*:read"])
    """

    def list(self, limit: int | None = None, **options: Unpack[ReadOptions]) -> AsyncPager[ApiKey]:
        """Every key (never the secrets), fetched ``limit`` per page as you iterate.

        Example::

            names = [k.name async for k in client.account.api_keys.list()]
        """
        return AsyncPager(lambda cursor: self.list_page(cursor, limit, **options))

    async def list_page(
        self,
        cursor: str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[ApiKey]:
        """One page of keys; pass its ``next_cursor`` back for the next one.

        Example::

            page = await client.account.api_keys.list_page(limit=10)
        """
        return await self._send(_list_page(cursor, limit), options)

    async def create(
        self,
        name: str,
        scopes: Sequence[str],
        *,
        environment: KeyEnvironment | str = KeyEnvironment.LIVE,
        expires_at: datetime | None = None,
        **options: Unpack[WriteOptions],
    ) -> ApiKeyCreated:
        """Create a key with ``resource:id:permission`` scopes; the answer holds the secret.

        Example::

            key = await client.account.api_keys.create("ci", ["site:*:read"])
        """
        return await self._send(_create(name, scopes, environment, expires_at), options)

    async def rotate(
        self, key_id: str, *, grace_seconds: int = 86_400, **options: Unpack[WriteOptions]
    ) -> ApiKeyCreated:
        """Replace a key by a new one; the old one keeps working ``grace_seconds`` longer.

        Example::

            new = await client.account.api_keys.rotate("key_01…")
        """
        return await self._send(_rotate(key_id, grace_seconds), options)

    async def revoke(self, key_id: str, **options: Unpack[WriteOptions]) -> ApiKey:
        """Revoke a key at once.

        Example::

            await client.account.api_keys.revoke("key_01…")
        """
        return await self._send(_revoke(key_id), options)


class ApiKeysWithRawResponse:
    """``client.with_raw_response.account.api_keys``: answers are :class:`RawResponse`.

    Example::

        raw = client.with_raw_response.account.api_keys.create("ci", ["site:*:read"])
        assert raw.status_code == 201
    """

    def __init__(self, api_keys: ApiKeys) -> None:
        self.list_page = raw_method(api_keys.list_page)
        self.create = raw_method(api_keys.create)
        self.rotate = raw_method(api_keys.rotate)
        self.revoke = raw_method(api_keys.revoke)


class AsyncApiKeysWithRawResponse:
    """``client.with_raw_response.account.api_keys`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.account.api_keys.revoke("key_01…")
    """

    def __init__(self, api_keys: AsyncApiKeys) -> None:
        self.list_page = async_raw_method(api_keys.list_page)
        self.create = async_raw_method(api_keys.create)
        self.rotate = async_raw_method(api_keys.rotate)
        self.revoke = async_raw_method(api_keys.revoke)
