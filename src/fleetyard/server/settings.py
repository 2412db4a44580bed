"""Server settings, read from ``FLEETYARD_*`` environment variables or ``yard serve`` flags.

Nothing is read at import time: :func:`load_settings` is called by whoever
starts the server, so tests build settings explicitly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fleetyard.server.storage.dialect import normalize_database_url

# Only ever used in dev mode; a production start refuses it.
DEV_SECRET_KEY = "fleetyard-dev-secret-key-do-not-use-in-production"  # noqa: S105


class InsecureSettingsError(RuntimeError):
    """The server would start with a default secret outside dev mode."""


class Settings(BaseSettings):
    """Everything the server can be told. Each field is ``FLEETYARD_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="FLEETYARD_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8700, ge=0, le=65535)
    data_dir: Path = Path("./var")
    database_url: str | None = None
    dev: bool = False
    secret_key: SecretStr | None = None
    bootstrap_api_key: SecretStr | None = None
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    access_token_ttl_seconds: int = Field(default=15 * 60, ge=10)
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=60)
    idempotency_ttl_seconds: int = Field(default=86_400, ge=60)
    # How long the publish routes remember an authenticated credential (0: not at all);
    # see fleetyard.server.services.auth_cache for what it means for revocation.
    auth_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    # How often channel retention policies are applied; 0 turns the background task off.
    retention_interval_seconds: float = Field(default=60.0, ge=0)
    # Real-time streams: the bus (memory:// is in-process), presence and stream timing.
    bus_url: str = "memory://"
    presence_timeout_seconds: float = Field(default=30.0, gt=0)
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0)
    stream_send_timeout_seconds: float = Field(default=30.0, gt=0)
    # Device control: executions, the agent session, event listeners and the jobs loop.
    execution_limit_per_gateway: int = Field(default=10, ge=1, le=10_000)
    # An execution the gateway has not taken within this long becomes not_transmitted.
    execution_transmit_timeout_seconds: float = Field(default=30.0, gt=0)
    agent_heartbeat_seconds: float = Field(default=10.0, gt=0)
    event_listener_ttl_seconds: float = Field(default=600.0, gt=0)
    device_event_retention_seconds: float = Field(default=7 * 86_400.0, gt=0)
    job_poll_seconds: float = Field(default=1.0, gt=0)
    # Software delivery: where chunk bytes live (None: file://<data_dir>/blobs; s3://bucket?…),
    # how long an unreferenced chunk survives, how often GC runs, and a new site's quota.
    blob_url: str | None = None
    chunk_gc_grace_seconds: float = Field(default=86_400.0, ge=0)
    chunk_gc_interval_seconds: float = Field(default=3600.0, gt=0)
    default_site_quota_bytes: int | None = Field(default=None, ge=0)
    log_level: str = "info"
    # uvicorn's HTTP parser and event loop. "auto" takes httptools and uvloop when they
    # are installed (they are, with the server extra); the pure-Python h11 and asyncio
    # are for platforms without them.
    http: Literal["auto", "httptools", "h11"] = "auto"
    loop: Literal["auto", "uvloop", "asyncio"] = "auto"

    @model_validator(mode="after")
    def _fill_database_url(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'fleetyard.db').as_posix()}"
        self.database_url = normalize_database_url(self.database_url)
        return self

    @property
    def resolved_database_url(self) -> str:
        assert self.database_url is not None  # filled by the validator
        return self.database_url

    @property
    def effective_secret_key(self) -> str:
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return DEV_SECRET_KEY

    def ensure_safe(self) -> None:
        """Refuse to serve with a default or weak secret unless in dev mode."""
        if self.dev:
            return
        key = self.secret_key.get_secret_value() if self.secret_key else ""
        if not key or key == DEV_SECRET_KEY or len(key) < 32:
            raise InsecureSettingsError(
                "FLEETYARD_SECRET_KEY must be set to a random value of at least 32 characters "
                "(or run in dev mode with --dev / FLEETYARD_DEV=1)"
            )


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit values (flags) winning."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**given)
