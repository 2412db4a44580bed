"""Service clients: org-level identities for services, traded for access tokens.

Creating one needs ``client:*:write`` and every scope it is given; revoking
one also revokes the access tokens it holds. The secret is returned once.
"""

from __future__ import annotations

from fleetyard.protocol.identity import ServiceClient, ServiceClientCreate, ServiceClientCreated
from fleetyard.protocol.ids import new_id
from fleetyard.protocol.scopes import parse_scopes
from fleetyard.server.services import security
from fleetyard.server.services.auth import Principal, require_scopes
from fleetyard.server.services.auth_cache import credentials_changed
from fleetyard.server.services.clock import now_ms, optional_datetime, to_datetime
from fleetyard.server.services.errors import NotFound
from fleetyard.server.services.pagination import PageRequest, PageResult, cut
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import service_clients, tokens
from fleetyard.server.storage.repositories.service_clients import ServiceClientRecord

CLIENT_ID_PREFIX = "cli"


def client_model(record: ServiceClientRecord) -> ServiceClient:
    """The wire shape of a stored client (never its secret)."""
    return ServiceClient(
        id=record.id,
        name=record.name,
        scopes=record.scopes,
        created_at=to_datetime(record.created_at),
        revoked_at=optional_datetime(record.revoked_at),
    )


async def list_clients(
    database: Database, principal: Principal, page: PageRequest
) -> PageResult[ServiceClient]:
    """The organisation's service clients, by id."""
    async with database.connect() as conn:
        rows = await service_clients.list_page(
            conn, org_id=principal.org_id, after=page.after, limit=page.limit
        )
    return cut(rows, page, lambda r: r.id, client_model)


async def create_client(
    database: Database, principal: Principal, body: ServiceClientCreate
) -> ServiceClientCreated:
    """A new client whose every scope the caller itself holds."""
    require_scopes(principal, *parse_scopes(body.scopes))
    now = now_ms()
    secret = security.random_secret(security.CLIENT_SECRET_PREFIX)
    async with database.begin() as conn:
        record = await service_clients.insert(
            conn,
            org_id=principal.org_id,
            client_id=new_id(CLIENT_ID_PREFIX, now_ms=now),
            name=body.name,
            secret_hash=security.hash_secret(secret),
            scopes=list(dict.fromkeys(body.scopes)),
            now_ms=now,
        )
    return ServiceClientCreated(**client_model(record).model_dump(), secret=secret)


async def revoke_client(database: Database, principal: Principal, client_id: str) -> ServiceClient:
    """Revoke a client and every access token it was given (again: no change)."""
    now = now_ms()
    async with database.begin() as conn:
        if await service_clients.get(conn, client_id, org_id=principal.org_id) is None:
            raise NotFound(f"Service client {client_id!r} was not found.")
        await service_clients.revoke(conn, client_id, org_id=principal.org_id, now_ms=now)
        await tokens.revoke_access_of_client(conn, client_id, org_id=principal.org_id, now_ms=now)
        record = await service_clients.get(conn, client_id, org_id=principal.org_id)
    credentials_changed()
    assert record is not None
    return client_model(record)
