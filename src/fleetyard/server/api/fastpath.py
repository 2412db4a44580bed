"""The single-message publish routes, answered before the rest of the app sees them.

Publishing is the server's hot path, measured against a bare ASGI route that
only parses the same JSON (``bench/publish_http.py``). Starlette's and
FastAPI's outer layers (error middleware, exception telemetry, body limit,
routing, dependency solving, its per-request telemetry check) and
Fleetyard's own request pipeline cost more per request than the publish
itself, so :class:`FleetyardAPI` puts this pure-ASGI layer in front of all of
them. It recognises

- ``POST /v1/channels/{channel_id}/messages`` and
- ``POST /v1/agents/{agent_id}/channels/{name}/messages``

and answers them itself with the very code the FastAPI routes run
(:func:`~fleetyard.server.api.routes.publish.publish_raw`), authenticating
through the app's short-lived credential cache and checking the same scopes.
It does what the request pipeline would have done for such a request: an
``X-Request-Id`` (the caller's when it is safe, else a new one), the
``Fleetyard-Version`` header, the body size limit. Errors are the same
problem documents (:func:`~.problems.problem_for`).

Anything it is not sure about goes to the full app, which keeps the routes
(and documents the operations in OpenAPI): another method or path, an id
that is not an id, no ``Authorization: Bearer`` header (the routes answer
401), an ``Idempotency-Key``, a ``Content-Encoding``, a ``Fleetyard-Version``
other than the current one, a body over the limit. A body already read is
handed on unchanged. The contract is the same either way; only the speed
differs.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request

from fleetyard.protocol import API_VERSION
from fleetyard.server.api.fastpath_uploads import UploadFastPath, is_batch_upload
from fleetyard.server.api.middleware import (
    SAFE_REQUEST_ID,
    ASGIApp,
    Receive,
    Scope,
    Send,
    new_request_id,
    replay,
)
from fleetyard.server.api.problems import problem_for
from fleetyard.server.api.routes.publish import publish_raw
from fleetyard.server.services.telemetry import access
from fleetyard.server.services.telemetry.channels import ChannelRef, Target
from fleetyard.server.state import AppState

_BY_ID = re.compile(r"/v1/channels/([A-Za-z0-9_\-]{1,64})/messages")
_BY_NAME = re.compile(r"/v1/agents/([A-Za-z0-9_\-]{1,64})/channels/(.+)/messages")
_JSON = (b"content-type", b"application/json")
_VERSION = (b"fleetyard-version", API_VERSION.encode())
# Request headers that ask for something only the full pipeline does.
_HAND_ON = frozenset({b"idempotency-key", b"content-encoding"})


def _target(path: str) -> Target | None:
    match = _BY_ID.fullmatch(path)
    if match is not None:
        return match.group(1)
    match = _BY_NAME.fullmatch(path)
    if match is not None:
        return ChannelRef.named(match.group(1), match.group(2))
    return None


class _Request:
    """What the fast path needs of the headers, read in one pass; None if it hands on."""

    __slots__ = ("length", "request_id", "secret")

    def __init__(self, secret: str, request_id: str | None, length: int | None) -> None:
        self.secret = secret
        self.request_id = request_id
        self.length = length

    @classmethod
    def read(cls, scope: Scope) -> _Request | None:
        secret = request_id = None
        length: int | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, rest = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer" or not rest.strip():
                    return None
                secret = rest.strip()
            elif name == b"x-request-id":
                given = value.decode("latin-1")
                request_id = given if SAFE_REQUEST_ID.match(given) else None
            elif name == b"content-length":
                length = int(value) if value.isdigit() else None
            elif name == b"fleetyard-version":
                if value != _VERSION[1]:
                    return None
            elif name in _HAND_ON:
                return None
        return None if secret is None else cls(secret, request_id, length)


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The body, and whether it stayed within ``limit`` (reading stops past it)."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        data: bytes = message.get("body", b"")
        more = message.get("more_body", False)
        chunks.append(data)
        size += len(data)
        if size > limit:
            return b"".join(chunks), False
    return b"".join(chunks), True


class PublishFastPath:
    """Pure-ASGI wrapper around the whole app: see the module docstring."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].endswith("/messages")
        ):
            await self.app(scope, receive, send)
            return
        target = _target(scope["path"])
        request = None if target is None else _Request.read(scope)
        if target is None or request is None or (request.length or 0) > self.max_body_bytes:
            await self.app(scope, receive, send)
            return
        raw, within = await _read_body(receive, self.max_body_bytes)
        if not within:
            await self.app(scope, replay(raw, receive, more=True), send)
            return
        request_id = request.request_id or new_request_id()
        scope.setdefault("state", {}).update(
            request_id=request_id, api_version=API_VERSION, raw_body=raw
        )
        state: AppState = scope["app"].state.fleetyard
        try:
            principal = await state.principals.authenticate(state.database, request.secret)
            access.require_somewhere(principal, access.WRITE)
            status, body = await publish_raw(state.ingest, principal, target, raw)
        except Exception as exc:
            response = await problem_for(Request(scope, replay(raw, receive)), exc)
            response.raw_headers += [(b"x-request-id", request_id.encode()), _VERSION]
            await response(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    _JSON,
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", request_id.encode()),
                    _VERSION,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class FleetyardAPI(FastAPI):
    """FastAPI with :class:`PublishFastPath` and
    :class:`~.fastpath_uploads.UploadFastPath` in front of everything, FastAPI's own
    per-request work included.

    A request a fast path hands on gets FastAPI's full treatment. Set
    ``fast_path = False`` to send everything through the routes.
    """

    def __init__(self, *, max_body_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fast_path = True
        self._publish = PublishFastPath(super().__call__, max_body_bytes=max_body_bytes)
        self._upload = UploadFastPath(super().__call__)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.fast_path and scope["type"] == "http":
            if scope["method"] == "POST":
                # Where Starlette would set it: the fast path finds the app's state there.
                scope["app"] = self
                await self._publish(scope, receive, send)
                return
            if is_batch_upload(scope):
                scope["app"] = self
                await self._upload(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
