"""Members of a site: list, add (users of the same organisation only) and remove."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.common import Deleted
from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.identity import MemberAdd, MemberRole, SiteMember
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import now_ms, to_datetime
from fleetyard.server.services.errors import Conflict, NotFound
from fleetyard.server.services.pagination import PageRequest, PageResult, cut
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import members, sites, users
from fleetyard.server.storage.repositories._common import DuplicateError
from fleetyard.server.storage.repositories.members import MemberRecord


def member_model(record: MemberRecord) -> SiteMember:
    """The wire shape of a membership."""
    return SiteMember(
        site_id=record.site_id,
        user_id=record.user_id,
        email=record.email,
        role=MemberRole(record.role),
        added_at=to_datetime(record.added_at),
    )


async def _site_exists(conn: AsyncConnection, site_id: str, *, org_id: str) -> None:
    if await sites.get(conn, site_id, org_id=org_id) is None:
        raise NotFound(f"Site {site_id!r} was not found.")


async def list_members(
    database: Database, principal: Principal, site_id: str, page: PageRequest
) -> PageResult[SiteMember]:
    """Members of a site of the caller's organisation, by user id."""
    async with database.connect() as conn:
        await _site_exists(conn, site_id, org_id=principal.org_id)
        rows = await members.list_page(
            conn, org_id=principal.org_id, site_id=site_id, after=page.after, limit=page.limit
        )
    return cut(rows, page, lambda r: r.user_id, member_model)


async def add_member(
    database: Database, principal: Principal, site_id: str, body: MemberAdd
) -> SiteMember:
    """Add a user of the organisation; a user already in the site is 409 ``already_exists``."""
    try:
        async with database.begin() as conn:
            await _site_exists(conn, site_id, org_id=principal.org_id)
            if await users.get(conn, body.user_id, org_id=principal.org_id) is None:
                raise NotFound(f"User {body.user_id!r} was not found.")
            await members.insert(
                conn,
                org_id=principal.org_id,
                site_id=site_id,
                user_id=body.user_id,
                role=body.role.value,
                now_ms=now_ms(),
            )
            record = await members.get(
                conn, org_id=principal.org_id, site_id=site_id, user_id=body.user_id
            )
    except DuplicateError as exc:
        raise Conflict(
            f"User {body.user_id!r} is already a member of site {site_id!r}; "
            "remove them first to change their role.",
            code=ErrorCode.ALREADY_EXISTS,
        ) from exc
    assert record is not None
    return member_model(record)


async def remove_member(
    database: Database, principal: Principal, site_id: str, user_id: str
) -> Deleted:
    """Take a user out of a site; 404 when they were not in it."""
    async with database.begin() as conn:
        await _site_exists(conn, site_id, org_id=principal.org_id)
        removed = await members.delete(
            conn, org_id=principal.org_id, site_id=site_id, user_id=user_id
        )
    if not removed:
        raise NotFound(f"User {user_id!r} is not a member of site {site_id!r}.")
    return Deleted(id=user_id)
