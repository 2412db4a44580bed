"""The organisation's users: ``client.users``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Unpack

from fleetyard.protocol.common import Deleted, Page
from fleetyard.protocol.identity import User, UserRole
from fleetyard.sdk._operation import Operation, path_param, str_list
from fleetyard.sdk._pagination import AsyncPager, SyncPager
from fleetyard.sdk._types import ReadOptions, WriteOptions
from fleetyard.sdk.resources._base import (
    AsyncAPIResource,
    SyncAPIResource,
    async_raw_method,
    raw_method,
)

__all__ = ["AsyncUsers", "AsyncUsersWithRawResponse", "Users", "UsersWithRawResponse"]


def _path(user_id: str, suffix: str = "") -> str:
    return f"/v1/users/{path_param(user_id, 'user_id')}{suffix}"


def _list_page(cursor: str | None, limit: int | None, site_id: str | None) -> Operation[Page[User]]:
    params = {"cursor": cursor, "limit": limit, "site_id": site_id}
    return Operation("GET", "/v1/users", Page[User], params=params)


def _create(
    email: str,
    name: str | None,
    password: str | None,
    role: UserRole | str,
    site_ids: Sequence[str],
) -> Operation[User]:
    body: dict[str, Any] = {
        "email": email,
        "role": str(role),
        "site_ids": str_list(site_ids, "site_ids"),
    }
    if name is not None:
        body["name"] = name
    if password is not None:
        body["password"] = password
    return Operation("POST", "/v1/users", User, json=body)


def _post(user_id: str, suffix: str, body: Any = None) -> Operation[User]:
    return Operation("POST", _path(user_id, suffix), User, json=body)


def _sites(site_ids: Sequence[str]) -> dict[str, Any]:
    return {"site_ids": str_list(site_ids, "site_ids")}


class Users(SyncAPIResource):
    """The organisation's users: invite, promote, assign to sites.

    Example::

        user = client.users.create("ada@example.com", site_ids=["site_01…"])
        client.users.promote(user.id)
    """

    def list(
        self,
        limit: int | None = None,
        *,
        site_id: str | None = None,
        **options: Unpack[ReadOptions],
    ) -> SyncPager[User]:
        """Every user (or only the members of ``site_id``), fetched ``limit`` per page.

        Example::

            admins = [u for u in client.users.list() if u.role == "admin"]
        """
        return SyncPager(lambda cursor: self.list_page(cursor, limit, site_id=site_id, **options))

    def list_page(
        self,
        cursor: str | None = None,
        limit: int | None = None,
        *,
        site_id: str | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[User]:
        """One page of users; pass its ``next_cursor`` back for the next one.

        Example::

            page = client.users.list_page(site_id="site_01…")
        """
        return self._send(_list_page(cursor, limit, site_id), options)

    def get(self, user_id: str, **options: Unpack[ReadOptions]) -> User:
        """One user by id.

        Example::

            user = client.users.get("usr_01…")
        """
        return self._send(Operation("GET", _path(user_id), User), options)

    def create(
        self,
        email: str,
        *,
        name: str | None = None,
        password: str | None = None,
        role: UserRole | str = UserRole.MEMBER,
        site_ids: Sequence[str] = (),
        **options: Unpack[WriteOptions],
    ) -> User:
        """Create (invite) a user; without a password they cannot log in yet.

        Example::

            user = client.users.create("ada@example.com", name="Ada", site_ids=["site_01…"])
        """
        return self._send(_create(email, name, password, role, site_ids), options)

    def promote(self, user_id: str, **options: Unpack[WriteOptions]) -> User:
        """Make a user an organisation admin.

        Example::

            client.users.promote("usr_01…")
        """
        return self._send(_post(user_id, "/promote"), options)

    def demote(self, user_id: str, **options: Unpack[WriteOptions]) -> User:
        """Make an admin a plain member again.

        Example::

            client.users.demote("usr_01…")
        """
        return self._send(_post(user_id, "/demote"), options)

    def add_sites(
        self, user_id: str, site_ids: Sequence[str], **options: Unpack[WriteOptions]
    ) -> User:
        """Make a user a member of more sites.

        Example::

            client.users.add_sites("usr_01…", ["site_01…", "site_02…"])
        """
        return self._send(_post(user_id, "/sites", _sites(site_ids)), options)

    def remove_sites(
        self, user_id: str, site_ids: Sequence[str], **options: Unpack[WriteOptions]
    ) -> User:
        """Take a user out of some sites.

        Example::

            client.users.remove_sites("usr_01…", ["site_02…"])
        """
        return self._send(_post(user_id, "/sites/remove", _sites(site_ids)), options)

    def delete(self, user_id: str, **options: Unpack[WriteOptions]) -> Deleted:
        """Delete a user.

        Example::

            assert client.users.delete("usr_01…").deleted
        """
        return self._send(Operation("DELETE", _path(user_id), Deleted), options)


class AsyncUsers(AsyncAPIResource):
    """The organisation's users: invite, promote, assign to sites.

    Example::

        user = await client.users.create("ada@example.com", site_ids=["site_01…"])
        await client.users.promote(user.id)
    """

    def list(
        self,
        limit: int | None = None,
        *,
        site_id: str | None = None,
        **options: Unpack[ReadOptions],
    ) -> AsyncPager[User]:
        """Every user (or only the members of ``site_id``), fetched ``limit`` per page.

        Example::

            emails = [u.email async for u in client.users.list(site_id="site_01…")]
        """
        return AsyncPager(lambda cursor: self.list_page(cursor, limit, site_id=site_id, **options))

    async def list_page(
        self,
        cursor: str | None = None,
        limit: int | None = None,
        *,
        site_id: str | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[User]:
        """One page of users; pass its ``next_cursor`` back for the next one.

        Example::

            page = await client.users.list_page(limit=100)
        """
        return await self._send(_list_page(cursor, limit, site_id), options)

    async def get(self, user_id: str, **options: Unpack[ReadOptions]) -> User:
        """One user by id.

        Example::

            user = await client.users.get("usr_01…")
        """
        return await self._send(Operation("GET", _path(user_id), User), options)

    async def create(
        self,
        email: str,
        *,
        name: str | None = None,
        password: str | None = None,
        role: UserRole | str = UserRole.MEMBER,
        site_ids: Sequence[str] = (),
        **options: Unpack[WriteOptions],
    ) -> User:
        """Create (invite) a user; without a password they cannot log in yet.

        Example::

            user = await client.users.create("ada@example.com", role="admin")
        """
        return await self._send(_create(email, name, password, role, site_ids), options)

    async def promote(self, user_id: str, **options: Unpack[WriteOptions]) -> User:
        """Make a user an organisation admin.

        Example::

            await client.users.promote("usr_01…")
        """
        return await self._send(_post(user_id, "/promote"), options)

    async def demote(self, user_id: str, **options: Unpack[WriteOptions]) -> User:
        """Make an admin a plain member again.

        Example::

            await client.users.demote("usr_01…")
        """
        return await self._send(_post(user_id, "/demote"), options)

    async def add_sites(
        self, user_id: str, site_ids: Sequence[str], **options: Unpack[WriteOptions]
    ) -> User:
        """Make a user a member of more sites.

        Example::

            await client.users.add_sites("usr_01…", ["site_01…"])
        """
        return await self._send(_post(user_id, "/sites", _sites(site_ids)), options)

    async def remove_sites(
        self, user_id: str, site_ids: Sequence[str], **options: Unpack[WriteOptions]
    ) -> User:
        """Take a user out of some sites.

        Example::

            await client.users.remove_sites("usr_01…", ["site_01…"])
        """
        return await self._send(_post(user_id, "/sites/remove", _sites(site_ids)), options)

    async def delete(self, user_id: str, **options: Unpack[WriteOptions]) -> Deleted:
        """Delete a user.

        Example::

            await client.users.delete("usr_01…")
        """
        return await self._send(Operation("DELETE", _path(user_id), Deleted), options)


class UsersWithRawResponse:
    """``client.with_raw_response.users``: the same calls, answering :class:`RawResponse`.

    Example::

        raw = client.with_raw_response.users.create("ada@example.com")
        print(raw.status_code, raw.parse().id)
    """

    def __init__(self, users: Users) -> None:
        self.list_page = raw_method(users.list_page)
        self.get = raw_method(users.get)
        self.create = raw_method(users.create)
        self.promote = raw_method(users.promote)
        self.demote = raw_method(users.demote)
        self.add_sites = raw_method(users.add_sites)
        self.remove_sites = raw_method(users.remove_sites)
        self.delete = raw_method(users.delete)


class AsyncUsersWithRawResponse:
    """``client.with_raw_response.users`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.users.get("usr_01…")
    """

    def __init__(self, users: AsyncUsers) -> None:
        self.list_page = async_raw_method(users.list_page)
        self.get = async_raw_method(users.get)
        self.create = async_raw_method(users.create)
        self.promote = async_raw_method(users.promote)
        self.demote = async_raw_method(users.demote)
        self.add_sites = async_raw_method(users.add_sites)
        self.remove_sites = async_raw_method(users.remove_sites)
        self.delete = async_raw_method(users.delete)
