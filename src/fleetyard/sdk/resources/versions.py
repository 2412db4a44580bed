"""An app's immutable versions: ``client.versions``.

Versions are named by a *ref*: ``3``, ``"#3"``, ``"v3"``, ``"ver_…"``,
``"current"``, ``"previous"`` or ``"first"``.
"""

from __future__ import annotations

from typing import Unpack

from fleetyard.protocol.common import Page
from fleetyard.protocol.software import FileEntry, Version, VersionDiff
from fleetyard.sdk._operation import Operation
from fleetyard.sdk._pagination import AsyncPager, SyncPager
from fleetyard.sdk._types import ReadOptions, WriteOptions
from fleetyard.sdk.resources._base import (
    AsyncAPIResource,
    SyncAPIResource,
    async_raw_method,
    raw_method,
)
from fleetyard.sdk.resources.apps import app_path, version_ref

__all__ = ["AsyncVersions", "AsyncVersionsWithRawResponse", "Versions", "VersionsWithRawResponse"]

VersionRefLike = int | str
"""A version: its number (``3``, ``"#3"``, ``"v3"``), id, or ``current``/``previous``/``first``."""


def _path(app_id: str, ref: VersionRefLike | None = None) -> str:
    base = f"{app_path(app_id)}/versions"
    return base if ref is None else f"{base}/{version_ref(ref)}"


def _list_page(app_id: str, cursor: str | None, limit: int | None) -> Operation[Page[Version]]:
    params = {"cursor": cursor, "limit": limit}
    return Operation("GET", _path(app_id), Page[Version], params=params)


def _get(app_id: str, ref: VersionRefLike) -> Operation[Version]:
    return Operation("GET", _path(app_id, ref), Version)


def _patch(app_id: str, ref: VersionRefLike, description: str) -> Operation[Version]:
    return Operation("PATCH", _path(app_id, ref), Version, json={"description": description})


def _files_page(
    app_id: str, ref: VersionRefLike, cursor: str | None, limit: int | None
) -> Operation[Page[FileEntry]]:
    params = {"cursor": cursor, "limit": limit}
    return Operation("GET", f"{_path(app_id, ref)}/files", Page[FileEntry], params=params)


def _diff(app_id: str, ref: VersionRefLike, against: VersionRefLike) -> Operation[VersionDiff]:
    params = {"against": str(against)}
    return Operation("GET", f"{_path(app_id, ref)}/diff", VersionDiff, params=params)


class Versions(SyncAPIResource):
    """An app's versions, newest first.

    Example::

        for version in client.versions.list("app_kiosk"):
            print(version.number, version.description)
    """

    def list(
        self, app_id: str, *, limit: int | None = None, **options: Unpack[ReadOptions]
    ) -> SyncPager[Version]:
        """Every version of an app, newest first.

        Example::

            numbers = [v.number for v in client.versions.list("app_kiosk")]
        """
        return SyncPager(lambda cursor: self.list_page(app_id, cursor, limit=limit, **options))

    def list_page(
        self,
        app_id: str,
        cursor: str | None = None,
        *,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Version]:
        """One page of an app's versions.

        Example::

            page = client.versions.list_page("app_kiosk", limit=10)
        """
        return self._send(_list_page(app_id, cursor, limit), options)

    def get(
        self, app_id: str, ref: VersionRefLike = "current", **options: Unpack[ReadOptions]
    ) -> Version:
        """One version, with its manifest.

        Example::

            version = client.versions.get("app_kiosk", "v3")
        """
        return self._send(_get(app_id, ref), options)

    def patch(
        self,
        app_id: str,
        ref: VersionRefLike,
        *,
        description: str,
        **options: Unpack[WriteOptions],
    ) -> Version:
        """Change a version's description (nothing else of a version changes).

        Example::

            client.versions.patch("app_kiosk", 3, description="hotfix")
        """
        return self._send(_patch(app_id, ref, description), options)

    def files(
        self,
        app_id: str,
        ref: VersionRefLike = "current",
        *,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> SyncPager[FileEntry]:
        """The entries of a version, by path.

        Example::

            for entry in client.versions.files("app_kiosk", "v2"):
                print(entry.path, entry.size)
        """
        return SyncPager(
            lambda cursor: self._send(_files_page(app_id, ref, cursor, limit), options)
        )

    def diff(
        self,
        app_id: str,
        ref: VersionRefLike = "current",
        *,
        against: VersionRefLike = "previous",
        **options: Unpack[ReadOptions],
    ) -> VersionDiff:
        """What changed from ``against`` to ``ref``.

        Example::

            diff = client.versions.diff("app_kiosk", "v3", against="v1")
        """
        return self._send(_diff(app_id, ref, against), options)


class AsyncVersions(AsyncAPIResource):
    """An app's versions, newest first.

    Example::

        async for version in client.versions.list("app_kiosk"):
            print(version.number)
    """

    def list(
        self, app_id: str, *, limit: int | None = None, **options: Unpack[ReadOptions]
    ) -> AsyncPager[Version]:
        """Every version of an app, newest first.

        Example::

            numbers = [v.number async for v in client.versions.list("app_kiosk")]
        """
        return AsyncPager(lambda cursor: self.list_page(app_id, cursor, limit=limit, **options))

    async def list_page(
        self,
        app_id: str,
        cursor: str | None = None,
        *,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Version]:
        """One page of an app's versions.

        Example::

            page = await client.versions.list_page("app_kiosk")
        """
        return await self._send(_list_page(app_id, cursor, limit), options)

    async def get(
        self, app_id: str, ref: VersionRefLike = "current", **options: Unpack[ReadOptions]
    ) -> Version:
        """One version, with its manifest.

        Example::

            version = await client.versions.get("app_kiosk", "v3")
        """
        return await self._send(_get(app_id, ref), options)

    async def patch(
        self,
        app_id: str,
        ref: VersionRefLike,
        *,
        description: str,
        **options: Unpack[WriteOptions],
    ) -> Version:
        """Change a version's description.

        Example::

            await client.versions.patch("app_kiosk", 3, description="hotfix")
        """
        return await self._send(_patch(app_id, ref, description), options)

    def files(
        self,
        app_id: str,
        ref: VersionRefLike = "current",
        *,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> AsyncPager[FileEntry]:
        """The entries of a version, by path.

        Example::

            async for entry in client.versions.files("app_kiosk"):
                print(entry.path)
        """

        async def fetch(cursor: str | None) -> Page[FileEntry]:
            return await self._send(_files_page(app_id, ref, cursor, limit), options)

        return AsyncPager(fetch)

    async def diff(
        self,
        app_id: str,
        ref: VersionRefLike = "current",
        *,
        against: VersionRefLike = "previous",
        **options: Unpack[ReadOptions],
    ) -> VersionDiff:
        """What changed from ``against`` to ``ref``.

        Example::

            diff = await client.versions.diff("app_kiosk")
        """
        return await self._send(_diff(app_id, ref, against), options)


class VersionsWithRawResponse:
    """``client.with_raw_response.versions``.

    Example::

        raw = client.with_raw_response.versions.get("app_kiosk", "current")
    """

    def __init__(self, versions: Versions) -> None:
        self.list_page = raw_method(versions.list_page)
        self.get = raw_method(versions.get)
        self.patch = raw_method(versions.patch)
        self.diff = raw_method(versions.diff)


class AsyncVersionsWithRawResponse:
    """``client.with_raw_response.versions`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.versions.get("app_kiosk")
    """

    def __init__(self, versions: AsyncVersions) -> None:
        self.list_page = async_raw_method(versions.list_page)
        self.get = async_raw_method(versions.get)
        self.patch = async_raw_method(versions.patch)
        self.diff = async_raw_method(versions.diff)
