"""Who may use a site's chunks: the site's scopes, or a scope on one of its apps.

An app-scoped key (``app:<id>:write``) pushes that app's files, so it may
upload and check chunks in the app's site. A site the caller cannot even read
answers 404, like another organisation's.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.scopes import Scope
from fleetyard.server.services.auth import Principal, insufficient
from fleetyard.server.services.errors import Forbidden, NotFound
from fleetyard.server.storage.repositories import chunks as repo
from fleetyard.server.storage.repositories import sites as sites_repo

READ = "read"
WRITE = "write"
ADMIN = "admin"


def _app_ids(principal: Principal, permission: str) -> set[str]:
    return {
        scope.id
        for scope in principal.scopes
        if scope.id != "*" and scope.allows(Scope("app", scope.id, permission))
    }


async def can_site(
    conn: AsyncConnection, principal: Principal, site_id: str, permission: str
) -> bool:
    if principal.grants(Scope("site", site_id, permission)):
        return True
    if permission == ADMIN:
        return False
    ids = _app_ids(principal, permission)
    return await repo.apps_in_site(conn, org_id=principal.org_id, site_id=site_id, app_ids=ids)


async def require_site(
    conn: AsyncConnection, principal: Principal, site_id: str, permission: str
) -> None:
    """404 for a site of another organisation or one the caller cannot read; 403 when
    it can read but lacks ``permission``."""
    site = await sites_repo.get(conn, site_id, org_id=principal.org_id)
    if site is None:
        raise NotFound(f"Site {site_id!r} was not found.")
    if await can_site(conn, principal, site_id, permission):
        return
    if permission != READ and await can_site(conn, principal, site_id, READ):
        raise insufficient([Scope("site", site_id, permission)])
    raise NotFound(f"Site {site_id!r} was not found.")


async def require_app_readable(conn: AsyncConnection, principal: Principal, app_id: str) -> str:
    """The site of an app the caller may read; 404 otherwise."""
    site_id = await repo.app_site(conn, org_id=principal.org_id, app_id=app_id)
    if site_id is None or not (
        principal.grants(Scope("site", site_id, READ))
        or principal.grants(Scope("app", app_id, READ))
    ):
        raise NotFound(f"App {app_id!r} was not found.")
    return site_id


def require_somewhere(principal: Principal, permission: str) -> None:
    """403 ``scope_insufficient`` unless ``principal`` holds ``permission`` on some site or
    app: the cheap check before any lookup (which site is the service's call)."""
    for held in principal.scopes:
        if held.allows(Scope("site", held.id, permission)) or held.allows(
            Scope("app", held.id, permission)
        ):
            return
    raise Forbidden(
        f"This needs {permission!r} on a site or an app"
        f" (site:<id>:{permission} or app:<id>:{permission}).",
        missing_scopes=[f"site:*:{permission}", f"app:*:{permission}"],
    )
