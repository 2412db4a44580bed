"""Every error the SDK raises, in one tree.

::

    FleetyardError                      anything raised by this SDK on purpose
    ├── ConfigError                     bad or missing configuration (profile, config file)
    ├── WaitTimeoutError                a handle's wait() ran out of time (also a TimeoutError)
    └── APIError                        a call failed: .status .code .request_id .problem
        ├── APIConnectionError          no usable answer (DNS, refused, reset, TLS…)
        │   └── APITimeoutError         …because a timeout expired
        ├── APIResponseValidationError  a 2xx answer that does not match the expected model
        └── APIStatusError              the API answered with a 4xx/5xx: .response
            ├── BadRequestError             400
            ├── AuthenticationError         401
            │   └── TokenExpiredError           401 token_expired
            ├── PermissionDeniedError       403
            ├── NotFoundError               404
            │   └── InvalidEventListenerError   404 invalid_event_listener
            ├── ConflictError               409
            │   └── ExecutionFinishedError      409 execution_finished
            ├── PreconditionFailedError     412 (and code version_stale)
            ├── PayloadTooLargeError        413
            ├── UnprocessableEntityError    422
            │   └── IdempotencyKeyMismatchError 422 idempotency_key_mismatch
            ├── RateLimitError              429: .retry_after
            │   └── ExecQueueFullError          429 exec_queue_full
            └── InternalServerError         5xx

The class comes from the problem ``code`` when it names a more precise error
and from the HTTP status otherwise, so ``except NotFoundError`` works whatever
the body looked like (an HTML 502 from a proxy still becomes an
:class:`InternalServerError`). Other statuses raise :class:`APIStatusError`
itself.
"""

from __future__ import annotations

import json
import re

import httpx2
from pydantic import ValidationError

from fleetyard.protocol.errors import ErrorCode, Problem
from fleetyard.sdk._retry import parse_retry_after

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigError",
    "ConflictError",
    "ExecQueueFullError",
    "ExecutionFinishedError",
    "FleetyardError",
    "IdempotencyKeyMismatchError",
    "InternalServerError",
    "InvalidEventListenerError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "RateLimitError",
    "TokenExpiredError",
    "UnprocessableEntityError",
    "WaitTimeoutError",
    "error_from_response",
]

REQUEST_ID_HEADER = "X-Request-Id"
_BODY_SNIPPET = 200


class FleetyardError(Exception):
    """Base of every exception the SDK raises on purpose.

    Example::

        try:
            client.sites.get("site_01…")
        except fleetyard.FleetyardError as exc:
            print("fleetyard failed:", exc)
    """


class ConfigError(FleetyardError):
    """The configuration cannot be used: a named profile is missing, the file is not TOML…

    Example::

        try:
            fleetyard.Client(profile="staging")
        except fleetyard.ConfigError as exc:
            print(exc)  # profile 'staging' is not in ~/.config/fleetyard/config.toml
    """


class WaitTimeoutError(FleetyardError, TimeoutError):
    """A handle's ``wait(timeout=…)`` ran out of time before the operation finished.

    The operation itself goes on; ``last`` holds what the last poll saw (an
    :class:`~fleetyard.protocol.executions.Execution`, an agent command…).

    Example::

        try:
            handle.wait(timeout=30)
        except fleetyard.WaitTimeoutError as exc:
            print("still", exc.last.state)
    """

    def __init__(self, message: str, *, last: object = None) -> None:
        super().__init__(message)
        self.last = last


class APIError(FleetyardError):
    """A call to the API failed.

    Every API error carries ``status``, ``code``, ``request_id`` and ``problem``
    (each ``None`` when unknown, e.g. when no answer arrived), plus ``message``.

    Example::

        try:
            client.sites.create("Depot")
        except fleetyard.APIError as exc:
            print(exc.status, exc.code, exc.request_id)
    """

    status: int | None
    code: str | None
    request_id: str | None
    problem: Problem | None
    message: str
    request: httpx2.Request | None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        problem: Problem | None = None,
        request: httpx2.Request | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.problem = problem
        self.request = request


class APIConnectionError(APIError):
    """No usable answer: the connection failed or broke (after all retries).

    Example::

        try:
            client.system.info()
        except fleetyard.APIConnectionError:
            print("is the server running?")
    """

    def __init__(
        self, message: str = "Connection error.", *, request: httpx2.Request | None
    ) -> None:
        super().__init__(message, request=request)


class APITimeoutError(APIConnectionError):
    """A timeout expired before an answer arrived (after all retries).

    Example::

        try:
            client.system.info(timeout=0.5)
        except fleetyard.APITimeoutError:
            ...
    """

    def __init__(
        self, message: str = "Request timed out.", *, request: httpx2.Request | None
    ) -> None:
        super().__init__(message, request=request)


class APIResponseValidationError(APIError):
    """The API answered 2xx, but the body is not what this SDK expected.

    Usually an SDK much older or newer than the server. ``response`` holds the answer.

    Example::

        except fleetyard.APIResponseValidationError as exc:
            print(exc.response.text)
    """

    response: httpx2.Response

    def __init__(self, message: str, *, response: httpx2.Response) -> None:
        super().__init__(
            message,
            status=response.status_code,
            request_id=response.headers.get(REQUEST_ID_HEADER),
            request=_request_of(response),
        )
        self.response = response


class APIStatusError(APIError):
    """The API answered with an error status (4xx or 5xx).

    ``response`` is the raw :class:`httpx2.Response`; ``problem`` the parsed
    RFC 9457 body when there was one.

    Example::

        except fleetyard.APIStatusError as exc:
            print(exc.status, exc.code, exc.problem and exc.problem.detail)
    """

    status: int
    response: httpx2.Response

    def __init__(
        self,
        message: str,
        *,
        response: httpx2.Response,
        code: str | None = None,
        request_id: str | None = None,
        problem: Problem | None = None,
    ) -> None:
        super().__init__(
            message,
            status=response.status_code,
            code=code,
            request_id=request_id,
            problem=problem,
            request=_request_of(response),
        )
        self.response = response


class BadRequestError(APIStatusError):
    """400: the request itself is malformed (``invalid_json``, ``invalid_cursor``…).

    Example::

        except fleetyard.BadRequestError as exc:
            print(exc.code)
    """


class AuthenticationError(APIStatusError):
    """401: no credentials, or credentials the server does not accept.

    Example::

        except fleetyard.AuthenticationError:
            print("run `yard login` again")
    """


class TokenExpiredError(AuthenticationError):
    """401 ``token_expired``: the access token ran out and could not be refreshed.

    The client refreshes tokens by itself when it has a refresh token or client
    credentials, so this surfaces only when it has neither (or refreshing failed).

    Example::

        except fleetyard.TokenExpiredError:
            client.auth.login(email, password)
    """


class PermissionDeniedError(APIStatusError):
    """403: authenticated, but the scopes or role do not allow this (``scope_insufficient``).

    Example::

        except fleetyard.PermissionDeniedError as exc:
            print(exc.problem.detail if exc.problem else exc)
    """


class NotFoundError(APIStatusError):
    """404: no such resource (or it belongs to another organisation).

    Example::

        try:
            site = client.sites.get(site_id)
        except fleetyard.NotFoundError:
            site = None
    """


class ConflictError(APIStatusError):
    """409: the request conflicts with the current state (``already_exists``…).

    Example::

        except fleetyard.ConflictError:
            print("a site with that name exists")
    """


class InvalidEventListenerError(NotFoundError):
    """404 ``invalid_event_listener``: the event listener expired or was never registered.

    ``client.events.listen()`` registers a new one by itself; code calling
    ``fetch`` directly registers again.

    Example::

        except fleetyard.InvalidEventListenerError:
            listener = client.events.register_listener()
    """


class ExecutionFinishedError(ConflictError):
    """409 ``execution_finished``: the execution already finished, so it cannot be cancelled.

    Example::

        try:
            client.executions.cancel("exe_01…")
        except fleetyard.ExecutionFinishedError:
            pass  # nothing left to stop
    """


class PreconditionFailedError(APIStatusError):
    """412 / ``version_stale``: someone else changed the resource first.

    The problem body carries the current value; read it from ``problem.model_extra``.

    Example::

        except fleetyard.PreconditionFailedError as exc:
            current = exc.problem.model_extra if exc.problem else None
    """


class PayloadTooLargeError(APIStatusError):
    """413: the body is larger than the server accepts.

    Example::

        except fleetyard.PayloadTooLargeError:
            ...  # send it in smaller batches
    """


class UnprocessableEntityError(APIStatusError):
    """422: well-formed but invalid input; ``problem.errors`` lists the fields.

    Example::

        except fleetyard.UnprocessableEntityError as exc:
            for err in (exc.problem.errors or []) if exc.problem else []:
                print(".".join(map(str, err.loc)), err.message)
    """


class IdempotencyKeyMismatchError(UnprocessableEntityError):
    """422 ``idempotency_key_mismatch``: the key was already used with another body.

    Example::

        except fleetyard.IdempotencyKeyMismatchError:
            ...  # the key is reused by mistake: make a new one
    """


class RateLimitError(APIStatusError):
    """429: too many requests; ``retry_after`` says how long to wait (seconds), if known.

    Raised only after the client's own retries gave up.

    Example::

        except fleetyard.RateLimitError as exc:
            time.sleep(exc.retry_after or 1.0)
    """

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked to wait, from ``Retry-After`` (``None`` when absent)."""
        return parse_retry_after(self.response.headers.get("Retry-After"))


class ExecQueueFullError(RateLimitError):
    """429 ``exec_queue_full``: the gateway runs as many executions as it may.

    Raised after the client's own retries (which honour ``Retry-After``) gave
    up. Pass ``queue=True`` to have the server queue the execution instead.

    Example::

        try:
            client.executions.execute(actions=[...])
        except fleetyard.ExecQueueFullError:
            client.executions.execute(actions=[...], queue=True)
    """


class InternalServerError(APIStatusError):
    """5xx: the server (or a proxy in front of it) failed.

    Example::

        except fleetyard.InternalServerError as exc:
            print("server error, request", exc.request_id)
    """


def _request_of(response: httpx2.Response) -> httpx2.Request | None:
    try:
        return response.request
    except RuntimeError:  # a response built by hand, without its request
        return None


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    412: PreconditionFailedError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}

# Codes precise enough to pick the class on their own, whatever the status.
_BY_CODE: dict[str, type[APIStatusError]] = {
    ErrorCode.TOKEN_EXPIRED: TokenExpiredError,
    ErrorCode.VERSION_STALE: PreconditionFailedError,
    ErrorCode.IDEMPOTENCY_KEY_MISMATCH: IdempotencyKeyMismatchError,
    ErrorCode.RATE_LIMITED: RateLimitError,
    ErrorCode.EXEC_QUEUE_FULL: ExecQueueFullError,
    ErrorCode.EXECUTION_FINISHED: ExecutionFinishedError,
    ErrorCode.INVALID_EVENT_LISTENER: InvalidEventListenerError,
}


def error_class(status: int, code: str | None) -> type[APIStatusError]:
    """The exception class for an error answer.

    >>> error_class(401, "token_expired").__name__
    'TokenExpiredError'
    >>> error_class(502, None).__name__
    'InternalServerError'
    """
    if code is not None and code in _BY_CODE:
        return _BY_CODE[code]
    if status >= 500:
        return InternalServerError
    return _BY_STATUS.get(status, APIStatusError)


def error_from_response(response: httpx2.Response) -> APIStatusError:
    """Turn an error answer (already read) into the right exception, whatever its body."""
    problem, code, summary = _read_error_body(response)
    request_id = response.headers.get(REQUEST_ID_HEADER) or (
        problem.request_id if problem else None
    )
    reason = response.reason_phrase or "Error"
    message = f"{response.status_code} {code or reason}"
    if summary and summary not in (reason, f"{response.status_code} {reason}"):
        message += f": {summary}"
    if request_id:
        message += f" (request {request_id})"
    cls = error_class(response.status_code, code)
    return cls(message, response=response, code=code, request_id=request_id, problem=problem)


def _read_error_body(response: httpx2.Response) -> tuple[Problem | None, str | None, str | None]:
    """Best effort: a problem document, some other JSON, or text (an HTML page from a proxy)."""
    try:
        body = json.loads(response.content) if response.content else None
    except (ValueError, UnicodeDecodeError):
        return None, None, _text_snippet(response)
    if not isinstance(body, dict):
        return None, None, _text_snippet(response)
    try:
        problem: Problem | None = Problem.model_validate(body)
    except ValidationError:
        problem = None
    if problem is not None:
        return problem, problem.code, problem.detail or problem.title
    code = body.get("code")
    detail = body.get("detail") or body.get("title") or body.get("message")
    return (
        None,
        code if isinstance(code, str) else None,
        detail if isinstance(detail, str) else None,
    )


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")


def _text_snippet(response: httpx2.Response) -> str | None:
    try:
        text = response.text
    except (UnicodeDecodeError, LookupError):
        return None
    # A proxy's HTML error page: its title says it best, else its words without markup.
    title = _TITLE.search(text)
    if title:
        text = title.group(1)
    text = _SPACES.sub(" ", _TAGS.sub(" ", text)).strip()
    if not text:
        return None
    return text if len(text) <= _BODY_SNIPPET else text[: _BODY_SNIPPET - 1] + "…"
