"""``/v1/users``: people of the organisation, their roles and sites."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from fleetyard.protocol.common import Deleted, Page
from fleetyard.protocol.identity import User, UserCreate, UserSites
from fleetyard.server.api.auth import require
from fleetyard.server.api.deps import DB
from fleetyard.server.api.pagination import Pagination, to_page
from fleetyard.server.api.routes._shared import SCOPED, SCOPED_ONE, ResourceId, problems
from fleetyard.server.services import users
from fleetyard.server.services.auth import Principal

router = APIRouter(prefix="/v1/users", tags=["users"])

UsersRead = Annotated[Principal, Depends(require("user", "read"))]
UsersAdmin = Annotated[Principal, Depends(require("user", "admin"))]
UserRead = Annotated[Principal, Depends(require("user", "read", "user_id"))]
UserAdmin = Annotated[Principal, Depends(require("user", "admin", "user_id"))]


@router.get("", response_model=Page[User], summary="List users", responses=problems(400, *SCOPED))
async def list_users(
    principal: UsersRead,
    database: DB,
    page: Pagination,
    site_id: Annotated[
        str | None,
        Query(max_length=64, pattern=r"^[A-Za-z0-9_\-]+$", description="Only members of a site."),
    ] = None,
) -> Page[User]:
    """Users ordered by id. Scope ``user:*:read``."""
    return to_page(await users.list_users(database, principal, page, site_id=site_id))


@router.post(
    "",
    status_code=201,
    response_model=User,
    summary="Create a user",
    responses=problems(*SCOPED, 404, 409),
)
async def create_user(principal: UsersAdmin, database: DB, body: UserCreate) -> User:
    """Invite a user (duplicate email: 409 ``already_exists``). Scope ``user:*:admin``;
    an admin needs ``*:*:admin``, each site ``site:<id>:admin``."""
    return await users.create_user(database, principal, body)


@router.get(
    "/{user_id}", response_model=User, summary="Get a user", responses=problems(*SCOPED_ONE)
)
async def get_user(user_id: ResourceId, principal: UserRead, database: DB) -> User:
    """One user with their sites. Scope ``user:{user_id}:read``."""
    return await users.get_user(database, principal, user_id)


@router.delete(
    "/{user_id}",
    response_model=Deleted,
    summary="Delete a user",
    responses=problems(*SCOPED_ONE, 409),
)
async def delete_user(user_id: ResourceId, principal: UserAdmin, database: DB) -> Deleted:
    """Delete a user and their credentials; not yourself, not the last admin.
    Scope ``user:{user_id}:admin`` (``*:*:admin`` for an admin)."""
    return await users.delete_user(database, principal, user_id)


@router.post(
    "/{user_id}/promote",
    response_model=User,
    summary="Make a user an admin",
    responses=problems(*SCOPED_ONE),
)
async def promote_user(user_id: ResourceId, principal: UserAdmin, database: DB) -> User:
    """Make the user an admin. Scope ``*:*:admin``."""
    return await users.promote(database, principal, user_id)


@router.post(
    "/{user_id}/demote",
    response_model=User,
    summary="Make an admin a member",
    responses=problems(*SCOPED_ONE, 409),
)
async def demote_user(user_id: ResourceId, principal: UserAdmin, database: DB) -> User:
    """Make an admin a member again; the last admin stays (409). Scope ``*:*:admin``."""
    return await users.demote(database, principal, user_id)


@router.post(
    "/{user_id}/sites",
    response_model=User,
    summary="Add a user to sites",
    responses=problems(*SCOPED_ONE),
)
async def add_user_sites(
    user_id: ResourceId, principal: UserAdmin, database: DB, body: UserSites
) -> User:
    """Add the user to each site as an operator (unknown site: 404).
    Scope ``user:{user_id}:admin`` and ``site:<id>:admin`` for each site."""
    return await users.add_sites(database, principal, user_id, body.site_ids)


@router.post(
    "/{user_id}/sites/remove",
    response_model=User,
    summary="Remove a user from sites",
    responses=problems(*SCOPED_ONE),
)
async def remove_user_sites(
    user_id: ResourceId, principal: UserAdmin, database: DB, body: UserSites
) -> User:
    """Take the user out of sites. Scope ``user:{user_id}:admin`` and ``site:<id>:admin``."""
    return await users.remove_sites(database, principal, user_id, body.site_ids)
