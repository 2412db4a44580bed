"""``/v1/account``: the caller itself, its API keys, service clients and TOTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request

from fleetyard.protocol import API_VERSION, SUPPORTED_API_VERSIONS
from fleetyard.protocol.common import Page
from fleetyard.protocol.identity import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRotate,
    ApiVersionInfo,
    ServiceClient,
    ServiceClientCreate,
    ServiceClientCreated,
    TotpConfirm,
    TotpSetup,
    User,
)
from fleetyard.protocol.identity import Principal as PrincipalModel
from fleetyard.server.api.auth import Authenticated, require
from fleetyard.server.api.deps import DB
from fleetyard.server.api.pagination import Pagination, to_page
from fleetyard.server.api.routes._shared import (
    AUTHENTICATED,
    SCOPED,
    SCOPED_ONE,
    ResourceId,
    problems,
)
from fleetyard.server.services import account, api_keys, service_clients, totp
from fleetyard.server.services.auth import Principal

router = APIRouter(prefix="/v1/account", tags=["account"])

KeysRead = Annotated[Principal, Depends(require("key", "read"))]
KeysWrite = Annotated[Principal, Depends(require("key", "write"))]
KeyWrite = Annotated[Principal, Depends(require("key", "write", "key_id"))]
ClientsRead = Annotated[Principal, Depends(require("client", "read"))]
ClientsWrite = Annotated[Principal, Depends(require("client", "write"))]
ClientWrite = Annotated[Principal, Depends(require("client", "write", "client_id"))]


@router.get(
    "", response_model=PrincipalModel, summary="Who am I", responses=problems(*AUTHENTICATED)
)
async def whoami(principal: Authenticated, database: DB) -> PrincipalModel:
    """The caller: organisation, user (if any), credential and effective scopes."""
    return await account.whoami(database, principal)


@router.get(
    "/version",
    response_model=ApiVersionInfo,
    summary="API version",
    responses=problems(*AUTHENTICATED),
)
async def api_version(principal: Authenticated, request: Request) -> ApiVersionInfo:
    """The version this request was served with (``Fleetyard-Version``) and those supported."""
    served = getattr(request.state, "api_version", None) or API_VERSION
    return ApiVersionInfo(
        requested=request.headers.get("fleetyard-version"),
        served=served,
        supported=list(SUPPORTED_API_VERSIONS),
    )


@router.get(
    "/api-keys",
    response_model=Page[ApiKey],
    summary="List API keys",
    responses=problems(400, *SCOPED),
)
async def list_api_keys(principal: KeysRead, database: DB, page: Pagination) -> Page[ApiKey]:
    """Keys of the organisation (``key:*:admin``) or of the caller's user. Scope ``key:*:read``."""
    return to_page(await api_keys.list_keys(database, principal, page))


@router.post(
    "/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    summary="Create an API key",
    responses=problems(*SCOPED),
)
async def create_api_key(principal: KeysWrite, database: DB, body: ApiKeyCreate) -> ApiKeyCreated:
    """A new key; ``secret`` is shown this once. Scope ``key:*:write`` and every scope given."""
    return await api_keys.create_key(database, principal, body)


@router.post(
    "/api-keys/{key_id}/rotate",
    response_model=ApiKeyCreated,
    summary="Rotate an API key",
    responses=problems(*SCOPED_ONE, 409),
)
async def rotate_api_key(
    key_id: ResourceId,
    principal: KeyWrite,
    database: DB,
    body: Annotated[ApiKeyRotate | None, Body()] = None,
) -> ApiKeyCreated:
    """A successor key (secret shown once); the old one works for ``grace_seconds`` more.

    Scope ``key:{key_id}:write`` and every scope of the key.
    """
    grace = (body or ApiKeyRotate()).grace_seconds
    return await api_keys.rotate_key(database, principal, key_id, grace_seconds=grace)


@router.delete(
    "/api-keys/{key_id}",
    response_model=ApiKey,
    summary="Revoke an API key",
    responses=problems(*SCOPED_ONE),
)
async def revoke_api_key(key_id: ResourceId, principal: KeyWrite, database: DB) -> ApiKey:
    """Stop a key at once. Revoking twice is fine. Scope ``key:{key_id}:write``."""
    return await api_keys.revoke_key(database, principal, key_id)


@router.get(
    "/service-clients",
    response_model=Page[ServiceClient],
    summary="List service clients",
    responses=problems(400, *SCOPED),
)
async def list_service_clients(
    principal: ClientsRead, database: DB, page: Pagination
) -> Page[ServiceClient]:
    """Service clients of the organisation. Scope ``client:*:read``."""
    return to_page(await service_clients.list_clients(database, principal, page))


@router.post(
    "/service-clients",
    status_code=201,
    response_model=ServiceClientCreated,
    summary="Create a service client",
    responses=problems(*SCOPED),
)
async def create_service_client(
    principal: ClientsWrite, database: DB, body: ServiceClientCreate
) -> ServiceClientCreated:
    """A new client; ``secret`` is shown this once.

    Scope ``client:*:write`` and every scope given to the client.
    """
    return await service_clients.create_client(database, principal, body)


@router.delete(
    "/service-clients/{client_id}",
    response_model=ServiceClient,
    summary="Revoke a service client",
    responses=problems(*SCOPED_ONE),
)
async def revoke_service_client(
    client_id: ResourceId, principal: ClientWrite, database: DB
) -> ServiceClient:
    """Stop a client and its access tokens. Scope ``client:{client_id}:write``."""
    return await service_clients.revoke_client(database, principal, client_id)


@router.post(
    "/totp",
    response_model=TotpSetup,
    summary="Set up TOTP",
    responses=problems(400, 401, 409),
)
async def start_totp(principal: Authenticated, database: DB) -> TotpSetup:
    """A new TOTP secret for the logged-in user; confirm it with a code to turn TOTP on."""
    return await totp.start(database, principal)


@router.post(
    "/totp/confirm",
    response_model=User,
    summary="Turn TOTP on",
    responses=problems(400, 401, 409, 422),
)
async def confirm_totp(principal: Authenticated, database: DB, body: TotpConfirm) -> User:
    """Turn TOTP on with a code from the app (wrong code: 422 ``invalid_totp``)."""
    return await totp.confirm(database, principal, body.code)


@router.delete("/totp", response_model=User, summary="Turn TOTP off", responses=problems(400, 401))
async def disable_totp(principal: Authenticated, database: DB) -> User:
    """Turn TOTP off for the logged-in user."""
    return await totp.disable(database, principal)
