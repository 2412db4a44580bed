"""The local telemetry API: apps on the device publish through the agent, over loopback HTTP.

A deliberately small HTTP/1.1 server on the stdlib (``asyncio.start_server``,
keep-alive, ``Content-Length`` bodies only), bound to ``127.0.0.1``:

- ``POST /v1/publish`` ``{"channel": "status", "payload": {...},
  "timestamp"?: "RFC 3339", "client_message_id"?: "…"}`` → ``202
  {"client_message_id": "…"}``; or ``{"messages": [ {...}, … ]}`` → ``202
  {"client_message_ids": [...]}``. The answer comes once the message is
  committed to the outbox (on disk): from then on the agent delivers it, across
  network cuts and restarts, exactly once on the server.
- ``GET /v1/health`` → ``200 {"status": "ok", "connected": bool, "agent_id": …,
  "outbox_pending": n}``.

Errors are ``application/problem+json`` with a ``code`` (``payload_invalid``,
``not_found``, ``method_not_allowed``, ``payload_too_large``).

From Python use :class:`LocalPublisher` (stdlib only)::

    from fleetyard.agent.local import LocalPublisher

    LocalPublisher("http://127.0.0.1:8765").publish("status", {"cpu": 0.4})
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from pydantic import TypeAdapter, ValidationError

from fleetyard.agent.outbox import Outbox, new_client_message_id
from fleetyard.protocol.agent_session import MAX_PUBLISH_PER_FRAME, SessionMessage

__all__ = ["LocalAPI"]

_MESSAGES: TypeAdapter[list[SessionMessage]] = TypeAdapter(list[SessionMessage])
_MAX_HEADER_LINES = 100


class _HTTPError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


class LocalAPI:
    """The loopback HTTP server. ``on_stored()`` is called after each commit (wakes the sender);
    ``health()`` supplies the live part of ``/v1/health``."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        port: int,
        on_stored: Callable[[], None],
        health: Callable[[], dict[str, Any]],
        max_body_bytes: int = 1024 * 1024,
        host: str = "127.0.0.1",
    ) -> None:
        self._outbox = outbox
        self._port = port
        self._host = host
        self._on_stored = on_stored
        self._health = health
        self._max_body = max_body_bytes
        self._writer = GroupWriter(outbox, on_stored)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    # -- HTTP ---------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    break
                method, path, headers, body = request
                try:
                    status, answer = await self._route(method, path, body)
                except _HTTPError as exc:
                    status, answer = exc.status, _problem(exc)
                keep_alive = headers.get("connection", "").lower() != "close"
                self._write(writer, status, answer, keep_alive=keep_alive)
                await writer.drain()
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, _HTTPError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_request(
        self, reader: asyncio.StreamReader
    ) -> tuple[str, str, dict[str, str], bytes] | None:
        line = await reader.readline()
        if not line:
            return None
        parts = line.decode("latin-1").split()
        if len(parts) != 3:
            raise _HTTPError(400, "bad_request", "malformed request line")
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADER_LINES):
            raw = await reader.readline()
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        if length > self._max_body:
            raise _HTTPError(413, "payload_too_large", f"bodies are at most {self._max_body} bytes")
        body = await reader.readexactly(length) if length else b""
        return parts[0].upper(), parts[1].split("?", 1)[0], headers, body

    def _write(
        self, writer: asyncio.StreamWriter, status: int, answer: dict[str, Any], *, keep_alive: bool
    ) -> None:
        body = json.dumps(answer, separators=(",", ":")).encode()
        ctype = "application/problem+json" if status >= 400 else "application/json"
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
        )
        writer.write(head.encode() + body)

    async def _route(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        routes: dict[str, tuple[str, Callable[[bytes], Awaitable[tuple[int, dict[str, Any]]]]]] = {
            "/v1/publish": ("POST", self._publish),
            "/v1/health": ("GET", self._get_health),
        }
        found = routes.get(path)
        if found is None:
            raise _HTTPError(404, "not_found", f"no route {path}")
        if method != found[0]:
            raise _HTTPError(405, "method_not_allowed", f"{path} takes {found[0]}")
        return await found[1](body)

    async def _get_health(self, body: bytes) -> tuple[int, dict[str, Any]]:
        pending = await asyncio.to_thread(self._outbox.count)
        return 200, {"status": "ok", **self._health(), "outbox_pending": pending}

    async def _publish(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            data = json.loads(body or b"null")
        except ValueError:
            raise _HTTPError(422, "payload_invalid", "the body is not JSON") from None
        many = isinstance(data, dict) and "messages" in data
        items = data.get("messages") if many else [data]
        if not isinstance(items, list) or not items or len(items) > MAX_PUBLISH_PER_FRAME:
            raise _HTTPError(
                422, "payload_invalid", f"messages: 1..{MAX_PUBLISH_PER_FRAME} objects"
            )
        for item in items:
            if isinstance(item, dict) and not item.get("client_message_id"):
                item["client_message_id"] = new_client_message_id()
        try:
            # Checked here as the server will: a message it would refuse never enters the outbox.
            messages = _MESSAGES.validate_python(items)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise _HTTPError(422, "payload_invalid", f"{where}: {first['msg']}") from None
        rows = [m.model_dump(mode="json", exclude_defaults=True) for m in messages]
        for row, message in zip(rows, messages, strict=True):
            row.setdefault("payload", message.payload)
        ids = await self._writer.add(rows)
        if many:
            return 202, {"client_message_ids": ids}
        return 202, {"client_message_id": ids[0]}


class GroupWriter:
    """Commits what concurrent requests bring in one transaction (one disk flush) at a time:
    under load many messages share a flush, so throughput grows with concurrency."""

    def __init__(self, outbox: Outbox, on_stored: Callable[[], None]) -> None:
        self._outbox = outbox
        self._on_stored = on_stored
        self._waiting: list[tuple[list[dict[str, Any]], asyncio.Future[list[str]]]] = []
        self._busy = False

    async def add(self, rows: list[dict[str, Any]]) -> list[str]:
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._waiting.append((rows, future))
        if not self._busy:
            self._busy = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                rows = [row for part, _ in batch for row in part]
                try:
                    ids = await asyncio.to_thread(self._outbox.add_messages, rows)
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                self._on_stored()
                start = 0
                for part, future in batch:
                    if not future.done():
                        future.set_result(ids[start : start + len(part)])
                    start += len(part)
        finally:
            self._busy = False


def _problem(exc: _HTTPError) -> dict[str, Any]:
    return {
        "type": "about:blank",
        "title": HTTPStatus(exc.status).phrase,
        "status": exc.status,
        "code": exc.code,
        "detail": exc.detail,
    }
