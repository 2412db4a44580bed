"""``Idempotency-Key`` on POST: the first response is stored and replayed.

A retry with the same key and the same request gets the stored answer with
``Idempotent-Replayed: true`` and the work is not done twice; the same key
with another request is ``422 idempotency_key_mismatch``; a retry that races
the first attempt still running is ``409 idempotency_key_in_use``. Server
errors (5xx) are not stored, so a retry after one runs the request again.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from fleetyard.protocol.errors import ErrorCode
from fleetyard.server.api.middleware import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    header,
    send_problem,
)
from fleetyard.server.state import AppState
from fleetyard.server.storage import idempotency

MAX_KEY_LENGTH = 255
# Headers that describe the stored body itself; the rest of the pipeline adds its own.
_REPLAYED_HEADERS = {"content-type", "location", "etag", "retry-after"}


def _owner(scope: Scope) -> str:
    # Keys are per credential: two callers may pick the same key without colliding.
    credential = header(scope, b"authorization") or "anonymous"
    return hashlib.sha256(credential.encode()).hexdigest()[:64]


def _request_hash(scope: Scope, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(scope["method"].encode())
    digest.update(b"\0" + scope["path"].encode())
    digest.update(b"\0" + scope.get("query_string", b""))
    digest.update(b"\0" + body)
    return digest.hexdigest()


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, ttl_seconds: int) -> None:
        self.app = app
        self.ttl_ms = ttl_seconds * 1000

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = header(scope, b"idempotency-key") if scope["type"] == "http" else None
        if key is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request_id = scope.get("state", {}).get("request_id")
        if not 1 <= len(key) <= MAX_KEY_LENGTH:
            await send_problem(
                send,
                400,
                ErrorCode.BAD_REQUEST,
                "Invalid Idempotency-Key",
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.",
                request_id,
            )
            return
        state: AppState = scope["app"].state.fleetyard
        database = state.database
        owner = _owner(scope)
        body: bytes = scope.get("state", {}).get("raw_body", b"")
        request_hash = _request_hash(scope, body)
        now = time.time_ns() // 1_000_000
        async with database.begin() as conn:
            existing = await idempotency.claim(
                conn,
                database.kind,
                owner=owner,
                key=key,
                method=scope["method"],
                path=scope["path"],
                request_hash=request_hash,
                now_ms=now,
                expires_ms=now + self.ttl_ms,
            )
        if existing is not None:
            await self._answer_existing(existing, request_hash, request_id, send)
            return

        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            async with database.begin() as conn:
                await idempotency.release(conn, owner=owner, key=key)
            raise
        async with database.begin() as conn:
            if start is None or start["status"] >= 500:
                await idempotency.release(conn, owner=owner, key=key)
            else:
                await idempotency.complete(
                    conn,
                    owner=owner,
                    key=key,
                    status_code=start["status"],
                    headers=_kept_headers(start),
                    body=b"".join(chunks),
                )

    async def _answer_existing(
        self,
        existing: idempotency.StoredRequest,
        request_hash: str,
        request_id: str | None,
        send: Send,
    ) -> None:
        if existing.request_hash != request_hash:
            await send_problem(
                send,
                422,
                ErrorCode.IDEMPOTENCY_KEY_MISMATCH,
                "Idempotency key reused with another request",
                "This Idempotency-Key was first used with a different method, path or body.",
                request_id,
            )
            return
        if not existing.completed:
            await send_problem(
                send,
                409,
                ErrorCode.IDEMPOTENCY_KEY_IN_USE,
                "Request with this key still running",
                "A request with this Idempotency-Key is still being processed; retry shortly.",
                request_id,
                [(b"retry-after", b"1")],
            )
            return
        body = existing.body or b""
        headers: list[tuple[bytes, bytes]] = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in existing.headers or []
        ]
        headers += [
            (b"content-length", str(len(body)).encode()),
            (b"idempotent-replayed", b"true"),
        ]
        assert existing.status_code is not None
        await send(
            {"type": "http.response.start", "status": existing.status_code, "headers": headers}
        )
        await send({"type": "http.response.body", "body": body})


def _kept_headers(start: Message) -> list[list[str]]:
    kept: list[list[str]] = []
    raw: Any = start.get("headers", [])
    for name, value in raw:
        text = name.decode("latin-1").lower()
        if text in _REPLAYED_HEADERS:
            kept.append([text, value.decode("latin-1")])
    return kept
