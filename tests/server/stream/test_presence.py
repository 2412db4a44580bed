"""Presence: heartbeats flip agents online, silence flips them offline; both are streamed."""

from __future__ import annotations

import time

import httpx2

from fleetyard.protocol.telemetry import Agent
from fleetyard.server.services.telemetry.agents import get_agent
from fleetyard.server.settings import Settings
from fleetyard.server.state import AppState
from tests.conftest import ADMIN_KEY
from tests.server.helpers import create_other_org
from tests.server.stream.conftest import World, make_key, open_ws


def _heartbeat(world: World, agent_id: str, token: str = ADMIN_KEY) -> httpx2.Response:
    return httpx2.post(
        f"{world.live.url}/v1/agents/{agent_id}/heartbeat",
        headers={"Authorization": f"Bearer {token}"},
    )


def _agent(world: World, agent_id: str) -> Agent:
    async def run(state: AppState) -> Agent:
        return await get_agent(state.database, world.principal, agent_id)

    return world.live.call(run)


def test_heartbeat_goes_online_and_silence_goes_offline(world: World) -> None:
    agent = world.agent("pump-1")
    bystander = world.agent("pump-2")
    with open_ws(world.live) as site_ws, open_ws(world.live) as agent_ws:
        site_ws.recv()
        agent_ws.recv()
        site_ws.send(type="subscribe", id="site", presence={"site_id": world.site_id})
        agent_ws.send(type="subscribe", id="one", presence={"agent_ids": [agent]})
        assert site_ws.recv_skipping_heartbeats()["type"] == "subscribed"
        assert agent_ws.recv_skipping_heartbeats()["type"] == "subscribed"

        response = _heartbeat(world, agent)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["online"] is True
        assert body["last_seen"] is not None
        online = site_ws.recv_skipping_heartbeats()
        assert (online["type"], online["sub"], online["agent_id"]) == (
            "agent.online",
            "site",
            agent,
        )
        assert online["site_id"] == world.site_id
        assert agent_ws.recv_skipping_heartbeats()["type"] == "agent.online"
        _heartbeat(world, agent)  # already online: no second event
        _heartbeat(world, bystander)
        other = site_ws.recv_skipping_heartbeats()
        assert (other["type"], other["agent_id"]) == ("agent.online", bystander)

        started = time.monotonic()
        offline = agent_ws.recv_skipping_heartbeats(timeout=10)
        waited = time.monotonic() - started
    assert (offline["type"], offline["agent_id"]) == ("agent.offline", agent)
    assert offline["last_seen"] is not None
    assert 0.5 < waited < 5  # presence_timeout_seconds is 1 in these tests
    assert _agent(world, agent).online is False


def test_heartbeat_needs_write_on_the_agent_or_its_site(world: World, settings: Settings) -> None:
    agent = world.agent("pump-1")
    device = make_key(world.live, f"agent:{agent}:write")
    assert _heartbeat(world, agent, device).status_code == 200
    other_agent = world.agent("pump-2")
    # A device key is for its own agent only: another agent is not even visible to it.
    assert _heartbeat(world, other_agent, device).json()["code"] == "not_found"
    reader = make_key(world.live, f"site:{world.site_id}:read")
    refused = _heartbeat(world, agent, reader)
    assert (refused.status_code, refused.json()["code"]) == (403, "scope_insufficient")
    them = create_other_org(settings.resolved_database_url)
    foreign = _heartbeat(world, agent, them["key"])
    assert (foreign.status_code, foreign.json()["code"]) == (404, "not_found")
    assert _heartbeat(world, "agt_doesnotexist").status_code == 404
    assert httpx2.post(f"{world.live.url}/v1/agents/{agent}/heartbeat").status_code == 401
