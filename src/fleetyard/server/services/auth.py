"""Who is calling: bearer secrets to a :class:`Principal`, and the scope checks.

A bearer secret is one of:

- an API key (``fy_live_…``/``fy_test_…``): revoked → ``unauthenticated``;
  past ``expires_at`` (including a rotated key past its grace) →
  ``token_expired``. ``last_used_at`` is written at most once a minute per
  key, so reads do not turn into writes on every request.
- an access token (``fya_…``) of a user (from a login) or of a service client
  (client credentials): expired → ``token_expired``; revoked →
  ``unauthenticated``.

Credentials of a user are narrowed to the user's current scopes (see
:mod:`fleetyard.server.services.policy`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.scopes import Scope, ScopeError, grants
from fleetyard.server.services import policy
from fleetyard.server.services.clock import now_ms
from fleetyard.server.services.errors import Forbidden, Overloaded, Unauthenticated
from fleetyard.server.services.security import ACCESS_TOKEN_PREFIX, hash_secret, is_api_key
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import api_keys, members, tokens, users

LAST_USED_INTERVAL_MS = 60_000

KIND_API_KEY = "api_key"
KIND_USER = "user"
KIND_SERVICE_CLIENT = "service_client"

_CHALLENGE = {"WWW-Authenticate": "Bearer"}
_INVALID_TOKEN = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: its organisation, identity and effective scopes."""

    kind: str
    org_id: str
    scopes: list[Scope] = field(default_factory=list)
    user_id: str | None = None
    api_key_id: str | None = None
    client_id: str | None = None
    # When the credential stops working on its own (ms), so no cache keeps it longer.
    expires_at: int | None = None

    def grants(self, wanted: Scope) -> bool:
        """Whether this caller's scopes grant ``wanted``."""
        return grants(self.scopes, wanted)


def missing_credentials() -> Unauthenticated:
    """The answer to a request without a usable ``Authorization: Bearer`` header."""
    return Unauthenticated(
        "Send 'Authorization: Bearer <API key or access token>'.", headers=_CHALLENGE
    )


def insufficient(missing: list[Scope]) -> Forbidden:
    """403 ``scope_insufficient`` naming the scopes the caller lacks."""
    names = [str(s) for s in missing]
    return Forbidden(
        f"This needs the scope{'s' if len(names) > 1 else ''} {', '.join(names)}.",
        missing_scopes=names,
    )


def require_scopes(principal: Principal, *wanted: Scope) -> None:
    """Raise ``scope_insufficient`` unless ``principal`` holds every scope in ``wanted``."""
    missing = policy.ungranted(principal.scopes, wanted)
    if missing:
        raise insufficient(missing)


def _invalid(detail: str) -> Unauthenticated:
    return Unauthenticated(detail, headers=_INVALID_TOKEN)


def _expired(detail: str) -> Unauthenticated:
    return Unauthenticated(detail, code=ErrorCode.TOKEN_EXPIRED, headers=_INVALID_TOKEN)


def parse_stored(texts: list[str]) -> list[Scope]:
    """Stored scopes, skipping any that no longer parse rather than failing the request."""
    parsed = []
    for text in texts:
        try:
            parsed.append(Scope.parse(text))
        except ScopeError:
            continue
    return parsed


async def current_user_scopes(
    conn: AsyncConnection, user_id: str, *, org_id: str
) -> list[Scope] | None:
    """What a user holds now, or None when the user is gone."""
    user = await users.get(conn, user_id, org_id=org_id)
    if user is None:
        return None
    roles = await members.roles_of_users(conn, [user_id], org_id=org_id)
    return policy.user_scopes(user.role, roles[user_id])


async def authenticate(database: Database, secret: str) -> Principal:
    """The principal a bearer secret stands for, or 401 ``unauthenticated``/``token_expired``.

    A connection pool that stays exhausted (a thousand streams connecting at
    once) is 503 ``overloaded``: the client retries, instead of an error
    escaping as a 500 or a WebSocket dropped without a close code.
    """
    try:
        if is_api_key(secret):
            return await _by_api_key(database, secret)
        if secret.startswith(ACCESS_TOKEN_PREFIX):
            return await _by_access_token(database, secret)
    except sa_exc.TimeoutError:
        raise Overloaded("No database connection is free; retry shortly.") from None
    raise _invalid("The bearer token is not a Fleetyard API key or access token.")


async def _by_api_key(database: Database, secret: str) -> Principal:
    now = now_ms()
    async with database.connect() as conn:
        key = await api_keys.find_by_hash(conn, hash_secret(secret))
        if key is None:
            raise _invalid("The API key is not valid.")
        if key.revoked_at is not None:
            raise _invalid("The API key has been revoked.")
        if key.expires_at is not None and key.expires_at <= now:
            raise _expired("The API key has expired.")
        scopes = parse_stored(key.scopes)
        if key.user_id is not None:
            held = await current_user_scopes(conn, key.user_id, org_id=key.org_id)
            if held is None:
                raise _invalid("The API key's user no longer exists.")
            scopes = policy.narrow(scopes, held)
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_INTERVAL_MS:
        async with database.begin() as conn:
            await api_keys.touch(
                conn, key.id, org_id=key.org_id, now_ms=now, min_interval_ms=LAST_USED_INTERVAL_MS
            )
    return Principal(
        kind=KIND_API_KEY,
        org_id=key.org_id,
        scopes=scopes,
        user_id=key.user_id,
        api_key_id=key.id,
        expires_at=key.expires_at,
    )


async def _by_access_token(database: Database, secret: str) -> Principal:
    now = now_ms()
    async with database.connect() as conn:
        token = await tokens.find_access_by_hash(conn, hash_secret(secret))
        if token is None or token.revoked_at is not None:
            raise _invalid("The access token is not valid.")
        if token.expires_at <= now:
            raise _expired("The access token has expired; refresh it or get a new one.")
        scopes = parse_stored(token.scopes)
        if token.user_id is not None:
            held = await current_user_scopes(conn, token.user_id, org_id=token.org_id)
            if held is None:
                raise _invalid("The access token's user no longer exists.")
            scopes = policy.narrow(scopes, held)
    return Principal(
        kind=KIND_USER if token.user_id is not None else KIND_SERVICE_CLIENT,
        org_id=token.org_id,
        scopes=scopes,
        user_id=token.user_id,
        client_id=token.client_id,
        expires_at=token.expires_at,
    )
