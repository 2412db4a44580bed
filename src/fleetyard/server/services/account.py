"""``GET /v1/account``: who the caller is, in the wire shape."""

from __future__ import annotations

from fleetyard.protocol.identity import Organization
from fleetyard.protocol.identity import Principal as PrincipalModel
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import to_datetime
from fleetyard.server.services.errors import NotFound
from fleetyard.server.services.users import load_user
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import orgs


async def whoami(database: Database, principal: Principal) -> PrincipalModel:
    """The caller's organisation, user (if any), credential ids and effective scopes."""
    async with database.connect() as conn:
        org = await orgs.get(conn, org_id=principal.org_id)
        if org is None:
            raise NotFound("Your organisation was not found.")
        user = None
        if principal.user_id is not None:
            user = await load_user(conn, principal.user_id, org_id=principal.org_id)
    return PrincipalModel(
        kind=principal.kind,
        org=Organization(id=org.id, name=org.name, created_at=to_datetime(org.created_at)),
        user=user,
        api_key_id=principal.api_key_id,
        client_id=principal.client_id,
        scopes=[str(s) for s in principal.scopes],
    )
