"""Scopes: ``resource:id:permission`` with ``*`` as a wildcard in any part.

``site:site_1:read`` lets a key read one site, ``app:*:deploy`` deploy any
app, ``*:*:admin`` do anything. ``write`` implies ``read``; ``admin`` implies
every permission on what it names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WILDCARD = "*"
_PART = re.compile(r"^(\*|[A-Za-z0-9_.\-]+)$")
_IMPLIED: dict[str, frozenset[str]] = {
    "admin": frozenset({WILDCARD}),
    "write": frozenset({"read", "write"}),
}


class ScopeError(ValueError):
    """A scope string that is not ``resource:id:permission``."""


@dataclass(frozen=True, slots=True)
class Scope:
    """One parsed scope.

    >>> Scope.parse("site:*:write").allows(Scope.parse("site:site_1:read"))
    True
    """

    resource: str
    id: str
    permission: str

    @classmethod
    def parse(cls, text: str) -> Scope:
        parts = text.split(":")
        if len(parts) != 3 or not all(_PART.match(p) for p in parts):
            raise ScopeError(f"scope {text!r} is not resource:id:permission")
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.resource}:{self.id}:{self.permission}"

    def allows(self, wanted: Scope) -> bool:
        """Whether holding this scope grants ``wanted`` (which may hold wildcards too)."""
        return (
            _covers(self.resource, wanted.resource)
            and _covers(self.id, wanted.id)
            and _permission_covers(self.permission, wanted.permission)
        )


def _covers(held: str, wanted: str) -> bool:
    return held in (WILDCARD, wanted)


def _permission_covers(held: str, wanted: str) -> bool:
    if held in (WILDCARD, wanted):
        return True
    implied = _IMPLIED.get(held, frozenset())
    return WILDCARD in implied or wanted in implied


def parse_scopes(texts: list[str]) -> list[Scope]:
    """Parse many scopes, raising :class:`ScopeError` on the first bad one."""
    return [Scope.parse(t) for t in texts]


def grants(held: list[Scope], wanted: Scope) -> bool:
    """Whether any held scope grants ``wanted``."""
    return any(h.allows(wanted) for h in held)


ADMIN_SCOPES = ["*:*:admin"]
