"""Errors the domain raises. The API layer turns each into a problem+json answer."""

from __future__ import annotations

from typing import Any

from fleetyard.protocol.errors import ErrorCode


class ServiceError(Exception):
    """A failure with a stable code that the caller can act on.

    ``extra`` members travel in the problem body (``current_version`` for
    ``version_stale``…); ``headers`` go on the response (``Retry-After``).
    """

    status: int = 400
    code: ErrorCode = ErrorCode.BAD_REQUEST
    title: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: ErrorCode | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        if code is not None:
            self.code = code
        self.headers = headers or {}
        self.extra = extra


class BadRequest(ServiceError):
    pass


class Unauthenticated(ServiceError):
    status, code, title = 401, ErrorCode.UNAUTHENTICATED, "Authentication required"


class Forbidden(ServiceError):
    status, code, title = 403, ErrorCode.SCOPE_INSUFFICIENT, "Scope insufficient"


class NotFound(ServiceError):
    status, code, title = 404, ErrorCode.NOT_FOUND, "Not found"


class Conflict(ServiceError):
    status, code, title = 409, ErrorCode.CONFLICT, "Conflict"


class PreconditionFailed(ServiceError):
    status, code, title = 412, ErrorCode.VERSION_STALE, "Precondition failed"


class Unprocessable(ServiceError):
    status, code, title = 422, ErrorCode.VALIDATION_FAILED, "Unprocessable request"


class TooManyRequests(ServiceError):
    status, code, title = 429, ErrorCode.RATE_LIMITED, "Too many requests"


class Unavailable(ServiceError):
    status, code, title = 503, ErrorCode.UNAVAILABLE, "Service unavailable"


class Overloaded(ServiceError):
    """The server sheds load (a full ingest queue); the client retries after ``Retry-After``."""

    status, code, title = 503, ErrorCode.OVERLOADED, "Overloaded"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1, **extra: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, **extra)
