"""Sites' chunk storage quotas: ``client.quotas``."""

from __future__ import annotations

from typing import Unpack

from fleetyard.protocol.chunks import Quota, QuotaHistory
from fleetyard.sdk._operation import Operation, path_param
from fleetyard.sdk._types import ReadOptions, WriteOptions
from fleetyard.sdk.resources._base import (
    AsyncAPIResource,
    SyncAPIResource,
    async_raw_method,
    raw_method,
)

__all__ = ["AsyncQuotas", "AsyncQuotasWithRawResponse", "Quotas", "QuotasWithRawResponse"]


def _path(site_id: str) -> str:
    return f"/v1/sites/{path_param(site_id, 'site_id')}/quota"


def _current(site_id: str) -> Operation[Quota]:
    return Operation("GET", _path(site_id), Quota)


def _history(site_id: str) -> Operation[QuotaHistory]:
    return Operation("GET", f"{_path(site_id)}/history", QuotaHistory)


def _set_limit(site_id: str, limit_bytes: int | None) -> Operation[Quota]:
    return Operation("PATCH", _path(site_id), Quota, json={"limit_bytes": limit_bytes})


class Quotas(SyncAPIResource):
    """How many bytes of chunks each site stores, and its limit.

    Example::

        quota = client.quotas.current("site_01…")
        print(quota.used_bytes, quota.limit_bytes)
    """

    def current(self, site_id: str, **options: Unpack[ReadOptions]) -> Quota:
        """A site's bytes used and limit (``None``: unlimited).

        Example::

            used = client.quotas.current("site_01…").used_bytes
        """
        return self._send(_current(site_id), options)

    def history(self, site_id: str, **options: Unpack[ReadOptions]) -> QuotaHistory:
        """Bytes used at the end of each day that saw a change, oldest first.

        Example::

            for day in client.quotas.history("site_01…").items:
                print(day.day, day.used_bytes)
        """
        return self._send(_history(site_id), options)

    def set_limit(
        self, site_id: str, limit_bytes: int | None, **options: Unpack[WriteOptions]
    ) -> Quota:
        """Set a site's limit in bytes (``None`` lifts it); needs admin on the site.

        Example::

            client.quotas.set_limit("site_01…", 10 * 1024**3)
        """
        return self._send(_set_limit(site_id, limit_bytes), options)


class AsyncQuotas(AsyncAPIResource):
    """How many bytes of chunks each site stores, and its limit.

    Example::

        quota = await client.quotas.current("site_01…")
    """

    async def current(self, site_id: str, **options: Unpack[ReadOptions]) -> Quota:
        """A site's bytes used and limit (``None``: unlimited).

        Example::

            used = (await client.quotas.current("site_01…")).used_bytes
        """
        return await self._send(_current(site_id), options)

    async def history(self, site_id: str, **options: Unpack[ReadOptions]) -> QuotaHistory:
        """Bytes used at the end of each day that saw a change, oldest first.

        Example::

            history = await client.quotas.history("site_01…")
        """
        return await self._send(_history(site_id), options)

    async def set_limit(
        self, site_id: str, limit_bytes: int | None, **options: Unpack[WriteOptions]
    ) -> Quota:
        """Set a site's limit in bytes (``None`` lifts it); needs admin on the site.

        Example::

            await client.quotas.set_limit("site_01…", None)
        """
        return await self._send(_set_limit(site_id, limit_bytes), options)


class QuotasWithRawResponse:
    """``client.with_raw_response.quotas``.

    Example::

        raw = client.with_raw_response.quotas.current("site_01…")
    """

    def __init__(self, quotas: Quotas) -> None:
        self.current = raw_method(quotas.current)
        self.history = raw_method(quotas.history)
        self.set_limit = raw_method(quotas.set_limit)


class AsyncQuotasWithRawResponse:
    """``client.with_raw_response.quotas`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.quotas.current("site_01…")
    """

    def __init__(self, quotas: AsyncQuotas) -> None:
        self.current = async_raw_method(quotas.current)
        self.history = async_raw_method(quotas.history)
        self.set_limit = async_raw_method(quotas.set_limit)
