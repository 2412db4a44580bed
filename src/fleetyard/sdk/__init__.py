"""The Fleetyard Python SDK: ``Client``, ``AsyncClient``, their resources, errors and config.

Most code imports from :mod:`fleetyard` directly; this package adds the
pieces the CLI and advanced users need (profile files, pagers, raw responses).

Example::

    from fleetyard import Client

    with Client() as client:  # settings from env or ~/.config/fleetyard/config.toml
        print(client.account.whoami().org.name)
"""

from fleetyard.sdk._base_client import USER_AGENT, TokenCallback
from fleetyard.sdk._client import AsyncClient, Client
from fleetyard.sdk._config import (
    DEFAULT_BASE_URL,
    Settings,
    config_path,
    delete_profile,
    load_config,
    load_profile,
    resolve_settings,
    save_profile,
    set_default_profile,
)
from fleetyard.sdk._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ConflictError,
    ExecQueueFullError,
    ExecutionFinishedError,
    FleetyardError,
    IdempotencyKeyMismatchError,
    InternalServerError,
    InvalidEventListenerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PreconditionFailedError,
    RateLimitError,
    TokenExpiredError,
    UnprocessableEntityError,
    WaitTimeoutError,
)
from fleetyard.sdk._pagination import AsyncPager, SyncPager
from fleetyard.sdk._push import (
    PushOptions,
    PushProgress,
    PushProgressCallback,
    PushResult,
    PushStats,
)
from fleetyard.sdk._raw_client import AsyncClientWithRawResponse, ClientWithRawResponse
from fleetyard.sdk._response import RawResponse
from fleetyard.sdk._retry import RetryPolicy, parse_retry_after, retry_delay
from fleetyard.sdk._stream import AsyncStreamSubscription, ReconnectCallback, StreamSubscription
from fleetyard.sdk._stream_state import ReconnectPolicy, StreamEvent
from fleetyard.sdk._types import NOT_GIVEN, NotGiven, ReadOptions, TimeoutTypes, WriteOptions
from fleetyard.sdk.action_queue import ActionQueue, AsyncActionQueue
from fleetyard.sdk.resources._actions import ActionLike, CommandLike, action
from fleetyard.sdk.resources._telemetry import ChannelRef, Instant
from fleetyard.sdk.resources.events import AsyncDeviceEventSubscription, DeviceEventSubscription
from fleetyard.sdk.resources.executions import AsyncExecutionHandle, ExecutionHandle
from fleetyard.sdk.resources.rollouts import AsyncRolloutHandle, RolloutHandle

__all__ = [
    "DEFAULT_BASE_URL",
    "NOT_GIVEN",
    "USER_AGENT",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "ActionLike",
    "ActionQueue",
    "AsyncActionQueue",
    "AsyncClient",
    "AsyncClientWithRawResponse",
    "AsyncDeviceEventSubscription",
    "AsyncExecutionHandle",
    "AsyncPager",
    "AsyncRolloutHandle",
    "AsyncStreamSubscription",
    "AuthenticationError",
    "BadRequestError",
    "ChannelRef",
    "Client",
    "ClientWithRawResponse",
    "CommandLike",
    "ConfigError",
    "ConflictError",
    "DeviceEventSubscription",
    "ExecQueueFullError",
    "ExecutionFinishedError",
    "ExecutionHandle",
    "FleetyardError",
    "IdempotencyKeyMismatchError",
    "Instant",
    "InternalServerError",
    "InvalidEventListenerError",
    "NotFoundError",
    "NotGiven",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "PushOptions",
    "PushProgress",
    "PushProgressCallback",
    "PushResult",
    "PushStats",
    "RateLimitError",
    "RawResponse",
    "ReadOptions",
    "ReconnectCallback",
    "ReconnectPolicy",
    "RetryPolicy",
    "RolloutHandle",
    "Settings",
    "StreamEvent",
    "StreamSubscription",
    "SyncPager",
    "TimeoutTypes",
    "TokenCallback",
    "TokenExpiredError",
    "UnprocessableEntityError",
    "WaitTimeoutError",
    "WriteOptions",
    "action",
    "config_path",
    "delete_profile",
    "load_config",
    "load_profile",
    "parse_retry_after",
    "resolve_settings",
    "retry_delay",
    "save_profile",
    "set_default_profile",
]
