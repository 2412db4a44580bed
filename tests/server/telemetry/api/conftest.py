"""Fixtures for the telemetry HTTP API: a site and an agent made through the API."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.server.helpers import make_site, ok


def make_agent(http: httpx2.Client, site_id: str, name: str, **fields: Any) -> dict[str, Any]:
    agent: dict[str, Any] = ok(
        http.post("/v1/agents", json={"site_id": site_id, "name": name, **fields}), 201
    )
    return agent


def make_channel(http: httpx2.Client, agent_id: str, name: str, **fields: Any) -> dict[str, Any]:
    channel: dict[str, Any] = ok(
        http.post(f"/v1/agents/{agent_id}/channels", json={"name": name, **fields}), 201
    )
    return channel


def publish(http: httpx2.Client, channel_id: str, payload: Any, **options: Any) -> dict[str, Any]:
    ack: dict[str, Any] = ok(
        http.post(f"/v1/channels/{channel_id}/messages", json={"payload": payload, **options}),
        201,
    )
    return ack


@pytest.fixture
def site(http: httpx2.Client) -> dict[str, Any]:
    return make_site(http, "plant")


@pytest.fixture
def agent(http: httpx2.Client, site: dict[str, Any]) -> dict[str, Any]:
    return make_agent(http, site["id"], "pump-1")
