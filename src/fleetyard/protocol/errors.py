"""Problem details (RFC 9457) and the stable error codes.

Every error the API returns is ``application/problem+json`` with a ``code``
from :class:`ErrorCode`. Codes are part of the contract: they are never
renamed, only added. ``docs/errors.md`` lists them with their meaning.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from fleetyard.protocol.common import ResponseModel

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://fleetyard.dev/problems/"


class ErrorCode(StrEnum):
    """Stable machine-readable error codes, one per kind of failure."""

    BAD_REQUEST = "bad_request"
    INVALID_JSON = "invalid_json"
    VALIDATION_FAILED = "validation_failed"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    UNSUPPORTED_API_VERSION = "unsupported_api_version"
    INVALID_CURSOR = "invalid_cursor"
    UNAUTHENTICATED = "unauthenticated"
    TOKEN_EXPIRED = "token_expired"  # noqa: S105
    INVALID_CREDENTIALS = "invalid_credentials"
    TOTP_REQUIRED = "totp_required"
    INVALID_TOTP = "invalid_totp"
    INVALID_REFRESH_TOKEN = "invalid_refresh_token"  # noqa: S105
    SCOPE_INSUFFICIENT = "scope_insufficient"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    ALREADY_EXISTS = "already_exists"
    VERSION_STALE = "version_stale"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    IDEMPOTENCY_KEY_MISMATCH = "idempotency_key_mismatch"
    IDEMPOTENCY_KEY_IN_USE = "idempotency_key_in_use"
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    CHANNEL_NAME_INVALID = "channel_name_invalid"
    PAYLOAD_INVALID = "payload_invalid"
    JSON_SCHEMA_INVALID = "json_schema_invalid"
    NO_SUCH_DEVICE = "no_such_device"
    DEVICE_AMBIGUOUS = "device_ambiguous"
    NO_SUCH_COMMAND = "no_such_command"
    INVALID_PARAMETERS = "invalid_parameters"
    DUPLICATE_ACTION_ON_DEVICE = "duplicate_action_on_device"
    MIXED_GATEWAYS = "mixed_gateways"
    EXEC_QUEUE_FULL = "exec_queue_full"
    EXECUTION_FINISHED = "execution_finished"
    INVALID_EVENT_LISTENER = "invalid_event_listener"
    SETUP_INVALID = "setup_invalid"
    CHUNK_HASH_MISMATCH = "chunk_hash_mismatch"
    CHUNK_MISSING = "chunk_missing"
    QUOTA_EXCEEDED = "quota_exceeded"
    VERSION_NOT_FOUND = "version_not_found"
    URL_EXPIRED = "url_expired"
    SIGNATURE_INVALID = "signature_invalid"
    MANIFEST_INVALID = "manifest_invalid"
    ROLLOUT_FINISHED = "rollout_finished"
    INTERNAL_ERROR = "internal_error"
    UNAVAILABLE = "unavailable"


class FieldError(ResponseModel):
    """One invalid field: where it is (``body.name``, ``query.limit``) and why."""

    loc: list[str | int]
    message: str
    type: str


class Problem(ResponseModel):
    """An RFC 9457 problem document as Fleetyard sends it.

    Extra members (``current_version``, ``retry_after``…) ride along as
    unknown fields and are kept.
    """

    type: str = "about:blank"
    title: str
    status: int
    code: str
    detail: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = Field(default=None)

    @classmethod
    def build(
        cls,
        status: int,
        code: ErrorCode | str,
        title: str,
        detail: str | None = None,
        **extra: Any,
    ) -> Problem:
        """Make a problem whose ``type`` points at the code's documentation."""
        return cls(
            type=PROBLEM_TYPE_BASE + str(code),
            title=title,
            status=status,
            code=str(code),
            detail=detail,
            **extra,
        )
