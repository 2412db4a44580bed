"""Who works in a site and with which role: ``client.members(site_id)``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from fleetyard.protocol.common import Deleted, Page
from fleetyard.protocol.identity import MemberRole, SiteMember
from fleetyard.sdk._operation import Operation, path_param
from fleetyard.sdk._pagination import AsyncPager, SyncPager
from fleetyard.sdk._types import ReadOptions, WriteOptions
from fleetyard.sdk.resources._base import (
    AsyncAPIResource,
    SyncAPIResource,
    async_raw_method,
    raw_method,
)

if TYPE_CHECKING:
    from fleetyard.sdk._client import AsyncClient, Client

__all__ = ["AsyncMembers", "AsyncMembersWithRawResponse", "Members", "MembersWithRawResponse"]


def _base(site_id: str) -> str:
    return f"/v1/sites/{path_param(site_id, 'site_id')}/members"


def _list_page(site_id: str, cursor: str | None, limit: int | None) -> Operation[Page[SiteMember]]:
    return Operation(
        "GET", _base(site_id), Page[SiteMember], params={"cursor": cursor, "limit": limit}
    )


def _add(site_id: str, user_id: str, role: MemberRole | str) -> Operation[SiteMember]:
    return Operation(
        "POST", _base(site_id), SiteMember, json={"user_id": user_id, "role": str(role)}
    )


def _remove(site_id: str, user_id: str) -> Operation[Deleted]:
    return Operation("DELETE", f"{_base(site_id)}/{path_param(user_id, 'user_id')}", Deleted)


class Members(SyncAPIResource):
    """The members of one site (``client.members(site_id)``).

    Example::

        members = client.members("site_01…")
        members.add("usr_01…", role="manager")
        print([m.email for m in members.list()])
    """

    def __init__(self, client: Client, site_id: str, *, raw: bool = False) -> None:
        super().__init__(client, raw=raw)
        path_param(site_id, "site_id")  # fail here, not at the first call
        self.site_id = site_id

    def list(
        self, limit: int | None = None, **options: Unpack[ReadOptions]
    ) -> SyncPager[SiteMember]:
        """Every member of the site, fetched ``limit`` per page as you iterate.

        Example::

            emails = [m.email for m in client.members("site_01…").list()]
        """
        return SyncPager(lambda cursor: self.list_page(cursor, limit, **options))

    def list_page(
        self,
        cursor: str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[SiteMember]:
        """One page of members; pass its ``next_cursor`` back for the next one.

        Example::

            page = client.members("site_01…").list_page(limit=20)
        """
        return self._send(_list_page(self.site_id, cursor, limit), options)

    def add(
        self,
        user_id: str,
        *,
        role: MemberRole | str = MemberRole.OPERATOR,
        **options: Unpack[WriteOptions],
    ) -> SiteMember:
        """Add a user to the site (``viewer``, ``operator`` or ``manager``).

        Example::

            client.members("site_01…").add("usr_01…", role="viewer")
        """
        return self._send(_add(self.site_id, user_id, role), options)

    def remove(self, user_id: str, **options: Unpack[WriteOptions]) -> Deleted:
        """Take a user out of the site.

        Example::

            client.members("site_01…").remove("usr_01…")
        """
        return self._send(_remove(self.site_id, user_id), options)


class AsyncMembers(AsyncAPIResource):
    """The members of one site (``client.members(site_id)``).

    Example::

        members = client.members("site_01…")
        await members.add("usr_01…", role="manager")
        async for member in members.list():
            print(member.email)
    """

    def __init__(self, client: AsyncClient, site_id: str, *, raw: bool = False) -> None:
        super().__init__(client, raw=raw)
        path_param(site_id, "site_id")  # fail here, not at the first call
        self.site_id = site_id

    def list(
        self, limit: int | None = None, **options: Unpack[ReadOptions]
    ) -> AsyncPager[SiteMember]:
        """Every member of the site, fetched ``limit`` per page as you iterate.

        Example::

            emails = [m.email async for m in client.members("site_01…").list()]
        """
        return AsyncPager(lambda cursor: self.list_page(cursor, limit, **options))

    async def list_page(
        self,
        cursor: str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[SiteMember]:
        """One page of members; pass its ``next_cursor`` back for the next one.

        Example::

            page = await client.members("site_01…").list_page(limit=20)
        """
        return await self._send(_list_page(self.site_id, cursor, limit), options)

    async def add(
        self,
        user_id: str,
        *,
        role: MemberRole | str = MemberRole.OPERATOR,
        **options: Unpack[WriteOptions],
    ) -> SiteMember:
        """Add a user to the site (``viewer``, ``operator`` or ``manager``).

        Example::

            await client.members("site_01…").add("usr_01…", role="viewer")
        """
        return await self._send(_add(self.site_id, user_id, role), options)

    async def remove(self, user_id: str, **options: Unpack[WriteOptions]) -> Deleted:
        """Take a user out of the site.

        Example::

            await client.members("site_01…").remove("usr_01…")
        """
        return await self._send(_remove(self.site_id, user_id), options)


class MembersWithRawResponse:
    """``client.with_raw_response.members(site_id)``: the same calls, answering RawResponse.

    Example::

        raw = client.with_raw_response.members("site_01…").add("usr_01…")
        print(raw.status_code)
    """

    def __init__(self, members: Members) -> None:
        self.site_id = members.site_id
        self.list_page = raw_method(members.list_page)
        self.add = raw_method(members.add)
        self.remove = raw_method(members.remove)


class AsyncMembersWithRawResponse:
    """``client.with_raw_response.members(site_id)`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.members("site_01…").remove("usr_01…")
    """

    def __init__(self, members: AsyncMembers) -> None:
        self.site_id = members.site_id
        self.list_page = async_raw_method(members.list_page)
        self.add = async_raw_method(members.add)
        self.remove = async_raw_method(members.remove)
