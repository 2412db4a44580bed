"""Logins, refresh-token rotation, logout and the client-credentials grant.

Failures say as little as possible: a wrong email and a wrong password are
the same ``invalid_credentials``; an unknown, spent, revoked or expired
refresh token is the same ``invalid_refresh_token``. Presenting a refresh
token that was already spent revokes its whole family (every refresh token
descending from the same login, and the access tokens issued from them):
either the legitimate client or a thief holds a copy, and neither can be
told apart, so both are logged out.
"""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.identity import (
    ClientCredentialsRequest,
    LoginRequest,
    TokenResponse,
)
from fleetyard.protocol.ids import new_id
from fleetyard.server.services import policy, security
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.auth_cache import credentials_changed
from fleetyard.server.services.clock import now_ms, to_datetime
from fleetyard.server.services.errors import Unauthenticated
from fleetyard.server.settings import Settings
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import members, service_clients, tokens, users
from fleetyard.server.storage.repositories.users import UserRecord

_CLIENT_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
TOKEN_ID_PREFIX = "tok"  # noqa: S105 - an id prefix


def _invalid_credentials() -> Unauthenticated:
    return Unauthenticated("The email or password is wrong.", code=ErrorCode.INVALID_CREDENTIALS)


def _invalid_client() -> Unauthenticated:
    return Unauthenticated("The client id or secret is wrong.", code=ErrorCode.INVALID_CREDENTIALS)


def _invalid_refresh(
    detail: str = "The refresh token is not valid; log in again.",
) -> Unauthenticated:
    return Unauthenticated(detail, code=ErrorCode.INVALID_REFRESH_TOKEN)


async def _issue_access(
    conn: AsyncConnection,
    *,
    org_id: str,
    scopes: list[str],
    ttl_seconds: int,
    now: int,
    user_id: str | None = None,
    client_id: str | None = None,
    family_id: str | None = None,
) -> tuple[str, int]:
    secret = security.random_secret(security.ACCESS_TOKEN_PREFIX)
    expires_at = now + ttl_seconds * 1000
    await tokens.insert_access(
        conn,
        org_id=org_id,
        token_id=new_id(TOKEN_ID_PREFIX, now_ms=now),
        token_hash=security.hash_secret(secret),
        user_id=user_id,
        client_id=client_id,
        family_id=family_id,
        scopes=scopes,
        now_ms=now,
        expires_at=expires_at,
    )
    return secret, expires_at


async def _issue_user_pair(
    conn: AsyncConnection, user: UserRecord, *, family_id: str, settings: Settings, now: int
) -> TokenResponse:
    roles = await members.roles_of_users(conn, [user.id], org_id=user.org_id)
    scopes = [str(s) for s in policy.user_scopes(user.role, roles[user.id])]
    access, access_expires = await _issue_access(
        conn,
        org_id=user.org_id,
        scopes=scopes,
        ttl_seconds=settings.access_token_ttl_seconds,
        now=now,
        user_id=user.id,
        family_id=family_id,
    )
    refresh = security.random_secret(security.REFRESH_TOKEN_PREFIX)
    refresh_expires = now + settings.refresh_token_ttl_seconds * 1000
    await tokens.insert_refresh(
        conn,
        org_id=user.org_id,
        token_id=new_id(TOKEN_ID_PREFIX, now_ms=now),
        token_hash=security.hash_secret(refresh),
        user_id=user.id,
        family_id=family_id,
        now_ms=now,
        expires_at=refresh_expires,
    )
    return TokenResponse(
        access_token=access,
        expires_in=settings.access_token_ttl_seconds,
        expires_at=to_datetime(access_expires),
        refresh_token=refresh,
        refresh_expires_at=to_datetime(refresh_expires),
    )


async def login(database: Database, settings: Settings, request: LoginRequest) -> TokenResponse:
    """Email + password (+ TOTP when enabled) → an access token and a new refresh family."""
    async with database.connect() as conn:
        user = await users.find_by_email_for_login(conn, request.email)
    # Verified even for an unknown email, against a dummy hash: same cost either way.
    valid = await security.verify_password(user.password_hash if user else None, request.password)
    if user is None or not valid:
        raise _invalid_credentials()
    if user.totp_enabled and user.totp_secret:
        if request.totp is None:
            raise Unauthenticated(
                "This account needs a TOTP code: send it as 'totp'.", code=ErrorCode.TOTP_REQUIRED
            )
        if not security.verify_totp(user.totp_secret, request.totp):
            raise Unauthenticated("The TOTP code is wrong.", code=ErrorCode.INVALID_TOTP)
    new_hash = None
    if user.password_hash and security.password_needs_rehash(user.password_hash):
        new_hash = await security.hash_password(request.password)
    now = now_ms()
    async with database.begin() as conn:
        if new_hash is not None:
            await users.set_password_hash(conn, user.id, org_id=user.org_id, password_hash=new_hash)
        family_id = new_id(TOKEN_ID_PREFIX, now_ms=now)
        return await _issue_user_pair(conn, user, family_id=family_id, settings=settings, now=now)


async def refresh(database: Database, settings: Settings, refresh_token: str) -> TokenResponse:
    """Spend a refresh token for a new pair in the same family; reuse revokes the family."""
    now = now_ms()
    token_hash = security.hash_secret(refresh_token)
    reused = False
    async with database.begin() as conn:
        record = await tokens.find_refresh_by_hash(conn, token_hash)
        if record is None or record.revoked_at is not None:
            raise _invalid_refresh()
        if record.expires_at <= now:
            raise _invalid_refresh("The refresh token has expired; log in again.")
        spent = record.used_at is None and await tokens.spend_refresh(
            conn, record.id, org_id=record.org_id, now_ms=now
        )
        if spent:
            user = await users.get(conn, record.user_id, org_id=record.org_id)
            if user is not None:
                return await _issue_user_pair(
                    conn, user, family_id=record.family_id, settings=settings, now=now
                )
        else:
            await tokens.revoke_family(conn, record.family_id, org_id=record.org_id, now_ms=now)
            reused = True
    # Raised outside the transaction so that the family's revocation is committed.
    if reused:
        raise _invalid_refresh(
            "The refresh token was already used; every session of this login has been revoked."
        )
    raise _invalid_refresh()


async def logout(database: Database, principal: Principal, refresh_token: str) -> None:
    """Revoke the refresh token's family and its access tokens (unknown tokens: nothing to do)."""
    now = now_ms()
    token_hash = security.hash_secret(refresh_token)
    async with database.begin() as conn:
        family_id = await tokens.family_of(conn, token_hash, org_id=principal.org_id)
        if family_id is not None:
            await tokens.revoke_family(conn, family_id, org_id=principal.org_id, now_ms=now)
    credentials_changed()


async def client_credentials(
    database: Database, settings: Settings, request: ClientCredentialsRequest
) -> TokenResponse:
    """A service client's id and secret → an access token (no refresh token: ask again)."""
    now = now_ms()
    if not _CLIENT_ID.match(request.client_id):
        # Not an id this server makes; also keeps bytes PostgreSQL refuses out of queries.
        raise _invalid_client()
    async with database.begin() as conn:
        found = await service_clients.find_for_grant(conn, request.client_id)
        # Compare the secret even when the client is revoked: the answer is the same.
        valid = found is not None and security.secrets_match(
            request.client_secret, found.secret_hash
        )
        if found is None or not valid or found.client.revoked_at is not None:
            raise _invalid_client()
        client = found.client
        access, expires_at = await _issue_access(
            conn,
            org_id=client.org_id,
            scopes=client.scopes,
            ttl_seconds=settings.access_token_ttl_seconds,
            now=now,
            client_id=client.id,
        )
    return TokenResponse(
        access_token=access,
        expires_in=settings.access_token_ttl_seconds,
        expires_at=to_datetime(expires_at),
    )
