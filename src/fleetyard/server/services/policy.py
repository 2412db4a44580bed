"""Who may do what: scopes derived from roles, and the rule for minting credentials.

Scopes are ``resource:id:permission`` (see :mod:`fleetyard.protocol.scopes`).

**Users** get scopes from their role, recomputed on every request so that a
demotion or a removed membership takes effect at once:

- ``admin`` → ``*:*:admin`` (everything in the organisation).
- ``member`` → per site membership: ``viewer`` → ``site:<id>:read``,
  ``operator`` → ``site:<id>:write``, ``manager`` → ``site:<id>:admin``;
  plus ``key:*:read`` and ``key:*:write`` so members can make API keys for
  their own scripts. Without ``key:*:admin`` a caller only sees and manages
  the keys of its own user (see :mod:`fleetyard.server.services.api_keys`).

**Credentials of a user** (access tokens, API keys owned by a user) carry the
scopes they were issued with, *narrowed* by the user's current scopes: a
stored scope that the user no longer holds is dropped, never widened.

**Minting**: a caller can only create an API key or a service client whose
every scope its own scopes grant, and a user can only be made an admin (or an
admin be changed) by a caller holding ``*:*:admin``. Nobody hands out more
than they hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from fleetyard.protocol.scopes import ADMIN_SCOPES, Scope, grants, parse_scopes

ROLE_ADMIN = "admin"
MEMBER_PERMISSIONS = {"viewer": "read", "operator": "write", "manager": "admin"}
MEMBER_EXTRA_SCOPES = ("key:*:read", "key:*:write")
FULL_ADMIN = Scope.parse(ADMIN_SCOPES[0])


def user_scopes(role: str, memberships: Mapping[str, str]) -> list[Scope]:
    """The scopes a user holds: from the role, or from each site membership."""
    if role == ROLE_ADMIN:
        return parse_scopes(ADMIN_SCOPES)
    held = [
        Scope("site", site_id, MEMBER_PERMISSIONS.get(role_in_site, "read"))
        for site_id, role_in_site in sorted(memberships.items())
    ]
    return held + parse_scopes(list(MEMBER_EXTRA_SCOPES))


def narrow(stored: Iterable[Scope], held: list[Scope]) -> list[Scope]:
    """The stored scopes that ``held`` still grants (never more than either)."""
    return [scope for scope in stored if grants(held, scope)]


def ungranted(held: list[Scope], wanted: Iterable[Scope]) -> list[Scope]:
    """The scopes of ``wanted`` that ``held`` does not grant (empty when all are)."""
    return [scope for scope in wanted if not grants(held, scope)]


def readable_site_ids(held: list[Scope]) -> set[str] | None:
    """The sites ``held`` may read: None means all of them."""
    if grants(held, Scope("site", "*", "read")):
        return None
    return {
        scope.id
        for scope in held
        if scope.id != "*" and scope.allows(Scope("site", scope.id, "read"))
    }
