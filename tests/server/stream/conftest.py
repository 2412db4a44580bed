"""A live server (uvicorn in a thread) with a site, agents and channels made through services."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from httpx2.websockets import WebSocketSession

from fleetyard.protocol.identity import SiteCreate
from fleetyard.protocol.telemetry import AgentCreate, ChannelCreate
from fleetyard.server.services import auth, sites
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.telemetry.agents import create_agent
from fleetyard.server.services.telemetry.channels import create_channel
from fleetyard.server.services.telemetry.publishing import Publish, publish
from fleetyard.server.settings import Settings
from fleetyard.server.state import AppState
from tests.conftest import ADMIN_KEY
from tests.support.live import LiveServer

STREAM_SETTINGS = {
    "presence_timeout_seconds": 1.0,
    "stream_heartbeat_seconds": 0.5,
    "stream_send_timeout_seconds": 5.0,
    "retention_interval_seconds": 0,
}


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(settings.model_copy(update=STREAM_SETTINGS))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class World:
    """Drives the live server's services: the admin's org, a site, agents, channels."""

    live: LiveServer
    principal: Principal
    site_id: str

    def agent(self, name: str, site_id: str | None = None) -> str:
        async def run(state: AppState) -> str:
            body = AgentCreate(site_id=site_id or self.site_id, name=name)
            return (await create_agent(state.database, self.principal, body)).id

        return self.live.call(run)

    def channel(self, agent_id: str, name: str, *, private: bool = False) -> str:
        async def run(state: AppState) -> str:
            body = ChannelCreate(name=name, is_private=private)
            channel, _ = await create_channel(state.database, self.principal, agent_id, body)
            return channel.id

        return self.live.call(run)

    def publish(self, channel_id: str, *payloads: Any) -> list[int]:
        async def run(state: AppState) -> list[int]:
            seqs = []
            for payload in payloads:
                ack = await publish(state.ingest, self.principal, channel_id, Publish(payload))
                assert ack.seq is not None
                seqs.append(ack.seq)
            return seqs

        return self.live.call(run)

    def site(self, name: str) -> str:
        async def run(state: AppState) -> str:
            return (
                await sites.create_site(state.database, self.principal, SiteCreate(name=name))
            ).id

        return self.live.call(run)


@pytest.fixture
def world(live: LiveServer) -> World:
    async def admin(state: AppState) -> Principal:
        return await auth.authenticate(state.database, ADMIN_KEY)

    principal = live.call(admin)
    world = World(live, principal, "")

    async def first_site(state: AppState) -> str:
        body = SiteCreate(name="main")
        return (await sites.create_site(state.database, principal, body)).id

    world.site_id = live.call(first_site)
    return world


class WS:
    """A raw WebSocket client speaking JSON frames, with a receive timeout."""

    def __init__(self, session: WebSocketSession) -> None:
        self.session = session

    def send(self, **frame: Any) -> None:
        self.session.send_text(json.dumps(frame))

    def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(self.session.receive_text(timeout=timeout))
        return frame

    def recv_skipping_heartbeats(self, timeout: float = 10.0) -> dict[str, Any]:
        while True:
            frame = self.recv(timeout)
            if frame["type"] != "heartbeat":
                return frame

    def events(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        return [self.recv_skipping_heartbeats(timeout) for _ in range(count)]


@contextmanager
def open_ws(live: LiveServer, token: str | None = ADMIN_KEY) -> Iterator[WS]:
    """A WebSocket to the live server, with ``Authorization: Bearer <token>`` unless None."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with (
        httpx2.Client() as client,
        client.websocket(live.ws_url, headers=headers, max_message_size_bytes=16 * 2**20) as ws,
    ):
        yield WS(ws)


def make_key(live: LiveServer, *scopes: str, token: str = ADMIN_KEY) -> str:
    """A new API key with these scopes (made over HTTP by ``token``'s holder)."""
    response = httpx2.post(
        f"{live.url}/v1/account/api-keys",
        json={"name": "stream test", "scopes": list(scopes)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    secret: str = response.json()["secret"]
    return secret
