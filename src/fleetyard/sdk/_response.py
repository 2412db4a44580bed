"""The answer of a call before it is turned into a model."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast

import httpx2
from pydantic import BaseModel

from fleetyard.sdk._exceptions import REQUEST_ID_HEADER, APIResponseValidationError

__all__ = ["RawResponse"]

T = TypeVar("T")

_UNPARSED: Any = object()


class RawResponse(Generic[T]):
    """A successful answer with its status and headers; :meth:`parse` gives the model.

    Returned by ``client.with_raw_response.<resource>.<method>(...)``. Error
    statuses still raise, exactly as without ``with_raw_response``.

    Example::

        raw = client.with_raw_response.sites.create("Depot")
        print(raw.status_code, raw.request_id, raw.headers.get("Idempotent-Replayed"))
        site = raw.parse()
    """

    def __init__(self, response: httpx2.Response, cast_to: type[T]) -> None:
        self.http_response = response
        """The underlying :class:`httpx2.Response` (its body is already read)."""
        self._cast_to = cast_to
        self._parsed: T = _UNPARSED

    @property
    def status_code(self) -> int:
        """The HTTP status, e.g. ``201``."""
        return self.http_response.status_code

    @property
    def headers(self) -> httpx2.Headers:
        """The response headers (case-insensitive)."""
        return self.http_response.headers

    @property
    def request_id(self) -> str | None:
        """The server's ``X-Request-Id``: quote it when reporting a problem."""
        return self.http_response.headers.get(REQUEST_ID_HEADER)

    @property
    def content(self) -> bytes:
        """The raw body."""
        return self.http_response.content

    def json(self) -> Any:
        """The body decoded as JSON, without validation."""
        return self.http_response.json()

    def parse(self) -> T:
        """The body as the method's usual return value (parsed once, then cached).

        Raises :class:`~fleetyard.APIResponseValidationError` when the body does not fit.
        """
        if self._parsed is _UNPARSED:
            self._parsed = self._parse()
        return self._parsed

    def _parse(self) -> T:
        cast_to: type[Any] = self._cast_to
        if cast_to is type(None):
            return cast(T, None)
        if cast_to is httpx2.Response:
            return cast(T, self.http_response)
        if isinstance(cast_to, type) and issubclass(cast_to, BaseModel):
            try:
                return cast(T, cast_to.model_validate(self.http_response.json()))
            except ValueError as exc:  # not JSON, or JSON of the wrong shape
                raise APIResponseValidationError(
                    f"unexpected answer to {self.http_response.request.method} "
                    f"{self.http_response.request.url.path}: {exc}",
                    response=self.http_response,
                ) from exc
        raise TypeError(f"cannot parse a response into {cast_to!r}")

    def __repr__(self) -> str:
        return f"<RawResponse [{self.status_code}] {self._cast_to.__name__}>"
