"""Any route, with the client's base URL, credentials, retries and errors: ``client.http``.

For routes this SDK does not model yet. Answers are :class:`httpx2.Response`;
error statuses raise the usual exceptions (the response is on ``exc.response``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Unpack

import httpx2

from fleetyard.sdk._operation import Operation, QueryValue
from fleetyard.sdk._types import WriteOptions
from fleetyard.sdk.resources._base import AsyncAPIResource, SyncAPIResource

__all__ = ["AsyncRawHTTP", "RawHTTP"]


def _operation(
    method: str,
    path: str,
    params: Mapping[str, QueryValue] | None,
    json: Any,
    content: bytes | None,
) -> Operation[httpx2.Response]:
    # A path, never a URL: credentials must not follow a call to another host.
    if not path.startswith("/") or path.startswith("//"):
        raise ValueError(f"path must start with a single '/', got {path!r}")
    return Operation(
        method.upper(), path, httpx2.Response, params=params, json=json, content=content
    )


class RawHTTP(SyncAPIResource):
    """Plain HTTP calls against the API: the escape hatch.

    Example::

        response = client.http.post("/v1/things", json={"name": "x"})
        print(response.status_code, response.json())
    """

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, QueryValue] | None = None,
        json: Any = None,
        content: bytes | None = None,
        **options: Unpack[WriteOptions],
    ) -> httpx2.Response:
        """Send ``method path`` (relative to the base URL, e.g. ``/v1/sites``).

        Example::

            response = client.http.request("PUT", "/v1/things/1", json={"on": True})
        """
        return self._send(_operation(method, path, params, json, content), options)

    def get(
        self,
        path: str,
        *,
        params: Mapping[str, QueryValue] | None = None,
        **options: Unpack[WriteOptions],
    ) -> httpx2.Response:
        """``GET path``.

        Example::

            items = client.http.get("/v1/sites", params={"limit": 5}).json()["items"]
        """
        return self.request("GET", path, params=params, **options)

    def post(
        self,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, QueryValue] | None = None,
        **options: Unpack[WriteOptions],
    ) -> httpx2.Response:
        """``POST path`` (with an ``Idempotency-Key``, like every write).

        Example::

            client.http.post("/v1/sites", json={"name": "Depot"})
        """
        return self.request("POST", path, params=params, json=json, content=content, **options)

    def patch(
        self,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, QueryValue] | None = None,
        **options: Unpack[WriteOptions],
    ) -> httpx2.Response:
        """``PATCH path``.

        Example::

            client.http.patch("/v1/sites/site_01…", json={"name": "Depot North"})
        """
        return self.request("PATCH", path, params=params, json=json, content=content, **options)

    def put(
        self,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, QueryValue] | None = None,
        **options: Unpack[WriteOptions],
    ) -> httpx2.Response:
        """``PUT path``.

        Example::

            client.http.put("/v1/things/1", content=b"...")
        """
        return self.request("PUT", path, params=params, json=json, content=content, **options)

    def delete(
        self,
        path: str,
        *,
        params: Mapping[str, QueryValue] | None = None,
        **options: Unpack[WriteOptions],
    ) -> httpx2.Response:
        """``DELETE path``.

        Example::

            client.http.delete("/v1/users/usr_01…")
        """
        return self.request("DELETE", path, params=params, **options)


class AsyncRawHTTP(AsyncAPIResource):
    """Plain HTTP calls against the API: the escape hatch.

    Example::

        response = await client.http.get("/v1/anything")
    """

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, QueryValue] | None = None,
        json: Any = None,
        content: bytes | None = None,
        **options: Unpack[WriteOptions],
    ) -> httpx2.Response:
        """Send ``method path`` (relative to the base URL, e.g. ``/v1/sites``).

        Example::

            response = await client.http.request("PUT", "/v1/things/1", json={"on": True})
        """
        return await self._send(_operation(method, path, params, json, content), options)

    async def get(
        self,
        path: str,
        *,
        params: Mapping[str, QueryValue] | None = None,
        **options: Unpack[WriteOptions],
    ) -> httpx2.Response:
        """``GET path``.

        Example::

            response = await client.http.get("/v1/sites", params={"limit": 5})
        """
        return await self.request("GET", path, params=params, **options)

    async def post(
        self,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, QueryValue] | None = None,
        **options: Unpack[WriteOptions],
    ) -> httpx2.Response:
        """``POST path`` (with an ``Idempotency-Key``, like every write).

        Example::

            await client.http.post("/v1/sites", json={"name": "Depot"})
        """
        return await self.request(
            "POST", path, params=params, json=json, content=content, **options
        )

    async def patch(
        self,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, QueryValue] | None = None,
        **options: Unpack[WriteOptions],
    ) -> httpx2.Response:
        """``PATCH path``.

        Example::

            await client.http.patch("/v1/sites/site_01…", json={"name": "Depot North"})
        """
        return await self.request(
            "PATCH", path, params=params, json=json, content=content, **options
        )

    async def put(
        self,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, QueryValue] | None = None,
        **options: Unpack[WriteOptions],
    ) -> httpx2.Response:
        """``PUT path``.

        Example::

            await client.http.put("/v1/things/1", content=b"...")
        """
        return await self.request("PUT", path, params=params, json=json, content=content, **options)

    async def delete(
        self,
        path: str,
        *,
        params: Mapping[str, QueryValue] | None = None,
        **options: Unpack[WriteOptions],
    ) -> httpx2.Response:
        """``DELETE path``.

        Example::

            await client.http.delete("/v1/users/usr_01…")
        """
        return await self.request("DELETE", path, params=params, **options)
