"""Placeholder until identity lands: first-start bootstrap of the admin key."""

from __future__ import annotations

from fleetyard.server.settings import Settings
from fleetyard.server.storage.database import Database


async def ensure_bootstrap(database: Database, settings: Settings) -> str | None:
    return None
