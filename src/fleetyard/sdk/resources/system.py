"""Server information and health: ``client.system``."""

from __future__ import annotations

from typing import Unpack

from fleetyard.protocol.system import Health, SystemInfo
from fleetyard.sdk._operation import Operation
from fleetyard.sdk._types import ReadOptions
from fleetyard.sdk.resources._base import (
    AsyncAPIResource,
    SyncAPIResource,
    async_raw_method,
    raw_method,
)

__all__ = ["AsyncSystem", "AsyncSystemWithRawResponse", "System", "SystemWithRawResponse"]


def _info() -> Operation[SystemInfo]:
    return Operation("GET", "/v1/system/info", SystemInfo)


def _health() -> Operation[Health]:
    # Health lives outside /v1 so load balancers need no API knowledge.
    return Operation("GET", "/healthz", Health)


class System(SyncAPIResource):
    """What is serving, and whether it is healthy.

    Example::

        print(client.system.info().version)
    """

    def info(self, **options: Unpack[ReadOptions]) -> SystemInfo:
        """``GET /v1/system/info``: server version, API version, database, uptime.

        Example::

            info = client.system.info()
            print(info.version, info.database)
        """
        return self._send(_info(), options)

    def health(self, **options: Unpack[ReadOptions]) -> Health:
        """``GET /healthz``: overall status and per-check results.

        Example::

            assert client.system.health().status == "ok"
        """
        return self._send(_health(), options)


class AsyncSystem(AsyncAPIResource):
    """What is serving, and whether it is healthy.

    Example::

        print((await client.system.info()).version)
    """

    async def info(self, **options: Unpack[ReadOptions]) -> SystemInfo:
        """``GET /v1/system/info``: server version, API version, database, uptime.

        Example::

            info = await client.system.info()
        """
        return await self._send(_info(), options)

    async def health(self, **options: Unpack[ReadOptions]) -> Health:
        """``GET /healthz``: overall status and per-check results.

        Example::

            health = await client.system.health()
        """
        return await self._send(_health(), options)


class SystemWithRawResponse:
    """``client.with_raw_response.system``: the same calls, answering :class:`RawResponse`.

    Example::

        raw = client.with_raw_response.system.info()
        print(raw.request_id, raw.parse().version)
    """

    def __init__(self, system: System) -> None:
        self.info = raw_method(system.info)
        self.health = raw_method(system.health)


class AsyncSystemWithRawResponse:
    """``client.with_raw_response.system`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.system.info()
    """

    def __init__(self, system: AsyncSystem) -> None:
        self.info = async_raw_method(system.info)
        self.health = async_raw_method(system.health)
