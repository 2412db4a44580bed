"""``/v1/sites``: groups of machines inside the organisation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from fleetyard.protocol.common import Page
from fleetyard.protocol.identity import Site, SiteCreate, SiteUpdate
from fleetyard.server.api.auth import Authenticated, require
from fleetyard.server.api.deps import DB
from fleetyard.server.api.pagination import Pagination, to_page
from fleetyard.server.api.routes._shared import (
    AUTHENTICATED,
    SCOPED,
    SCOPED_ONE,
    ResourceId,
    problems,
)
from fleetyard.server.services import sites
from fleetyard.server.services.auth import Principal

router = APIRouter(prefix="/v1/sites", tags=["sites"])

SitesWrite = Annotated[Principal, Depends(require("site", "write"))]
SiteRead = Annotated[Principal, Depends(require("site", "read", "site_id"))]
SiteWrite = Annotated[Principal, Depends(require("site", "write", "site_id"))]


@router.get(
    "",
    response_model=Page[Site],
    summary="List sites",
    responses=problems(400, *AUTHENTICATED),
)
async def list_sites(principal: Authenticated, database: DB, page: Pagination) -> Page[Site]:
    """The sites the caller may read (``site:<id>:read`` or ``site:*:read``), by id."""
    return to_page(await sites.list_sites(database, principal, page))


@router.post(
    "",
    status_code=201,
    response_model=Site,
    summary="Create a site",
    responses=problems(*SCOPED, 409),
)
async def create_site(principal: SitesWrite, database: DB, body: SiteCreate) -> Site:
    """A new site (a name already used: 409 ``already_exists``). Scope ``site:*:write``."""
    return await sites.create_site(database, principal, body)


@router.get(
    "/{site_id}", response_model=Site, summary="Get a site", responses=problems(*SCOPED_ONE)
)
async def get_site(site_id: ResourceId, principal: SiteRead, database: DB) -> Site:
    """One site. Scope ``site:{site_id}:read``."""
    return await sites.get_site(database, principal, site_id)


@router.patch(
    "/{site_id}",
    response_model=Site,
    summary="Update a site",
    responses=problems(*SCOPED_ONE, 409),
)
async def update_site(
    site_id: ResourceId, principal: SiteWrite, database: DB, body: SiteUpdate
) -> Site:
    """Change the given fields only. Scope ``site:{site_id}:write``."""
    return await sites.update_site(database, principal, site_id, body)
