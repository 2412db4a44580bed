"""Who may touch which app.

Apps live in sites, so the site scopes decide: ``site:<id>:read`` to read,
``write`` to create apps, publish versions and edit them; ``rollback`` (which
``admin`` implies and ``write`` does not) to make an earlier version current.
``app:<app_id>:<permission>`` grants the same on one app. An app of another
organisation, or one the caller may not even read, answers 404.
"""

from __future__ import annotations

from fleetyard.protocol.scopes import Scope
from fleetyard.server.services.auth import Principal, insufficient
from fleetyard.server.services.errors import Forbidden
from fleetyard.server.services.policy import readable_site_ids

READ = "read"
WRITE = "write"
ROLLBACK = "rollback"
ADMIN = "admin"


def can(principal: Principal, *, site_id: str, app_id: str | None, permission: str) -> bool:
    """Whether ``principal`` holds ``permission`` on the site, or on the app itself."""
    if principal.grants(Scope("site", site_id, permission)):
        return True
    return app_id is not None and principal.grants(Scope("app", app_id, permission))


def require(principal: Principal, *, site_id: str, app_id: str | None, permission: str) -> None:
    """403 ``scope_insufficient`` unless :func:`can`."""
    if not can(principal, site_id=site_id, app_id=app_id, permission=permission):
        wanted = [Scope("site", site_id, permission)]
        if app_id is not None:
            wanted.append(Scope("app", app_id, permission))
        raise insufficient(wanted)


def require_somewhere(principal: Principal, permission: str) -> None:
    """403 unless ``principal`` holds ``permission`` on some site or some app.

    The cheap check before any lookup (see the telemetry equivalent): which
    app it may touch is decided after the lookup, by :func:`require`.
    """
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


def visible(principal: Principal) -> tuple[set[str] | None, set[str]]:
    """What lists may show: (site ids, None for all) and app ids granted one by one."""
    apps = {
        scope.id
        for scope in principal.scopes
        if scope.id != "*" and scope.allows(Scope("app", scope.id, READ))
    }
    return readable_site_ids(principal.scopes), apps
