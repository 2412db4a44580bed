"""Pure-ASGI request pipeline: request ids, API version, body size and gzip bodies.

Pure ASGI (not ``BaseHTTPMiddleware``) so streaming responses and WebSockets
pass through untouched and each request costs one function call per layer.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fleetyard.protocol import API_VERSION, SUPPORTED_API_VERSIONS
from fleetyard.protocol.errors import PROBLEM_CONTENT_TYPE, ErrorCode, Problem
from fleetyard.protocol.ids import new_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


# Request ids must be unique, not unguessable: drawn from a seeded PRNG instead of
# the OS (``secrets``), which cost a system call and ~5% of a small request.
_request_random = random.Random(secrets.randbits(128))  # noqa: S311


def new_request_id() -> str:
    return new_id("req", random_bits=_request_random.getrandbits)


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def send_problem(
    send: Send,
    status: int,
    code: ErrorCode,
    title: str,
    detail: str,
    request_id: str | None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    problem = Problem.build(status, code, title, detail, request_id=request_id)
    body = json.dumps(problem.model_dump(mode="json", exclude_none=True)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def replay(body: bytes, receive: Receive, *, more: bool = False) -> Receive:
    """A ``receive`` that gives ``body`` first (``more``: the request goes on), then
    whatever ``receive`` has left: for layers that read the body and pass it on."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replayed


class RequestContextMiddleware:
    """Gives every request an id (``X-Request-Id``) and checks ``Fleetyard-Version``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = header(scope, b"x-request-id")
        request_id = given if given and SAFE_REQUEST_ID.match(given) else new_request_id()
        requested = header(scope, b"fleetyard-version")
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["api_version"] = requested or API_VERSION
        extra = [
            (b"x-request-id", request_id.encode()),
            (b"fleetyard-version", (requested or API_VERSION).encode()),
        ]
        if scope["type"] == "http" and requested and requested not in SUPPORTED_API_VERSIONS:
            await send_problem(
                send,
                400,
                ErrorCode.UNSUPPORTED_API_VERSION,
                "Unsupported API version",
                f"Fleetyard-Version {requested!r} is not one of "
                f"{', '.join(SUPPORTED_API_VERSIONS)}.",
                request_id,
                [(b"x-request-id", request_id.encode())],
            )
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _TooLarge(Exception):
    pass


class BodyMiddleware:
    """Enforces the body size limit and inflates ``Content-Encoding: gzip`` bodies.

    The limit applies to the inflated size too, so a small gzip bomb is refused
    as surely as a large plain body.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = scope.get("state", {}).get("request_id")
        length = header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await self._too_large(send, request_id)
            return
        encoding = (header(scope, b"content-encoding") or "identity").strip().lower()
        if encoding not in ("identity", "gzip"):
            await send_problem(
                send,
                415,
                ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                "Unsupported content encoding",
                f"Content-Encoding {encoding!r} is not accepted; use gzip or none.",
                request_id,
            )
            return
        try:
            body = await self._read(receive, gzip=encoding == "gzip")
        except _TooLarge:
            await self._too_large(send, request_id)
            return
        except zlib.error:
            await send_problem(
                send,
                400,
                ErrorCode.BAD_REQUEST,
                "Malformed gzip body",
                "The request body is not valid gzip data.",
                request_id,
            )
            return

        if encoding == "gzip":
            scope["headers"] = [
                (k, v)
                for k, v in scope["headers"]
                if k not in (b"content-encoding", b"content-length")
            ] + [(b"content-length", str(len(body)).encode())]
        scope.setdefault("state", {})["raw_body"] = body
        await self.app(scope, replay(body, receive), send)

    async def _read(self, receive: Receive, *, gzip: bool) -> bytes:
        inflater = zlib.decompressobj(wbits=31) if gzip else None
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            data: bytes = message.get("body", b"")
            more = message.get("more_body", False)
            if inflater is not None:
                data = inflater.decompress(data, self.max_body_bytes + 1 - size)
                if inflater.unconsumed_tail:
                    raise _TooLarge
            size += len(data)
            if size > self.max_body_bytes:
                raise _TooLarge
            chunks.append(data)
        if inflater is not None:
            tail = inflater.flush()
            size += len(tail)
            if size > self.max_body_bytes:
                raise _TooLarge
            chunks.append(tail)
            if not inflater.eof:
                raise zlib.error("truncated gzip stream")
        return b"".join(chunks)

    async def _too_large(self, send: Send, request_id: str | None) -> None:
        await send_problem(
            send,
            413,
            ErrorCode.PAYLOAD_TOO_LARGE,
            "Payload too large",
            f"The request body exceeds {self.max_body_bytes} bytes.",
            request_id,
        )
