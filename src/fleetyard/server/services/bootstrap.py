"""First start: an empty database gets an organisation, an admin and an admin API key.

The key is ``settings.bootstrap_api_key`` when given (it must look like an
API key), else a generated one, saved to ``<data_dir>/bootstrap-key`` with
mode 0600 and returned so that ``yard serve`` can show it once. Nothing
happens when an organisation already exists, so a restart (or a second
replica) never makes another key. Two replicas starting together on one
empty database race on the organisation's unique name; the loser rolls back
and carries on.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import anyio.to_thread

from fleetyard.protocol.ids import new_id
from fleetyard.protocol.scopes import ADMIN_SCOPES
from fleetyard.server.services import security
from fleetyard.server.services.clock import now_ms
from fleetyard.server.settings import Settings
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import api_keys, orgs, users
from fleetyard.server.storage.repositories._common import DuplicateError

DEFAULT_ORG = "default"
ADMIN_EMAIL = "admin@fleetyard.local"
KEY_NAME = "bootstrap admin"
KEY_FILE = "bootstrap-key"
MIN_SECRET_LENGTH = 16
_SECRET = re.compile(rf"[A-Za-z0-9_\-]{{{MIN_SECRET_LENGTH},200}}")


class BootstrapError(RuntimeError):
    """The configured bootstrap key cannot be used."""


def check_bootstrap_key(key: str) -> str:
    """``key`` if it can be the bootstrap admin key, else :class:`BootstrapError`."""
    if not security.is_api_key(key):
        raise BootstrapError(
            "FLEETYARD_BOOTSTRAP_API_KEY must start with fy_live_ or fy_test_ "
            "(for example fy_live_ followed by 40 random letters and digits)"
        )
    secret = key.split("_", 2)[2]
    if not _SECRET.fullmatch(secret):
        raise BootstrapError(
            f"FLEETYARD_BOOTSTRAP_API_KEY needs at least {MIN_SECRET_LENGTH} letters, digits, "
            "'-' or '_' after its fy_live_/fy_test_ prefix"
        )
    return key


def _write_key_file(path: Path, key: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created with 0600 from the start (no window where others could read it),
    # and chmod-ed in case the file already existed with wider rights.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (key + "\n").encode())
    finally:
        os.close(fd)


async def ensure_bootstrap(database: Database, settings: Settings) -> str | None:
    """Provision an empty database; return the generated admin key, or None.

    None means nothing new was generated: the database was already set up,
    another replica won the race, or the key came from the settings.
    """
    given = settings.bootstrap_api_key
    configured = check_bootstrap_key(given.get_secret_value()) if given is not None else None
    async with database.connect() as conn:
        if await orgs.any_exists(conn):
            return None
    key = configured or security.new_api_key("live")
    now = now_ms()
    org_id = new_id("org", now_ms=now)
    try:
        async with database.begin() as conn:
            await orgs.insert(conn, org_id=org_id, name=DEFAULT_ORG, now_ms=now)
            await users.insert(
                conn,
                org_id=org_id,
                user_id=new_id("usr", now_ms=now),
                email=ADMIN_EMAIL,
                name="Administrator",
                role=users.ADMIN,
                password_hash=None,
                now_ms=now,
            )
            # An organisation key, not the admin user's: deleting that user
            # must not lock the operator out.
            await api_keys.insert(
                conn,
                org_id=org_id,
                key_id=new_id("key", now_ms=now),
                user_id=None,
                name=KEY_NAME,
                prefix=security.display_prefix(key),
                secret_hash=security.hash_secret(key),
                environment=security.api_key_environment(key),
                scopes=list(ADMIN_SCOPES),
                expires_at=None,
                now_ms=now,
            )
    except DuplicateError:
        return None  # another replica provisioned the database first
    if configured is not None:
        return None
    await anyio.to_thread.run_sync(_write_key_file, Path(settings.data_dir) / KEY_FILE, key)
    return key
