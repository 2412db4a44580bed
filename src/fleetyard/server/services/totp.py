"""Two-factor login with TOTP: set up, confirm with a first code, turn off.

Only a logged-in user (an access token from ``/v1/auth/login``) manages its
own TOTP; an API key cannot, even one owned by a user, so a leaked key
cannot turn a user's second factor off.
"""

from __future__ import annotations

from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.identity import TotpSetup, User
from fleetyard.server.services import security
from fleetyard.server.services.auth import KIND_USER, Principal
from fleetyard.server.services.errors import BadRequest, Conflict, NotFound, Unprocessable
from fleetyard.server.services.users import load_user
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import users


def _user_id(principal: Principal) -> str:
    if principal.kind != KIND_USER or principal.user_id is None:
        raise BadRequest(
            "TOTP belongs to users: call this with a user's access token from a login."
        )
    return principal.user_id


async def start(database: Database, principal: Principal) -> TotpSetup:
    """A new secret for the authenticator app; nothing changes at login until it is confirmed."""
    user_id = _user_id(principal)
    secret = security.new_totp_secret()
    async with database.begin() as conn:
        user = await users.get(conn, user_id, org_id=principal.org_id)
        if user is None:
            raise NotFound("Your user was not found.")
        if user.totp_enabled:
            raise Conflict("TOTP is already on; turn it off first to set up a new secret.")
        await users.set_totp(conn, user_id, org_id=principal.org_id, secret=secret, enabled=False)
    return TotpSetup(secret=secret, otpauth_uri=security.totp_uri(secret, user.email))


async def confirm(database: Database, principal: Principal, code: str) -> User:
    """Turn TOTP on with a first valid code from the app."""
    user_id = _user_id(principal)
    async with database.begin() as conn:
        user = await users.get(conn, user_id, org_id=principal.org_id)
        if user is None:
            raise NotFound("Your user was not found.")
        if not user.totp_secret:
            raise Conflict("Set TOTP up first with POST /v1/account/totp.")
        if not security.verify_totp(user.totp_secret, code):
            raise Unprocessable("The TOTP code is wrong.", code=ErrorCode.INVALID_TOTP)
        await users.set_totp(
            conn, user_id, org_id=principal.org_id, secret=user.totp_secret, enabled=True
        )
        return await load_user(conn, user_id, org_id=principal.org_id)


async def disable(database: Database, principal: Principal) -> User:
    """Turn TOTP off and forget the secret."""
    user_id = _user_id(principal)
    async with database.begin() as conn:
        await users.set_totp(conn, user_id, org_id=principal.org_id, secret=None, enabled=False)
        return await load_user(conn, user_id, org_id=principal.org_id)
