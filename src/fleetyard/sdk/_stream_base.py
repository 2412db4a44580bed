"""What both stream drivers share: connection helpers, close reasons, the reconnect budget.

See :mod:`fleetyard.sdk._stream` for the drivers themselves.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import httpx2

from fleetyard.sdk._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    FleetyardError,
    error_from_response,
)
from fleetyard.sdk._stream_state import ReconnectPolicy, StreamEvent, StreamState

__all__ = [
    "POLL_SECONDS",
    "Driver",
    "ReconnectCallback",
    "lost_error",
    "server_closing_first",
    "upgrade_error",
    "ws_errors",
    "ws_url",
]

ReconnectCallback = Callable[[int, float, Exception], None]
"""``on_reconnect(attempt, delay_seconds, error)``: called before each reconnect attempt."""

POLL_SECONDS = 1.0
"""Longest single wait for a frame, so ``close()`` from elsewhere takes effect quickly."""


def ws_url(base_url: str) -> str:
    return "ws" + base_url.removeprefix("http") + "/v1/stream"


def ws_errors() -> tuple[type[Exception], ...]:
    try:
        from httpx2.websockets import HTTPXWSException
    except ImportError:  # pragma: no cover - wsproto missing; require_ws said so already
        return (httpx2.TransportError, OSError)
    return (HTTPXWSException, httpx2.TransportError, OSError)


def require_ws() -> None:
    try:
        import wsproto  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise FleetyardError(
            'streams need WebSocket support (wsproto): pip install "httpx2[ws]"'
        ) from exc


def upgrade_error(exc: Exception) -> APIError | None:
    """An HTTP answer instead of an upgrade, as the SDK error for its status (None if not one)."""
    from httpx2.websockets import WebSocketUpgradeError

    if not isinstance(exc, WebSocketUpgradeError):
        return None
    response = httpx2.Response(exc.response.status_code, headers=exc.response.headers)
    return error_from_response(response)


_CLOSE_REASONS = {
    1001: "the server is going away",
    1006: "the connection broke",
    1011: "the server failed",
    1012: "the server is restarting",
    1013: "the server asked to come back later",
}


def lost_error(exc: Exception) -> APIError:
    """Why a stream connection ended, as the SDK error handed to ``on_reconnect``."""
    from httpx2.websockets import WebSocketDisconnect, WebSocketNetworkError

    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, WebSocketDisconnect):
        reason = _CLOSE_REASONS.get(exc.code, "the server closed the stream")
        message = f"{reason} (close code {exc.code})"
    elif isinstance(exc, WebSocketNetworkError):
        message = "the connection broke"
    else:
        message = str(exc) or type(exc).__name__
    error = APIConnectionError(message, request=None)
    error.__cause__ = exc
    return error


@contextlib.contextmanager
def server_closing_first() -> Iterator[None]:
    """Tolerate a send refused because the server is closing already (it refused the
    credentials at once): its ``error`` frame, read next, says why."""
    from wsproto.utilities import LocalProtocolError

    with contextlib.suppress(LocalProtocolError):
        yield


def _retryable(error: Exception) -> bool:
    if isinstance(error, APIStatusError):
        return error.status in (408, 429) or error.status >= 500
    return True


class Driver:
    """What both drivers share: the state, the timing rules, the reconnect budget."""

    def __init__(
        self,
        state: StreamState,
        *,
        idle_timeout: float | None,
        reconnect: ReconnectPolicy,
        on_reconnect: ReconnectCallback | None,
        first_attempts: int,
        rand: Callable[[], float],
    ) -> None:
        require_ws()
        self._state = state
        self._idle_timeout = idle_timeout
        self._reconnect = reconnect
        self._on_reconnect = on_reconnect
        self._first_attempts = first_attempts
        self._rand = rand
        self._attempt = 0
        self._error: Exception | None = None
        self._ever_connected = False
        self._last_event_at = time.monotonic()
        self._closed = False
        self._renewed = False

    @property
    def positions(self) -> dict[str, int]:
        """The last ``seq`` delivered per channel id (where a later resume would start)."""
        return {cid: position.seq for cid, position in self._state.positions.items()}

    @property
    def closed(self) -> bool:
        return self._closed

    def _wait_seconds(self) -> float | None:
        """How long the next receive may wait; ``None`` when the idle timeout has passed."""
        wait = min(self._state.seconds_until_dead(), POLL_SECONDS)
        if self._idle_timeout is not None:
            left = self._last_event_at + self._idle_timeout - time.monotonic()
            if left <= 0:
                return None
            wait = min(wait, left)
        return max(wait, 0.01)

    def _next_delay(self) -> float:
        """Count a failed attempt and return the wait before the next, or raise to give up."""
        error = self._error
        assert error is not None
        self._attempt += 1
        limit = self._reconnect.max_attempts
        if not self._ever_connected:
            limit = limit or self._first_attempts
        if not _retryable(error) or (limit is not None and self._attempt > limit):
            self._closed = True
            if isinstance(error, APIError):
                raise error
            raise APIConnectionError(f"Stream connection failed: {error}", request=None) from error
        delay = self._reconnect.delay(self._attempt, self._rand)
        if self._on_reconnect is not None and self._ever_connected:
            self._on_reconnect(self._attempt, delay, error)
        return delay

    def _may_renew(self, can_renew: bool) -> bool:
        """Whether to renew the token after ``token_expired``: once per acknowledged connection
        (a server that refuses the renewed token too is not retried in a loop)."""
        if not can_renew or self._renewed:
            return False
        self._renewed = True
        return True

    def _take(self, text: str | bytes) -> StreamEvent | None:
        """One frame through the state; a subscription acknowledged resets the backoff."""
        acknowledged = self._state.acknowledgements
        event = self._state.receive(text)
        if self._state.acknowledgements != acknowledged:
            self._attempt = 0
            self._renewed = False
        if event is not None:
            self._last_event_at = time.monotonic()
        return event

    def _headers(self, bearer: str | None, defaults: dict[str, str]) -> dict[str, str]:
        headers = dict(defaults)
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        return headers
