"""Publish from an app on the device through its agent (stdlib only, no server needed).

The agent's local API answers once a message is on disk in its outbox; from
there the agent delivers it to the server exactly once, across network cuts
and restarts.

Example::

    from fleetyard.agent.local import LocalPublisher

    with LocalPublisher("http://127.0.0.1:8765") as local:
        local.publish("status", {"cpu": 0.41})
        local.publish_many([{"channel": "temp", "payload": 21.5}])
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

from fleetyard.agent.outbox import new_client_message_id
from fleetyard.protocol.common import format_timestamp

__all__ = ["LocalPublishError", "LocalPublisher"]

DEFAULT_LOCAL_URL = "http://127.0.0.1:8765"


class LocalPublishError(Exception):
    """The agent refused a message (``code``: ``payload_invalid``…) or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class LocalPublisher:
    """A keep-alive connection to the agent's local API (one per thread)."""

    def __init__(self, url: str = DEFAULT_LOCAL_URL, *, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the local API is plain http on loopback, not {url!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def publish(
        self,
        channel: str,
        payload: Any,
        *,
        timestamp: datetime | str | None = None,
        client_message_id: str | None = None,
    ) -> str:
        """Hand one message to the agent; returns its ``client_message_id`` once it is stored."""
        answer = self._post(_message(channel, payload, timestamp, client_message_id))
        return str(answer["client_message_id"])

    def publish_many(self, messages: Sequence[Mapping[str, Any]]) -> list[str]:
        """Several messages (``{"channel", "payload", "timestamp"?}``) in one request."""
        body = [
            _message(m["channel"], m.get("payload"), m.get("timestamp"), m.get("client_message_id"))
            for m in messages
        ]
        answer = self._post({"messages": body})
        return [str(i) for i in answer["client_message_ids"]]

    def health(self) -> dict[str, Any]:
        """The agent's ``/v1/health``: connected or not, messages waiting in the outbox."""
        return self._request("GET", "/v1/health", None)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", "/v1/publish", json.dumps(body).encode())

    def _request(self, method: str, path: str, body: bytes | None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        # One retry on a fresh connection: the agent may have closed an idle keep-alive one.
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self._timeout
                )
            try:
                self._conn.request(method, path, body=body, headers=headers)
                response = self._conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if attempt:
                    raise LocalPublishError(f"cannot reach the agent: {exc}") from exc
                continue
            answer = json.loads(data or b"{}")
            if response.status >= 400:
                raise LocalPublishError(
                    str(answer.get("detail") or response.reason),
                    status=response.status,
                    code=answer.get("code"),
                )
            return dict(answer)
        raise AssertionError("unreachable")  # pragma: no cover


def _message(
    channel: str, payload: Any, timestamp: datetime | str | None, client_message_id: str | None
) -> dict[str, Any]:
    message: dict[str, Any] = {"channel": channel, "payload": payload}
    if timestamp is not None:
        message["timestamp"] = (
            format_timestamp(timestamp) if isinstance(timestamp, datetime) else timestamp
        )
    # Made here, not by the agent: a request retried after a lost answer is not stored twice.
    message["client_message_id"] = client_message_id or new_client_message_id()
    return message
