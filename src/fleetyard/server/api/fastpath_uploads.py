"""Multi-chunk uploads, streamed to disk before the rest of the app sees them.

A push sends its bytes as ``PUT /v1/chunk-uploads?site=…&list=…&bytes=…&exp=…&sig=…``
requests of up to 8 MiB. Through the full app, each body would be read whole
by the body middleware, copied again by Starlette, then parsed, hashed and
written: several copies of every byte, and freshly allocated 8 MiB buffers
per request. Here the body goes piece by piece from the socket to
:func:`~fleetyard.server.services.chunks.receive.receive_batch`, which hashes
and writes each piece as it arrives (one pass over the bytes, no whole-body
copy). The link's signature is the authorisation, as on the route.

Like the publish fast path (:mod:`.fastpath`), it does what the request
pipeline would do for such a request (``X-Request-Id``, ``Fleetyard-Version``,
the same problem documents) and hands anything unusual to the full app, which
keeps the route and its OpenAPI description: a query that does not validate,
a ``Content-Encoding``, an ``Idempotency-Key``, another API version.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

from starlette.requests import ClientDisconnect, Request

from fleetyard.protocol import API_VERSION
from fleetyard.server.api.middleware import (
    SAFE_REQUEST_ID,
    ASGIApp,
    Receive,
    Scope,
    Send,
    new_request_id,
)
from fleetyard.server.api.problems import problem_for
from fleetyard.server.services.chunks import receive as receiving
from fleetyard.server.services.chunks import signing
from fleetyard.server.services.chunks.uploads import Chunks
from fleetyard.server.state import AppState

_VERSION = (b"fleetyard-version", API_VERSION.encode())
_HAND_ON = frozenset({b"idempotency-key", b"content-encoding"})
_SITE = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_LIST = re.compile(r"[0-9a-f]{64}")
_NUMBER = re.compile(r"[0-9]{1,13}")


class _Link:
    """The query of a multi-chunk upload link, when it is well formed."""

    __slots__ = ("exp", "listed", "sig", "site_id", "total")

    def __init__(self, site_id: str, listed: str, total: int, exp: int, sig: str) -> None:
        self.site_id, self.listed, self.total, self.exp, self.sig = site_id, listed, total, exp, sig

    @classmethod
    def read(cls, query_string: bytes) -> _Link | None:
        try:
            query = parse_qs(query_string.decode("ascii"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return None
        values = {name: given[0] for name, given in query.items() if len(given) == 1}
        if len(values) != len(query) or set(values) != {"site", "list", "bytes", "exp", "sig"}:
            return None
        site_id, listed, total, exp, sig = (
            values[k] for k in ("site", "list", "bytes", "exp", "sig")
        )
        if not (
            _SITE.fullmatch(site_id)
            and _LIST.fullmatch(listed)
            and _NUMBER.fullmatch(total)
            and _NUMBER.fullmatch(exp)
            and 1 <= len(sig) <= 128
            and int(total) >= 1
            and int(exp) <= 2**40
        ):
            return None
        return cls(site_id, listed, int(total), int(exp), sig)


def _request_id(scope: Scope) -> str | None:
    """The request id to answer with; None when the full app should take the request."""
    request_id = None
    for name, value in scope["headers"]:
        if name in _HAND_ON or (name == b"fleetyard-version" and value != _VERSION[1]):
            return None
        if name == b"x-request-id":
            given = value.decode("latin-1")
            request_id = given if SAFE_REQUEST_ID.match(given) else None
    return request_id or new_request_id()


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        data: bytes = message.get("body", b"")
        if data:
            yield data
        if not message.get("more_body", False):
            return


class UploadFastPath:
    """Pure-ASGI wrapper around the whole app: see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        link = _Link.read(scope["query_string"])
        request_id = None if link is None else _request_id(scope)
        if link is None or request_id is None:
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {}).update(request_id=request_id, api_version=API_VERSION)
        state: AppState = scope["app"].state.fleetyard
        chunks = Chunks(database=state.database, blobs=state.blobs, settings=state.settings)
        try:
            await receiving.receive_batch(
                chunks,
                site_id=link.site_id,
                listed=link.listed,
                total=link.total,
                exp=link.exp,
                sig=link.sig,
                body=_body(receive),
            )
        except ClientDisconnect:
            return  # nobody to answer; nothing was staged
        except Exception as exc:
            response = await problem_for(Request(scope, receive), exc)
            response.raw_headers += [(b"x-request-id", request_id.encode()), _VERSION]
            await response(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [(b"x-request-id", request_id.encode()), _VERSION],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def is_batch_upload(scope: Scope) -> bool:
    return bool(scope["method"] == "PUT" and scope["path"] == signing.BATCH_PATH)
