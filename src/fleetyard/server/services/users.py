"""Users: invite, list, promote, demote, delete, and their site memberships.

Rules beyond the route scopes (``user:…:read``/``user:…:admin``):

- Making an admin, or changing or deleting one, needs ``*:*:admin``: an admin
  holds everything, so only someone who holds everything may create one.
- Putting a user into a site (or taking them out) needs ``site:<id>:admin``
  for that site, the same as ``POST /v1/sites/{id}/members``.
- Nobody deletes themselves, and the last admin can be neither demoted nor
  deleted: the organisation must keep someone who can manage it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.common import Deleted
from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.identity import User, UserCreate, UserRole
from fleetyard.protocol.ids import new_id
from fleetyard.protocol.scopes import Scope
from fleetyard.server.services import security
from fleetyard.server.services.auth import Principal, require_scopes
from fleetyard.server.services.clock import now_ms, to_datetime
from fleetyard.server.services.errors import Conflict, NotFound
from fleetyard.server.services.pagination import PageRequest, PageResult, cut
from fleetyard.server.services.policy import FULL_ADMIN
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import members, sites, users
from fleetyard.server.storage.repositories._common import DuplicateError
from fleetyard.server.storage.repositories.users import UserRecord

USER_ID_PREFIX = "usr"
ASSIGNED_ROLE = "operator"


def user_model(record: UserRecord, site_ids: Iterable[str]) -> User:
    """The wire shape of a stored user with their sites."""
    return User(
        id=record.id,
        org_id=record.org_id,
        email=record.email,
        name=record.name,
        role=UserRole(record.role),
        totp_enabled=record.totp_enabled,
        site_ids=sorted(site_ids),
        created_at=to_datetime(record.created_at),
    )


async def load_user(conn: AsyncConnection, user_id: str, *, org_id: str) -> User:
    """One user of the organisation with their sites, or 404."""
    record = await _record(conn, user_id, org_id=org_id)
    roles = await members.roles_of_users(conn, [user_id], org_id=org_id)
    return user_model(record, roles[user_id])


async def _record(conn: AsyncConnection, user_id: str, *, org_id: str) -> UserRecord:
    record = await users.get(conn, user_id, org_id=org_id)
    if record is None:
        raise NotFound(f"User {user_id!r} was not found.")
    return record


async def _known_sites(conn: AsyncConnection, site_ids: list[str], *, org_id: str) -> list[str]:
    wanted = sorted(set(site_ids))
    found = await sites.existing_ids(conn, wanted, org_id=org_id)
    missing = [s for s in wanted if s not in found]
    if missing:
        raise NotFound(f"Site {missing[0]!r} was not found.", site_ids=missing)
    return wanted


def _require_site_admin(principal: Principal, site_ids: Iterable[str]) -> None:
    require_scopes(principal, *(Scope("site", s, "admin") for s in site_ids))


async def list_users(
    database: Database, principal: Principal, page: PageRequest, *, site_id: str | None = None
) -> PageResult[User]:
    """Users of the organisation by id, optionally only one site's members."""
    async with database.connect() as conn:
        rows = await users.list_page(
            conn, org_id=principal.org_id, site_id=site_id, after=page.after, limit=page.limit
        )
        roles = await members.roles_of_users(
            conn, [r.id for r in rows[: page.limit]], org_id=principal.org_id
        )
    return cut(rows, page, lambda r: r.id, lambda r: user_model(r, roles.get(r.id, {})))


async def get_user(database: Database, principal: Principal, user_id: str) -> User:
    """One user of the caller's organisation, or 404."""
    async with database.connect() as conn:
        return await load_user(conn, user_id, org_id=principal.org_id)


async def create_user(database: Database, principal: Principal, body: UserCreate) -> User:
    """Invite a user; with sites, they join each as an operator."""
    if body.role is UserRole.ADMIN:
        require_scopes(principal, FULL_ADMIN)
    _require_site_admin(principal, body.site_ids)
    password_hash = None if body.password is None else await security.hash_password(body.password)
    now = now_ms()
    async with database.begin() as conn:
        site_ids = await _known_sites(conn, body.site_ids, org_id=principal.org_id)
        user_id = new_id(USER_ID_PREFIX, now_ms=now)
        try:
            await users.insert(
                conn,
                org_id=principal.org_id,
                user_id=user_id,
                email=body.email,
                name=body.name,
                role=body.role.value,
                password_hash=password_hash,
                now_ms=now,
            )
        except DuplicateError as exc:
            raise Conflict(
                f"A user with the email {body.email!r} already exists.",
                code=ErrorCode.ALREADY_EXISTS,
            ) from exc
        await members.insert_missing(
            conn,
            database.kind,
            org_id=principal.org_id,
            user_id=user_id,
            site_ids=site_ids,
            role=ASSIGNED_ROLE,
            now_ms=now,
        )
        return await load_user(conn, user_id, org_id=principal.org_id)


async def delete_user(database: Database, principal: Principal, user_id: str) -> Deleted:
    """Delete a user (their memberships and credentials go with them)."""
    if user_id == principal.user_id:
        raise Conflict("You cannot delete yourself; ask another admin.")
    async with database.begin() as conn:
        record = await _record(conn, user_id, org_id=principal.org_id)
        if record.role == users.ADMIN:
            require_scopes(principal, FULL_ADMIN)
        if not await users.delete_unless_last_admin(
            conn, database.kind, user_id, org_id=principal.org_id
        ):
            raise Conflict("This is the organisation's last admin; promote another user first.")
    return Deleted(id=user_id)


async def promote(database: Database, principal: Principal, user_id: str) -> User:
    """Make a user an admin (needs ``*:*:admin``)."""
    require_scopes(principal, FULL_ADMIN)
    async with database.begin() as conn:
        await _record(conn, user_id, org_id=principal.org_id)
        await users.promote(conn, user_id, org_id=principal.org_id)
        return await load_user(conn, user_id, org_id=principal.org_id)


async def demote(database: Database, principal: Principal, user_id: str) -> User:
    """Make an admin a member again (needs ``*:*:admin``; never the last admin)."""
    require_scopes(principal, FULL_ADMIN)
    async with database.begin() as conn:
        record = await _record(conn, user_id, org_id=principal.org_id)
        if record.role == users.ADMIN and not await users.demote_unless_last_admin(
            conn, database.kind, user_id, org_id=principal.org_id
        ):
            raise Conflict("This is the organisation's last admin; promote another user first.")
        return await load_user(conn, user_id, org_id=principal.org_id)


async def add_sites(
    database: Database, principal: Principal, user_id: str, site_ids: list[str]
) -> User:
    """Add the user to sites as an operator; sites they are already in keep their role."""
    async with database.begin() as conn:
        await _record(conn, user_id, org_id=principal.org_id)
        known = await _known_sites(conn, site_ids, org_id=principal.org_id)
        _require_site_admin(principal, known)
        await members.insert_missing(
            conn,
            database.kind,
            org_id=principal.org_id,
            user_id=user_id,
            site_ids=known,
            role=ASSIGNED_ROLE,
            now_ms=now_ms(),
        )
        return await load_user(conn, user_id, org_id=principal.org_id)


async def remove_sites(
    database: Database, principal: Principal, user_id: str, site_ids: list[str]
) -> User:
    """Take the user out of sites (sites they are not in are fine)."""
    async with database.begin() as conn:
        await _record(conn, user_id, org_id=principal.org_id)
        known = await _known_sites(conn, site_ids, org_id=principal.org_id)
        _require_site_admin(principal, known)
        await members.delete_many(conn, org_id=principal.org_id, user_id=user_id, site_ids=known)
        return await load_user(conn, user_id, org_id=principal.org_id)
