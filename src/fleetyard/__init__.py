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
    ActionQueue,
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AsyncActionQueue,
    AsyncClient,
    AsyncExecutionHandle,
    AsyncRolloutHandle,
    AuthenticationError,
    BadRequestError,
    Client,
    ConfigError,
    ConflictError,
    ExecQueueFullError,
    ExecutionFinishedError,
    ExecutionHandle,
    FleetyardError,
    IdempotencyKeyMismatchError,
    InternalServerError,
    InvalidEventListenerError,
    NotFoundError,
    NotGiven,
    PayloadTooLargeError,
    PermissionDeniedError,
    PreconditionFailedError,
    PushOptions,
    PushProgress,
    PushResult,
    PushStats,
    RateLimitError,
    RawResponse,
    ReconnectPolicy,
    RetryPolicy,
    RolloutHandle,
    TokenExpiredError,
    UnprocessableEntityError,
    WaitTimeoutError,
)

__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "ActionQueue",
    "AsyncActionQueue",
    "AsyncClient",
    "AsyncExecutionHandle",
    "AsyncRolloutHandle",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConfigError",
    "ConflictError",
    "ExecQueueFullError",
    "ExecutionFinishedError",
    "ExecutionHandle",
    "FleetyardError",
    "IdempotencyKeyMismatchError",
    "InternalServerError",
    "InvalidEventListenerError",
    "NotFoundError",
    "NotGiven",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "PushOptions",
    "PushProgress",
    "PushResult",
    "PushStats",
    "RateLimitError",
    "RawResponse",
    "ReconnectPolicy",
    "RetryPolicy",
    "RolloutHandle",
    "TokenExpiredError",
    "UnprocessableEntityError",
    "WaitTimeoutError",
    "__version__",
]
