"""What a running server holds: settings, the database, the clock it started at."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fleetyard.server.services.telemetry.ingest import IngestWriter
from fleetyard.server.settings import Settings
from fleetyard.server.storage.database import Database


@dataclass
class AppState:
    settings: Settings
    database: Database
    ingest: IngestWriter
    started_monotonic: float = field(default_factory=time.monotonic)
    # Set on the first start of an empty database when a key was generated.
    bootstrap_api_key: str | None = None

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_monotonic
