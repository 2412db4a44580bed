"""The wire contract shared by the server and the SDK.

Everything that crosses the network is described here once: pydantic models,
enums, error codes, scopes and identifier shapes. This package imports nothing
else of Fleetyard, so a device that installs only the SDK carries it for free.
"""

from fleetyard.protocol.common import Page, RequestModel, ResponseModel, Timestamp
from fleetyard.protocol.errors import ErrorCode, FieldError, Problem

API_VERSION = "2026-11-01"
"""The newest API version this release speaks; sent as ``Fleetyard-Version``."""

SUPPORTED_API_VERSIONS = ("2026-11-01",)

__all__ = [
    "API_VERSION",
    "SUPPORTED_API_VERSIONS",
    "ErrorCode",
    "FieldError",
    "Page",
    "Problem",
    "RequestModel",
    "ResponseModel",
    "Timestamp",
]
