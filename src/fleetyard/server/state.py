"""What a running server holds: settings, the database, the clock it started at."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fleetyard.server.bus import Bus, MemoryBus
from fleetyard.server.services.agent_session.registry import SessionRegistry
from fleetyard.server.services.auth_cache import PrincipalCache
from fleetyard.server.services.telemetry.ingest import IngestWriter
from fleetyard.server.settings import Settings
from fleetyard.server.storage.blobs import BlobStore
from fleetyard.server.storage.database import Database


@dataclass
class AppState:
    settings: Settings
    database: Database
    ingest: IngestWriter
    # Chunk bytes of software versions (services/chunks), created in the lifespan.
    blobs: BlobStore
    # Stream events between the ingest writer, presence and the stream routes.
    bus: Bus = field(default_factory=MemoryBus)
    started_monotonic: float = field(default_factory=time.monotonic)
    # Set on the first start of an empty database when a key was generated.
    bootstrap_api_key: str | None = None
    # Agent sessions open in this process, per agent (see services/agent_session/registry.py).
    agent_sessions: SessionRegistry = field(default_factory=SessionRegistry)
    _principals: PrincipalCache | None = field(default=None, repr=False)

    @property
    def principals(self) -> PrincipalCache:
        """The hot routes' short-lived memory of authenticated credentials."""
        if self._principals is None:
            self._principals = PrincipalCache(self.settings.auth_cache_seconds)
        return self._principals

    async def close_streams(self) -> None:
        """End every WebSocket and SSE stream (1012: reconnect), e.g. before the server stops.

        Streams never finish on their own, so a server waiting for open
        connections to close would wait forever without this.
        """
        await self.bus.close()

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_monotonic
