"""``/v1/sites/{site_id}/members``: who works in a site, with which role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from fleetyard.protocol.common import Deleted, Page
from fleetyard.protocol.identity import MemberAdd, SiteMember
from fleetyard.server.api.auth import require
from fleetyard.server.api.deps import DB
from fleetyard.server.api.pagination import Pagination, to_page
from fleetyard.server.api.routes._shared import SCOPED_ONE, ResourceId, problems
from fleetyard.server.services import members
from fleetyard.server.services.auth import Principal

router = APIRouter(prefix="/v1/sites/{site_id}/members", tags=["sites"])

SiteRead = Annotated[Principal, Depends(require("site", "read", "site_id"))]
SiteAdmin = Annotated[Principal, Depends(require("site", "admin", "site_id"))]


@router.get(
    "",
    response_model=Page[SiteMember],
    summary="List members of a site",
    responses=problems(400, *SCOPED_ONE),
)
async def list_members(
    site_id: ResourceId, principal: SiteRead, database: DB, page: Pagination
) -> Page[SiteMember]:
    """Members ordered by user id. Scope ``site:{site_id}:read``."""
    return to_page(await members.list_members(database, principal, site_id, page))


@router.post(
    "",
    status_code=201,
    response_model=SiteMember,
    summary="Add a member to a site",
    responses=problems(*SCOPED_ONE, 409),
)
async def add_member(
    site_id: ResourceId, principal: SiteAdmin, database: DB, body: MemberAdd
) -> SiteMember:
    """Add a user of the organisation (already a member: 409). Scope ``site:{site_id}:admin``."""
    return await members.add_member(database, principal, site_id, body)


@router.delete(
    "/{user_id}",
    response_model=Deleted,
    summary="Remove a member from a site",
    responses=problems(*SCOPED_ONE),
)
async def remove_member(
    site_id: ResourceId, user_id: ResourceId, principal: SiteAdmin, database: DB
) -> Deleted:
    """Take a user out of the site. Scope ``site:{site_id}:admin``."""
    return await members.remove_member(database, principal, site_id, user_id)
