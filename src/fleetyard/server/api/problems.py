"""Every error leaves the server as ``application/problem+json`` with a stable ``code``."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from fleetyard.protocol.errors import PROBLEM_CONTENT_TYPE, ErrorCode, FieldError, Problem
from fleetyard.server.services.errors import ServiceError

log = logging.getLogger("fleetyard.server")

_STATUS_CODES = {
    400: (ErrorCode.BAD_REQUEST, "Bad request"),
    401: (ErrorCode.UNAUTHENTICATED, "Authentication required"),
    403: (ErrorCode.FORBIDDEN, "Forbidden"),
    404: (ErrorCode.NOT_FOUND, "Not found"),
    405: (ErrorCode.METHOD_NOT_ALLOWED, "Method not allowed"),
    413: (ErrorCode.PAYLOAD_TOO_LARGE, "Payload too large"),
    415: (ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Unsupported media type"),
    429: (ErrorCode.RATE_LIMITED, "Too many requests"),
}


def request_id_of(request: Request) -> str | None:
    value = getattr(request.state, "request_id", None)
    return value if isinstance(value, str) else None


def problem_response(problem: Problem, *, headers: dict[str, str] | None = None) -> Response:
    body = problem.model_dump(mode="json", exclude_none=True)
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=problem.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def make_problem(
    status: int,
    code: ErrorCode | str,
    title: str,
    detail: str | None = None,
    request_id: str | None = None,
    **extra: Any,
) -> Problem:
    return Problem.build(status, code, title, detail, request_id=request_id, **extra)


def _field_errors(exc: RequestValidationError) -> list[FieldError]:
    errors = []
    for error in exc.errors():
        loc = [part for part in error.get("loc", ()) if isinstance(part, str | int)]
        errors.append(
            FieldError(loc=loc, message=str(error.get("msg", "")), type=str(error["type"]))
        )
    return errors


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    problem = make_problem(
        exc.status, exc.code, exc.title, exc.detail, request_id_of(request), **exc.extra
    )
    return problem_response(problem, headers=exc.headers)


def _body_not_json(request: Request, errors: list[FieldError]) -> bool:
    """Whether the body failed as a whole because it was not declared as JSON."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        return False
    return any(
        tuple(e.loc) == ("body",) and e.type in ("model_attributes_type", "dict_type")
        for e in errors
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc)
    if _body_not_json(request, errors):
        # FastAPI reads a body as JSON only when it is declared so; anything else (curl's
        # ``-d`` sends a form type) would otherwise be "not a valid dictionary".
        problem = make_problem(
            415,
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            "Send the body as JSON, with Content-Type: application/json.",
            request_id_of(request),
        )
    elif any(e.type == "json_invalid" for e in errors):
        problem = make_problem(
            400,
            ErrorCode.INVALID_JSON,
            "Malformed JSON",
            "The request body is not valid JSON.",
            request_id_of(request),
        )
    else:
        problem = make_problem(
            422,
            ErrorCode.VALIDATION_FAILED,
            "Validation failed",
            "; ".join(f"{'.'.join(map(str, e.loc))}: {e.message}" for e in errors[:5]),
            request_id_of(request),
        )
        problem.errors = errors
    return problem_response(problem)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code, title = _STATUS_CODES.get(exc.status_code, (ErrorCode.BAD_REQUEST, "Request failed"))
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
    problem = make_problem(exc.status_code, code, title, detail, request_id_of(request))
    return problem_response(problem, headers=dict(exc.headers or {}))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    problem = make_problem(
        500,
        ErrorCode.INTERNAL_ERROR,
        "Internal server error",
        "The server failed to handle the request; it has been logged.",
        request_id_of(request),
    )
    return problem_response(problem)


async def problem_for(request: Request, exc: Exception) -> Response:
    """The problem answer the installed handlers give ``exc``, for pure-ASGI code paths
    that run outside FastAPI's exception handling (the publish fast path)."""
    if isinstance(exc, ServiceError):
        return await _service_error(request, exc)
    if isinstance(exc, RequestValidationError):
        return await _validation_error(request, exc)
    if isinstance(exc, StarletteHTTPException):
        return await _http_error(request, exc)
    return await _unexpected_error(request, exc)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
