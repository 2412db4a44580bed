"""When and how long to wait before trying a call again.

Pure functions only: the clients ask :func:`retry_delay` how long to sleep and
do the sleeping themselves (injectably, so tests never really wait).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = [
    "IDEMPOTENT_KEY_METHODS",
    "RetryPolicy",
    "new_idempotency_key",
    "parse_retry_after",
    "retry_delay",
]

IDEMPOTENT_KEY_METHODS = frozenset({"POST", "PATCH", "DELETE"})
"""Methods that get an ``Idempotency-Key`` so a retry never applies them twice."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a client retries: connection errors and the statuses in ``retry_statuses``.

    ``max_attempts`` counts the first try (``1`` turns retries off). The wait
    doubles from ``base_delay`` up to ``max_delay``; with ``jitter`` it is
    drawn from its upper half so many clients do not retry in lockstep. A
    ``Retry-After`` from the server wins over all that, unless it asks for
    more than ``max_retry_after`` seconds: then the error is raised at once,
    since the caller can decide better than a client blocking for minutes.

    Example::

        client = fleetyard.Client(retry=fleetyard.RetryPolicy(max_attempts=5, max_delay=30.0))
        no_retries = fleetyard.Client(retry=fleetyard.RetryPolicy(max_attempts=1))
    """

    max_attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    jitter: bool = True
    retry_statuses: tuple[int, ...] = (408, 429, 500, 502, 503, 504)
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")

    def retries_status(self, status: int) -> bool:
        """Whether an answer with this status is worth another attempt.

        >>> RetryPolicy().retries_status(503), RetryPolicy().retries_status(400)
        (True, False)
        """
        return status in self.retry_statuses


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date.

    >>> parse_retry_after("2.5")
    2.5
    >>> parse_retry_after("Wed, 21 Oct 2026 07:28:05 GMT",
    ...                   now=datetime(2026, 10, 21, 7, 28, 0, tzinfo=UTC))
    5.0
    >>> parse_retry_after("soon") is None
    True
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT; be lenient with a bare one
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN or infinite
        return None
    return max(seconds, 0.0)


def retry_delay(
    policy: RetryPolicy,
    attempt: int,
    retry_after: str | None = None,
    *,
    now: datetime | None = None,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait after failed attempt number ``attempt`` (1-based), or ``None`` to give up.

    >>> policy = RetryPolicy(jitter=False)
    >>> [retry_delay(policy, n) for n in (1, 2, 3)]
    [0.5, 1.0, None]
    >>> retry_delay(policy, 1, retry_after="3")
    3.0
    >>> retry_delay(policy, 1, retry_after="600") is None
    True
    """
    if attempt >= policy.max_attempts:
        return None
    asked = parse_retry_after(retry_after, now=now)
    if asked is not None:
        return asked if asked <= policy.max_retry_after else None
    delay: float = min(policy.base_delay * 2 ** (attempt - 1), policy.max_delay)
    if policy.jitter:
        delay *= 0.5 + rand() / 2
    return delay


def new_idempotency_key() -> str:
    """A fresh ``Idempotency-Key`` value, random and unique per logical call.

    >>> len(new_idempotency_key())
    36
    """
    return str(uuid.uuid4())
