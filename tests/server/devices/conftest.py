"""Fixtures for device tests: a site, a gateway agent, and the gateway setup documents."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from tests.server.helpers import make_site, ok
from tests.support.fixtures import SETUPS

SETUP_DIR = SETUPS
SETUP_FILES = sorted(p.name for p in SETUP_DIR.glob("*.json"))


def load_setup(name: str) -> dict[str, Any]:
    setup: dict[str, Any] = json.loads((SETUP_DIR / name).read_text())
    return setup


def make_gateway(http: httpx2.Client, site_id: str, name: str = "tahoma") -> dict[str, Any]:
    agent: dict[str, Any] = ok(
        http.post("/v1/agents", json={"site_id": site_id, "name": name, "kind": "gateway"}), 201
    )
    return agent


def import_setup(
    http: httpx2.Client, gateway_id: str, setup: dict[str, Any], status: int = 201
) -> dict[str, Any]:
    result: dict[str, Any] = ok(
        http.post("/v1/devices/import", json={"gateway_id": gateway_id, "setup": setup}), status
    )
    return result


def device_by_url(http: httpx2.Client, url: str, **params: Any) -> dict[str, Any]:
    page = ok(http.get("/v1/devices", params={"device_url": url, **params}))
    assert len(page["items"]) == 1, page
    device: dict[str, Any] = page["items"][0]
    return device


@pytest.fixture
def site(http: httpx2.Client) -> dict[str, Any]:
    return make_site(http, "home")


@pytest.fixture
def gateway(http: httpx2.Client, site: dict[str, Any]) -> dict[str, Any]:
    return make_gateway(http, site["id"])


@pytest.fixture
def tahoma(http: httpx2.Client, gateway: dict[str, Any]) -> dict[str, Any]:
    """setup_local_tahoma.json imported behind ``gateway``."""
    return import_setup(http, gateway["id"], load_setup("setup_local_tahoma.json"))
