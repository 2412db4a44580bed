"""The core both clients share: configuration, request building, retries, tokens, errors.

Nothing here does I/O. A call is a *flow* (see :mod:`fleetyard.sdk._flow`):
a generator that yields "send this", "sleep that long", "do this under the
lock", and gets the outcome back. :class:`~fleetyard.Client` performs those
steps with blocking calls and :class:`~fleetyard.AsyncClient` awaits them, so
the rules below exist exactly once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import httpx2

from fleetyard._version import __version__
from fleetyard.protocol import API_VERSION
from fleetyard.protocol.identity import TokenResponse
from fleetyard.sdk._config import resolve_settings
from fleetyard.sdk._credentials import Credentials
from fleetyard.sdk._exceptions import (
    APIConnectionError,
    APITimeoutError,
    ConfigError,
    FleetyardError,
    TokenExpiredError,
    error_from_response,
)
from fleetyard.sdk._flow import Flow, exclusive, send, sleep
from fleetyard.sdk._operation import Operation, RequestSpec
from fleetyard.sdk._response import RawResponse
from fleetyard.sdk._retry import (
    IDEMPOTENT_KEY_METHODS,
    RetryPolicy,
    new_idempotency_key,
    retry_delay,
)
from fleetyard.sdk._types import ReadOptions, TimeoutTypes, WriteOptions

__all__ = ["USER_AGENT", "BaseClient", "TokenCallback"]

T = TypeVar("T")

USER_AGENT = f"fleetyard-python/{__version__}"

TokenCallback = Callable[[TokenResponse], None]
"""Called with every new set of tokens (login, refresh, grant), e.g. to persist them."""

# Errors where trying again cannot help: the request itself is wrong.
_FATAL_TRANSPORT_ERRORS = (httpx2.UnsupportedProtocol, httpx2.LocalProtocolError)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class BaseClient:
    """State and logic shared by :class:`~fleetyard.Client` and :class:`~fleetyard.AsyncClient`.

    Not used directly. Attributes: ``base_url`` (no trailing slash), ``profile``
    (the config profile in use, if any), ``retry``, ``timeout``.
    """

    base_url: str
    profile: str | None
    retry: RetryPolicy
    timeout: TimeoutTypes

    def __init__(
        self,
        api_key: str | None,
        *,
        base_url: str | None,
        profile: str | None,
        access_token: str | None,
        refresh_token: str | None,
        client_id: str | None,
        client_secret: str | None,
        retry: RetryPolicy,
        timeout: TimeoutTypes,
        on_tokens: TokenCallback | None,
    ) -> None:
        settings = resolve_settings(
            api_key=api_key,
            base_url=base_url,
            profile=profile,
            access_token=access_token,
            refresh_token=refresh_token,
            client_id=client_id,
            client_secret=client_secret,
        )
        self.base_url = _checked_base_url(settings.base_url)
        self.profile = settings.profile
        self.retry = retry
        self.timeout = timeout
        self._credentials = Credentials.from_settings(settings)
        self._on_tokens = on_tokens
        # Seams for tests: the clock (token expiry, HTTP-date Retry-After) and jitter.
        self._now: Callable[[], datetime] = _utcnow
        self._rand: Callable[[], float] = random.random

    def __repr__(self) -> str:
        return (
            f"<{type(self).__module__.split('.')[0]}.{type(self).__name__} "
            f"base_url={self.base_url!r} auth={self._credentials.kind}>"
        )

    # -- building requests ---------------------------------------------------

    @property
    def default_headers(self) -> dict[str, str]:
        """Headers sent with every request (before credentials and per-call headers)."""
        return {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            "Fleetyard-Version": API_VERSION,
        }

    def _request_spec(
        self,
        op: Operation[T],
        options: ReadOptions,
        *,
        idempotency_key: str | None,
        bearer: str | None,
    ) -> RequestSpec:
        headers = self.default_headers
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        headers.update(op.headers or {})
        headers.update(options.get("extra_headers", {}))
        params = {k: v for k, v in (op.params or {}).items() if v is not None}
        params.update(options.get("extra_query", {}))
        return RequestSpec(
            method=op.method,
            url=self.base_url + op.path,
            params=params,
            headers=headers,
            json=op.json,
            content=op.content,
            timeout=options.get("timeout", self.timeout),
        )

    # -- the call flow -------------------------------------------------------

    def _call(self, op: Operation[T], options: ReadOptions | WriteOptions) -> Flow[RawResponse[T]]:
        """Perform ``op`` with retries and token renewal; return the successful answer.

        One ``Idempotency-Key`` is chosen here, before the first attempt, and
        sent on every attempt: the server then applies a retried write once.
        """
        key = options.get("idempotency_key")
        if not isinstance(key, str) or not key:
            key = new_idempotency_key() if op.method in IDEMPOTENT_KEY_METHODS else None
        creds = self._credentials
        attempt = 0
        renewed_after_401 = False
        while True:
            attempt += 1
            if op.auth == "default" and creds.needs_renewal(self._now()):
                yield from exclusive(self._renew(creds.access_token, force=False))
            bearer = creds.bearer() if op.auth != "none" else None
            spec = self._request_spec(op, options, idempotency_key=key, bearer=bearer)
            try:
                response = yield from send(spec)
            except httpx2.TransportError as exc:
                delay = None
                if not isinstance(exc, _FATAL_TRANSPORT_ERRORS):
                    delay = retry_delay(self.retry, attempt, now=self._now(), rand=self._rand)
                if delay is None:
                    raise _connection_error(exc) from exc
                yield from sleep(delay)
                continue
            except httpx2.RequestError as exc:  # decoding, redirects: not worth a retry
                raise _connection_error(exc) from exc

            if response.status_code < 400:
                raw = RawResponse(response, op.cast_to)
                if op.on_result is not None:
                    op.on_result(raw.parse())
                return raw

            error = error_from_response(response)
            if (
                isinstance(error, TokenExpiredError)
                and op.auth == "default"
                and bearer is not None
                and not renewed_after_401
                and creds.can_renew()
            ):
                # The token died early (revoked session, clock skew): renew once,
                # and the renewed attempt does not count against the retry budget.
                renewed_after_401 = True
                attempt -= 1
                yield from exclusive(self._renew(bearer, force=True))
                continue
            delay = None
            if self.retry.retries_status(response.status_code):
                delay = retry_delay(
                    self.retry,
                    attempt,
                    response.headers.get("Retry-After"),
                    now=self._now(),
                    rand=self._rand,
                )
            if delay is None:
                raise error
            yield from sleep(delay)

    # -- tokens ----------------------------------------------------------------

    def _renew(
        self, stale: str | None, *, force: bool, options: ReadOptions | None = None
    ) -> Flow[RawResponse[TokenResponse] | None]:
        """Renew the access token (run exclusively). ``None`` when nothing needed doing.

        ``stale`` is the token the caller saw: if it changed meanwhile, another
        call already renewed it and this one does nothing.
        """
        creds = self._credentials
        if stale is not None and creds.access_token != stale:
            return None
        if not force and not creds.needs_renewal(self._now()):
            return None
        op = creds.renewal()
        if op is None:
            return None
        raw = yield from self._call(op, options or {})
        self._adopt(raw.parse())
        return raw

    def _refresh(self, options: ReadOptions) -> Flow[RawResponse[TokenResponse]]:
        """An explicit ``client.auth.refresh()``: always refresh, with the refresh token."""
        if not self._credentials.refresh_token:
            raise FleetyardError("no refresh token: log in first (client.auth.login)")
        raw = yield from exclusive(self._renew(None, force=True, options=options))
        if raw is None:  # the refresh token vanished meanwhile (a concurrent logout)
            raise FleetyardError("no refresh token: log in first (client.auth.login)")
        return raw

    def _logout(self, options: ReadOptions | WriteOptions) -> Flow[RawResponse[None]]:
        """``client.auth.logout()``: revoke the refresh token, then forget the tokens.

        The body names the refresh token, so any renewal happens before the
        body is built, never in between.
        """
        creds = self._credentials
        if creds.needs_renewal(self._now()):
            yield from exclusive(self._renew(creds.access_token, force=False))
        bearer = creds.access_token
        try:
            raw = yield from self._call(self._logout_operation(), options)
        except TokenExpiredError:
            if not creds.can_renew():
                raise
            # The access token died early: renew (which rotates the refresh
            # token) and log out the new login instead.
            yield from exclusive(self._renew(bearer, force=True))
            raw = yield from self._call(self._logout_operation(), options)
        creds.forget_tokens()
        return raw

    def _logout_operation(self) -> Operation[None]:
        op = self._credentials.logout()
        if op is None:
            raise FleetyardError("not logged in: there is no refresh token to log out")
        return op

    def _adopt(
        self,
        tokens: TokenResponse,
        *,
        client: tuple[str, str] | None = None,
        replace: bool = False,
    ) -> None:
        self._credentials.adopt(tokens, self._now(), client=client, replace=replace)
        if self._on_tokens is not None:
            self._on_tokens(tokens)


def _connection_error(exc: httpx2.RequestError) -> APIConnectionError:
    try:
        request: httpx2.Request | None = exc.request
    except RuntimeError:  # raised when the error was created without a request
        request = None
    if isinstance(exc, httpx2.TimeoutException):
        return APITimeoutError(f"Request timed out: {exc}", request=request)
    return APIConnectionError(f"Connection error: {exc}", request=request)


def _checked_base_url(value: str) -> str:
    try:
        url = httpx2.URL(value)
    except httpx2.InvalidURL as exc:
        raise ConfigError(f"base URL {value!r} is not a URL: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(f"base URL {value!r} must be http(s)://host[:port][/path]")
    if url.query or url.fragment:
        raise ConfigError(f"base URL {value!r} must not have a query or fragment")
    return value.rstrip("/")
