"""Fixtures shared by the whole suite: databases, settings, the app, SDK clients."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx2
import pytest

from fleetyard.server.app import create_app
from fleetyard.server.settings import Settings
from tests.support import databases
from tests.support.asgi import PortalASGITransport, running_app

ADMIN_KEY = "fy_test_" + "a" * 40
"""The bootstrap admin key every test app starts with."""


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_worker_url(worker_id: str) -> Iterator[str | None]:
    base = databases.postgres_base_url()
    if base is None:
        yield None
        return
    url = anyio.run(databases.create_worker_database, base, worker_id)
    yield url
    anyio.run(databases.drop_database, url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_worker_url: str | None
) -> Iterator[str]:
    """Each test that takes this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fleetyard.db'}"
        return
    if postgres_worker_url is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL half: {databases.skip_reason()}")
        pytest.skip(databases.skip_reason())
    yield postgres_worker_url
    anyio.run(databases.truncate_all, postgres_worker_url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        dev=True,
        data_dir=tmp_path / "data",
        database_url=database_url,
        bootstrap_api_key=ADMIN_KEY,
    )


@pytest.fixture
def app_transport(settings: Settings) -> Iterator[PortalASGITransport]:
    """A sync transport into a running in-process app (lifespan included)."""
    with running_app(create_app(settings)) as transport:
        yield transport


@pytest.fixture
async def async_app_transport(settings: Settings) -> AsyncIterator[httpx2.ASGITransport]:
    """An async transport into a running in-process app, on the test's own event loop."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield httpx2.ASGITransport(app=app)


@pytest.fixture
def http(app_transport: PortalASGITransport) -> Iterator[httpx2.Client]:
    """A raw HTTP client (admin key) for API-level tests."""
    with httpx2.Client(
        transport=app_transport,
        base_url="http://fleetyard.test",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as client:
        yield client
