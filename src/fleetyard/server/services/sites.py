"""Sites: create, list (only those the caller may read), read and update."""

from __future__ import annotations

from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.identity import Site, SiteCreate, SiteUpdate
from fleetyard.protocol.ids import new_id
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import now_ms, to_datetime
from fleetyard.server.services.errors import Conflict, NotFound, Unprocessable
from fleetyard.server.services.pagination import PageRequest, PageResult, cut
from fleetyard.server.services.policy import readable_site_ids
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import sites
from fleetyard.server.storage.repositories._common import DuplicateError
from fleetyard.server.storage.repositories.sites import SiteRecord

SITE_ID_PREFIX = "site"


def site_model(record: SiteRecord) -> Site:
    """The wire shape of a stored site."""
    return Site(
        id=record.id,
        org_id=record.org_id,
        name=record.name,
        description=record.description,
        created_at=to_datetime(record.created_at),
        updated_at=to_datetime(record.updated_at),
    )


def _duplicate(name: str) -> Conflict:
    return Conflict(
        f"A site named {name!r} already exists in this organisation.",
        code=ErrorCode.ALREADY_EXISTS,
    )


async def list_sites(
    database: Database, principal: Principal, page: PageRequest
) -> PageResult[Site]:
    """The sites the caller may read: all with ``site:*:read``, else those its scopes name."""
    async with database.connect() as conn:
        rows = await sites.list_page(
            conn,
            org_id=principal.org_id,
            only_ids=readable_site_ids(principal.scopes),
            after=page.after,
            limit=page.limit,
        )
    return cut(rows, page, lambda r: r.id, site_model)


async def get_site(database: Database, principal: Principal, site_id: str) -> Site:
    """One site of the caller's organisation, or 404."""
    async with database.connect() as conn:
        record = await sites.get(conn, site_id, org_id=principal.org_id)
    if record is None:
        raise NotFound(f"Site {site_id!r} was not found.")
    return site_model(record)


async def create_site(database: Database, principal: Principal, body: SiteCreate) -> Site:
    """A new site; a name taken in the organisation is 409 ``already_exists``."""
    now = now_ms()
    try:
        async with database.begin() as conn:
            record = await sites.insert(
                conn,
                org_id=principal.org_id,
                site_id=new_id(SITE_ID_PREFIX, now_ms=now),
                name=body.name,
                description=body.description,
                now_ms=now,
            )
    except DuplicateError as exc:
        raise _duplicate(body.name) from exc
    return site_model(record)


async def update_site(
    database: Database, principal: Principal, site_id: str, body: SiteUpdate
) -> Site:
    """Change the given fields only; ``updated_at`` moves when something was given."""
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise Unprocessable(
            "A site's name cannot be null.",
            errors=[{"loc": ["body", "name"], "message": "may not be null", "type": "value_error"}],
        )
    if not changes:
        return await get_site(database, principal, site_id)
    try:
        async with database.begin() as conn:
            record = await sites.update(
                conn, site_id, org_id=principal.org_id, changes=changes, now_ms=now_ms()
            )
    except DuplicateError as exc:
        raise _duplicate(str(changes["name"])) from exc
    if record is None:
        raise NotFound(f"Site {site_id!r} was not found.")
    return site_model(record)
