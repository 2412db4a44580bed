"""The single-message publish routes, answered without FastAPI's routing and dependencies.

Publishing is the server's hot path, measured against a bare ASGI route that
only parses the same JSON (``bench/publish_http.py``; the aim is at least half
its requests per second). FastAPI's routing, dependency solving and
exception middleware cost more per request than the publish itself, so this
pure-ASGI layer, mounted inside the request-id, body and idempotency
middlewares, recognises

- ``POST /v1/channels/{channel_id}/messages`` and
- ``POST /v1/agents/{agent_id}/channels/{name}/messages``

and answers them itself with the very code the FastAPI routes run
(:func:`~fleetyard.server.api.routes.publish.publish_raw`), authenticating
through the app's short-lived credential cache and checking the same scopes.
Errors are the same problem documents (:func:`~.problems.problem_for`).

Anything it is not sure about falls through to the FastAPI routes, which
stay mounted (and document the operations in OpenAPI): another method or
path, an id that is not an id, no ``Authorization: Bearer`` header (the
routes answer 401). The contract is the same either way; only the speed
differs.
"""

from __future__ import annotations

import re

from starlette.requests import Request

from fleetyard.server.api.middleware import ASGIApp, Receive, Scope, Send
from fleetyard.server.api.problems import problem_for
from fleetyard.server.api.routes.publish import publish_raw
from fleetyard.server.services.telemetry import access
from fleetyard.server.services.telemetry.channels import ChannelRef, Target
from fleetyard.server.state import AppState

_BY_ID = re.compile(r"/v1/channels/([A-Za-z0-9_\-]{1,64})/messages")
_BY_NAME = re.compile(r"/v1/agents/([A-Za-z0-9_\-]{1,64})/channels/(.+)/messages")
_JSON = (b"content-type", b"application/json")


def _target(path: str) -> Target | None:
    match = _BY_ID.fullmatch(path)
    if match is not None:
        return match.group(1)
    match = _BY_NAME.fullmatch(path)
    if match is not None:
        return ChannelRef.named(match.group(1), match.group(2))
    return None


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, secret = value.decode("latin-1").partition(" ")
            secret = secret.strip()
            return secret if scheme.lower() == "bearer" and secret else None
    return None


class PublishFastPath:
    """Pure-ASGI middleware: see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].endswith("/messages")
        ):
            await self.app(scope, receive, send)
            return
        target = _target(scope["path"])
        secret = None if target is None else _bearer(scope)
        if target is None or secret is None:
            await self.app(scope, receive, send)
            return
        state: AppState = scope["app"].state.fleetyard
        try:
            principal = await state.principals.authenticate(state.database, secret)
            access.require_somewhere(principal, access.WRITE)
            raw = scope["state"].get("raw_body")
            if raw is None:  # pragma: no cover - the body middleware always sets it
                raw = await Request(scope, receive).body()
            status, body = await publish_raw(state.ingest, principal, target, raw)
        except Exception as exc:
            response = await problem_for(Request(scope, receive), exc)
            await response(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [_JSON, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
