"""Who may touch which agent and channel.

Telemetry lives in sites, so the site scopes decide: ``site:<id>:read`` to
read, ``write`` to publish and create channels, ``admin`` to manage agents and
delete channels or messages. ``agent:<id>:<permission>`` grants the same on
one agent and its channels (what per-agent device credentials will carry).

A *private* channel is hidden from read-only callers: reading it needs
``write`` on its site or agent. Another organisation's resources never get
this far: every lookup is filtered by the caller's ``org_id`` and answers 404.
"""

from __future__ import annotations

from fleetyard.protocol.scopes import Scope
from fleetyard.server.services.auth import Principal, insufficient
from fleetyard.server.services.errors import Forbidden
from fleetyard.server.services.policy import readable_site_ids

READ = "read"
WRITE = "write"
ADMIN = "admin"


def can(principal: Principal, *, site_id: str, agent_id: str | None, permission: str) -> bool:
    """Whether ``principal`` holds ``permission`` on the site, or on the agent itself."""
    if principal.grants(Scope("site", site_id, permission)):
        return True
    return agent_id is not None and principal.grants(Scope("agent", agent_id, permission))


def require(principal: Principal, *, site_id: str, agent_id: str | None, permission: str) -> None:
    """Raise ``scope_insufficient`` (403) unless :func:`can`."""
    if not can(principal, site_id=site_id, agent_id=agent_id, permission=permission):
        raise insufficient([Scope("site", site_id, permission)])


def require_somewhere(principal: Principal, permission: str) -> None:
    """403 ``scope_insufficient`` unless ``principal`` holds ``permission`` on some site or agent.

    The cheap check the API runs before any lookup: a credential that cannot
    hold ``permission`` on any telemetry at all is refused outright (403),
    rather than answered 404 for every id it tries. Which site or agent it
    may touch is decided after the lookup, by :func:`require`.
    """
    for held in principal.scopes:
        if held.allows(Scope("site", held.id, permission)) or held.allows(
            Scope("agent", held.id, permission)
        ):
            return
    raise Forbidden(
        f"This needs {permission!r} on a site or an agent"
        f" (site:<id>:{permission} or agent:<id>:{permission}).",
        missing_scopes=[f"site:*:{permission}", f"agent:*:{permission}"],
    )


def channel_read_permission(is_private: bool) -> str:
    return WRITE if is_private else READ


def visible(principal: Principal) -> tuple[set[str] | None, set[str]]:
    """What lists may show: (site ids, None for all) and agent ids granted one by one."""
    agents = {
        scope.id
        for scope in principal.scopes
        if scope.id != "*" and scope.allows(Scope("agent", scope.id, READ))
    }
    return readable_site_ids(principal.scopes), agents
