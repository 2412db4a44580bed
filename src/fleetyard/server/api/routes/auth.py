"""``/v1/auth``: tokens for people (login, refresh, logout) and for services."""

from __future__ import annotations

from fastapi import APIRouter, Response

from fleetyard.protocol.identity import (
    ClientCredentialsRequest,
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    TokenResponse,
)
from fleetyard.server.api.auth import Authenticated
from fleetyard.server.api.deps import DB, State
from fleetyard.server.api.routes._shared import AUTHENTICATED, problems
from fleetyard.server.services import sessions

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post(
    "/login",
    response_model=TokenResponse,
    summary="Log in",
    responses=problems(400, 401, 422),
)
async def login(state: State, body: LoginRequest) -> TokenResponse:
    """Email and password (and ``totp`` when enabled) → access and refresh tokens.

    401 ``invalid_credentials`` for a wrong email or password alike,
    ``totp_required`` when the code is missing, ``invalid_totp`` when wrong.
    """
    return await sessions.login(state.database, state.settings, body)


@router.post(
    "/refresh",
    response_model=TokenResponse,
    summary="Refresh tokens",
    responses=problems(400, 401, 422),
)
async def refresh(state: State, body: RefreshRequest) -> TokenResponse:
    """Spend a refresh token for a new pair. A spent token used again revokes the login."""
    return await sessions.refresh(state.database, state.settings, body.refresh_token)


@router.post(
    "/logout",
    status_code=204,
    response_class=Response,
    summary="Log out",
    responses=problems(400, *AUTHENTICATED),
)
async def logout(principal: Authenticated, database: DB, body: LogoutRequest) -> Response:
    """Revoke the refresh token's login: all its refresh and access tokens."""
    await sessions.logout(database, principal, body.refresh_token)
    return Response(status_code=204)


@router.post(
    "/token",
    response_model=TokenResponse,
    summary="Client credentials",
    responses=problems(400, 401, 422),
)
async def token(state: State, body: ClientCredentialsRequest) -> TokenResponse:
    """A service client's id and secret → an access token (no refresh token)."""
    return await sessions.client_credentials(state.database, state.settings, body)
