"""Fixtures for the server's API tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx2
import pytest

from tests.support.asgi import PortalASGITransport

ClientFor = Callable[[str | None], httpx2.Client]


@pytest.fixture
def client_for(app_transport: PortalASGITransport) -> Iterator[ClientFor]:
    """Make clients on the running app that send ``Bearer <token>`` (None: no header)."""
    clients: list[httpx2.Client] = []

    def make(token: str | None) -> httpx2.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx2.Client(
            transport=app_transport, base_url="http://fleetyard.test", headers=headers
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
