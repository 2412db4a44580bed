"""API keys: create, list, rotate and revoke.

Keys belong to the organisation; a key made by a user (or by one of the
user's keys) also belongs to that user and never holds more than the user
does. A caller with ``key:*:admin`` sees and manages every key of the
organisation; any other caller only the keys of its own user. The secret is
returned once, by create and rotate, and stored only as a hash.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.identity import ApiKey, ApiKeyCreate, ApiKeyCreated, KeyEnvironment
from fleetyard.protocol.ids import new_id
from fleetyard.protocol.scopes import Scope, parse_scopes
from fleetyard.server.services import security
from fleetyard.server.services.auth import Principal, parse_stored, require_scopes
from fleetyard.server.services.auth_cache import credentials_changed
from fleetyard.server.services.clock import now_ms, optional_datetime, to_datetime, to_ms
from fleetyard.server.services.errors import Conflict, NotFound, Unprocessable
from fleetyard.server.services.pagination import PageRequest, PageResult, cut
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import api_keys
from fleetyard.server.storage.repositories.api_keys import ApiKeyRecord

KEY_ID_PREFIX = "key"
_KEY_ADMIN = Scope("key", "*", "admin")


def key_model(record: ApiKeyRecord) -> ApiKey:
    """The wire shape of a stored key (never its secret)."""
    return ApiKey(
        id=record.id,
        name=record.name,
        prefix=record.prefix,
        environment=KeyEnvironment(record.environment),
        scopes=record.scopes,
        created_at=to_datetime(record.created_at),
        expires_at=optional_datetime(record.expires_at),
        last_used_at=optional_datetime(record.last_used_at),
        revoked_at=optional_datetime(record.revoked_at),
        rotated_to=record.rotated_to,
    )


def _created(record: ApiKeyRecord, secret: str) -> ApiKeyCreated:
    return ApiKeyCreated(**key_model(record).model_dump(), secret=secret)


async def _visible(conn: AsyncConnection, principal: Principal, key_id: str) -> ApiKeyRecord:
    record = await api_keys.get(
        conn,
        key_id,
        org_id=principal.org_id,
        user_id=principal.user_id,
        every_user=principal.grants(_KEY_ADMIN),
    )
    if record is None:
        raise NotFound(f"API key {key_id!r} was not found.")
    return record


async def _insert(
    conn: AsyncConnection,
    principal: Principal,
    *,
    name: str,
    environment: str,
    scopes: list[str],
    expires_at: int | None,
    user_id: str | None,
    now: int,
) -> ApiKeyCreated:
    secret = security.new_api_key(environment)
    record = await api_keys.insert(
        conn,
        org_id=principal.org_id,
        key_id=new_id(KEY_ID_PREFIX, now_ms=now),
        user_id=user_id,
        name=name,
        prefix=security.display_prefix(secret),
        secret_hash=security.hash_secret(secret),
        environment=environment,
        scopes=scopes,
        expires_at=expires_at,
        now_ms=now,
    )
    return _created(record, secret)


async def issue_key(
    conn: AsyncConnection,
    principal: Principal,
    *,
    name: str,
    scopes: list[str],
    expires_at: int | None,
    environment: str = KeyEnvironment.LIVE.value,
) -> ApiKeyCreated:
    """An organisation-owned key whose scopes the *calling service* has authorised.

    For credentials whose right to exist is decided by another rule than
    "the caller holds every scope" (per-agent device tokens: ``admin`` on the
    agent or its site). Owned by no user, so it outlives whoever issued it and
    is not narrowed by that user's scopes; like any key it is listed and
    revoked through ``/v1/account/api-keys`` (``key:*:admin``).
    """
    return await _insert(
        conn,
        principal,
        name=name,
        environment=environment,
        scopes=scopes,
        expires_at=expires_at,
        user_id=None,
        now=now_ms(),
    )


async def list_keys(
    database: Database, principal: Principal, page: PageRequest
) -> PageResult[ApiKey]:
    """The keys the caller may manage, by id."""
    async with database.connect() as conn:
        rows = await api_keys.list_page(
            conn,
            org_id=principal.org_id,
            user_id=principal.user_id,
            every_user=principal.grants(_KEY_ADMIN),
            after=page.after,
            limit=page.limit,
        )
    return cut(rows, page, lambda r: r.id, key_model)


async def create_key(database: Database, principal: Principal, body: ApiKeyCreate) -> ApiKeyCreated:
    """A new key whose every scope the caller itself holds."""
    require_scopes(principal, *parse_scopes(body.scopes))
    now = now_ms()
    expires_at = None if body.expires_at is None else to_ms(body.expires_at)
    if expires_at is not None and expires_at <= now:
        raise Unprocessable(
            "expires_at must be in the future.",
            errors=[
                {
                    "loc": ["body", "expires_at"],
                    "message": "must be in the future",
                    "type": "value_error",
                }
            ],
        )
    async with database.begin() as conn:
        return await _insert(
            conn,
            principal,
            name=body.name,
            environment=body.environment.value,
            scopes=list(dict.fromkeys(body.scopes)),
            expires_at=expires_at,
            user_id=principal.user_id,
            now=now,
        )


async def rotate_key(
    database: Database, principal: Principal, key_id: str, *, grace_seconds: int
) -> ApiKeyCreated:
    """A successor with the same name, scopes and owner; the old key expires after the grace.

    Rotating hands out a working secret, so it needs every scope of the key,
    like creating it would.
    """
    now = now_ms()
    async with database.begin() as conn:
        old = await _visible(conn, principal, key_id)
        if old.revoked_at is not None:
            raise Conflict(f"API key {key_id!r} is revoked; create a new key instead.")
        if old.rotated_to is not None:
            raise Conflict(f"API key {key_id!r} was already rotated to {old.rotated_to!r}.")
        if old.expires_at is not None and old.expires_at <= now:
            raise Conflict(f"API key {key_id!r} has expired; create a new key instead.")
        require_scopes(principal, *parse_stored(old.scopes))
        new = await _insert(
            conn,
            principal,
            name=old.name,
            environment=old.environment,
            scopes=old.scopes,
            expires_at=old.expires_at,
            user_id=old.user_id,
            now=now,
        )
        grace_end = now + grace_seconds * 1000
        if old.expires_at is not None:
            grace_end = min(grace_end, old.expires_at)
        if not await api_keys.mark_rotated(
            conn, old.id, org_id=principal.org_id, rotated_to=new.id, expires_at=grace_end
        ):
            # Another rotation or a revocation won the race; this transaction rolls back.
            raise Conflict(f"API key {key_id!r} changed meanwhile; list it and try again.")
    credentials_changed()
    return new


async def revoke_key(database: Database, principal: Principal, key_id: str) -> ApiKey:
    """Revoke a key at once (revoking it again changes nothing)."""
    async with database.begin() as conn:
        record = await _visible(conn, principal, key_id)
        await api_keys.revoke(conn, record.id, org_id=principal.org_id, now_ms=now_ms())
        revoked = key_model(await _visible(conn, principal, key_id))
    credentials_changed()
    return revoked
