"""A live server, agents with per-agent tokens, and a raw agent-session WebSocket client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import pytest

from fleetyard.protocol.agent_session import SESSION_PATH
from fleetyard.server.settings import Settings
from tests.conftest import ADMIN_KEY
from tests.server.helpers import ok
from tests.server.stream.conftest import WS, World
from tests.server.stream.conftest import world as world  # the fixture, on our live server
from tests.support.live import LiveServer

SESSION_SETTINGS = {
    "presence_timeout_seconds": 30.0,
    "agent_heartbeat_seconds": 5.0,
    "stream_heartbeat_seconds": 5.0,
    "stream_send_timeout_seconds": 5.0,
    "retention_interval_seconds": 0,
}


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(settings.model_copy(update=SESSION_SETTINGS))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http(live: LiveServer) -> Iterator[httpx2.Client]:
    """HTTP to the live server with the admin key."""
    with httpx2.Client(
        base_url=live.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
    ) as client:
        yield client


def agent_token(http: httpx2.Client, agent_id: str) -> str:
    """A per-agent credential (``agent:<id>:write``)."""
    secret: str = ok(http.post(f"/v1/agents/{agent_id}/token", json={}), 201)["secret"]
    return secret


class AgentWS(WS):
    """An agent's side of the session, raw frames (server heartbeats skipped)."""

    def expect(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        frame = self.recv_skipping_heartbeats(timeout)
        assert frame["type"] == kind, frame
        return frame

    def hello(self, **extra: Any) -> dict[str, Any]:
        self.send(type="hello", agent_version="0.1.0", **extra)
        return self.expect("welcome")

    def publish(self, ref: str, *messages: dict[str, Any]) -> dict[str, Any]:
        self.send(type="publish", ref=ref, messages=list(messages))
        return self.recv_skipping_heartbeats()


@contextmanager
def open_session(
    live: LiveServer, token: str | None, *, agent_id: str | None = None
) -> Iterator[AgentWS]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"ws://127.0.0.1:{live.port}{SESSION_PATH}"
    params = {"agent_id": agent_id} if agent_id else None
    with (
        httpx2.Client() as client,
        client.websocket(url, headers=headers, params=params) as ws,
    ):
        yield AgentWS(ws)


def message(channel: str, payload: Any, cmid: str, **extra: Any) -> dict[str, Any]:
    return {"channel": channel, "payload": payload, "client_message_id": cmid, **extra}


__all__ = ["AgentWS", "World", "agent_token", "message", "open_session"]
