"""Secrets, password hashes and TOTP.

Every bearer secret (API key, access token, refresh token, service-client
secret) is a high-entropy random string that is shown once and stored only
as its SHA-256 hex digest; lookups go by digest. A plain hash is right here
(unlike for passwords) because the secrets carry ~238 bits of entropy, so
there is nothing to brute-force. Passwords, which people choose, use argon2,
run in a worker thread so the event loop keeps serving while it hashes.

Shapes: ``fy_live_<40>`` / ``fy_test_<40>`` API keys, ``fya_<40>`` access
tokens, ``fyr_<40>`` refresh tokens, ``fys_<40>`` service-client secrets,
where ``<40>`` is 40 base62 characters.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import string

import anyio.to_thread
import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

API_KEY_PREFIXES = ("fy_live_", "fy_test_")
ACCESS_TOKEN_PREFIX = "fya_"  # noqa: S105 - a prefix, not a secret
REFRESH_TOKEN_PREFIX = "fyr_"  # noqa: S105 - a prefix, not a secret
CLIENT_SECRET_PREFIX = "fys_"  # noqa: S105 - a prefix, not a secret
SECRET_LENGTH = 40
DISPLAY_PREFIX_LENGTH = 12
TOTP_ISSUER = "Fleetyard"

_BASE62 = string.ascii_letters + string.digits
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    # Verifying against this when an email is unknown makes a failed login
    # cost the same time whether or not the address exists.
    return _hasher.hash(secrets.token_urlsafe(16))


def random_secret(prefix: str) -> str:
    """``prefix`` followed by 40 random base62 characters."""
    return prefix + "".join(secrets.choice(_BASE62) for _ in range(SECRET_LENGTH))


def new_api_key(environment: str) -> str:
    """A new API key for ``live`` or ``test``."""
    return random_secret(f"fy_{environment}_")


def is_api_key(text: str) -> bool:
    """Whether a bearer secret has an API key's prefix."""
    return text.startswith(API_KEY_PREFIXES)


def api_key_environment(key: str) -> str:
    """``live`` or ``test``, read from the key's prefix."""
    return "live" if key.startswith("fy_live_") else "test"


def hash_secret(secret: str) -> str:
    """The SHA-256 hex digest a secret is stored and looked up by."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secrets_match(secret: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented secret with a stored digest."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def display_prefix(secret: str) -> str:
    """The first characters of a secret, stored so people can tell keys apart."""
    return secret[:DISPLAY_PREFIX_LENGTH]


async def hash_password(password: str) -> str:
    """An argon2 hash of ``password``, computed off the event loop."""
    return await anyio.to_thread.run_sync(_hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; a missing hash still spends the same time."""

    def verify() -> bool:
        try:
            return (
                _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False

    return await anyio.to_thread.run_sync(verify)


def password_needs_rehash(stored_hash: str) -> bool:
    """Whether a stored hash uses weaker parameters than the current ones."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def new_totp_secret() -> str:
    """A new base32 TOTP secret."""
    return str(pyotp.random_base32())


def totp_uri(secret: str, account: str) -> str:
    """The ``otpauth://`` URI an authenticator app scans."""
    return str(pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=TOTP_ISSUER))


def verify_totp(secret: str, code: str) -> bool:
    """Whether ``code`` is valid now, one 30-second step of clock drift allowed."""
    return bool(pyotp.TOTP(secret).verify(code, valid_window=1))
