"""Fleetyard: telemetry, device control and software delivery for fleets of machines.

This top-level package is the Python SDK. Importing it pulls in only the SDK
(pydantic and httpx2), never the server or the CLI.

Example::

    import fleetyard

    with fleetyard.Client("fy_live_...", base_url="https://yard.example") as client:
        site = client.sites.create("Depot")
        client.members(site.id).add("usr_01…", role="operator")
"""

from fleetyard._version import __version__
from fleetyard.sdk import (
    NOT_GIVEN,
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    ConfigError,
    ConflictError,
    FleetyardError,
    IdempotencyKeyMismatchError,
    InternalServerError,
    NotFoundError,
    NotGiven,
    PayloadTooLargeError,
    PermissionDeniedError,
    PreconditionFailedError,
    RateLimitError,
    RawResponse,
    ReconnectPolicy,
    RetryPolicy,
    TokenExpiredError,
    UnprocessableEntityError,
)

__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConfigError",
    "ConflictError",
    "FleetyardError",
    "IdempotencyKeyMismatchError",
    "InternalServerError",
    "NotFoundError",
    "NotGiven",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "RateLimitError",
    "RawResponse",
    "ReconnectPolicy",
    "RetryPolicy",
    "TokenExpiredError",
    "UnprocessableEntityError",
    "__version__",
]
