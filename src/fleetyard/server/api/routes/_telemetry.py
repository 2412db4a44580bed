"""What the telemetry route modules share: scope pre-checks, ETags, hand-read body docs."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Path, Query
from pydantic import BaseModel
from starlette.responses import Response

from fleetyard.server.api.auth import Authenticated, AuthenticatedCached
from fleetyard.server.api.jsonbody import storable_body
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.telemetry import access


def _somewhere(permission: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(principal: Authenticated) -> Principal:
        access.require_somewhere(principal, permission)
        return principal

    dependency.__name__ = f"require_telemetry_{permission}"
    return dependency


# A credential without the permission on any site or agent is 403 before any
# lookup; which site or agent it may touch is the service's call (404 for what
# it may not even read, 403 for what it may read but not change).
TelemetryRead = Annotated[Principal, Depends(_somewhere(access.READ))]
TelemetryWrite = Annotated[Principal, Depends(_somewhere(access.WRITE))]
TelemetryAdmin = Annotated[Principal, Depends(_somewhere(access.ADMIN))]


async def _publisher(principal: AuthenticatedCached) -> Principal:
    access.require_somewhere(principal, access.WRITE)
    return principal


Publisher = Annotated[Principal, Depends(_publisher)]
""":data:`TelemetryWrite` for the publish routes: the credential may come from the cache."""

StorableBody = Annotated[None, Depends(storable_body)]
"""A parameter for routes with a FastAPI body: refuse NaN, Infinity, NUL… (see jsonbody).

A parameter after the principal, not a route dependency: route dependencies
run first, and a caller without a token must get 401 whatever it sent."""

ChannelName = Annotated[
    str,
    Path(
        description="The channel's name, percent-encoded (`#proc` is `%23proc`, `!task` is"
        " `%21task`). A name can never contain `/`."
    ),
]
Seq = Annotated[int, Path(ge=1, le=2**63 - 1, description="The message's seq in its channel.")]
OptionalId = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


def etag(version: int) -> str:
    """The strong ETag of an aggregate version: ``"<version>"``."""
    return f'"{version}"'


_TAG = re.compile(r'^(?:W/)?"?([0-9]{1,18})"?$')


def if_match_version(value: str | None) -> int | None:
    """The version an ``If-Match`` header demands; None for none or ``*``.

    A tag that is no version of ours can never match: -1, so the write is
    refused with 412 ``version_stale`` naming the current version.
    """
    if value is None or value.strip() == "*":
        return None
    match = _TAG.match(value.strip())
    return int(match.group(1)) if match else -1


def json_response(model: BaseModel, status_code: int = 200, **headers: str) -> Response:
    """A model as ``application/json``, serialised once, with no response-model pass."""
    return Response(
        model.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers=headers or None,
    )


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def body_doc(model: type[BaseModel] | None, description: str) -> dict[str, Any]:
    """``openapi_extra`` documenting a body the route reads by hand (``None``: any JSON).

    The schema is inlined: models used only here are not in the components.
    """
    if model is None:
        schema: dict[str, Any] = {"description": description}
    else:
        full = model.model_json_schema()
        schema = _inline(full, full.get("$defs", {}))
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    }
