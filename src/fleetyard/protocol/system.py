"""Health and system information."""

from __future__ import annotations

from fleetyard.protocol.common import ResponseModel


class Health(ResponseModel):
    status: str
    checks: dict[str, str] = {}


class SystemInfo(ResponseModel):
    """``GET /v1/system/info``: what is serving and since when."""

    version: str
    api_version: str
    database: str
    uptime_seconds: float
    dev_mode: bool
