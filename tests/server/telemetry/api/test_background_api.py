"""What runs beside the routes: the retention task, and the publish routes' credential memory."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa

from fleetyard.server.app import create_app
from fleetyard.server.settings import Settings
from fleetyard.server.storage.tables import api_keys
from tests.conftest import ADMIN_KEY
from tests.server.conftest import ClientFor
from tests.server.helpers import execute, make_key, ok, problem
from tests.server.telemetry.api.conftest import make_channel, publish

AUTH_CACHE_SECONDS = 0.5


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        dev=True,
        data_dir=tmp_path / "data",
        database_url=database_url,
        bootstrap_api_key=ADMIN_KEY,
        retention_interval_seconds=0.1,
        auth_cache_seconds=AUTH_CACHE_SECONDS,
    )


def _wait_for(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_retention_runs_in_the_background(http: httpx2.Client, agent: dict[str, Any]) -> None:
    counted = make_channel(http, agent["id"], "counted", retention={"max_messages": 2})
    aged = make_channel(http, agent["id"], "aged", retention={"max_age_seconds": 3600})
    for i in range(5):
        publish(http, counted["id"], i)
    publish(http, aged["id"], "old", timestamp="2020-01-01T00:00:00Z")
    publish(http, aged["id"], "new")

    def payloads(channel: dict[str, Any]) -> list[Any]:
        page = ok(http.get(f"/v1/channels/{channel['id']}/messages"))
        return [m["payload"] for m in page["items"]]

    _wait_for(lambda: payloads(counted) == [4, 3] and payloads(aged) == ["new"])
    # Retention trims the log, never the channel or its aggregate.
    assert ok(http.get(f"/v1/channels/{counted['id']}/aggregate"))["data"] == 4
    assert ok(http.get(f"/v1/channels/{counted['id']}"))["last_seq"] == 5


@pytest.mark.anyio
async def test_the_retention_task_stops_with_the_app(settings: Settings) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await asyncio.sleep(0.25)  # a couple of rounds
        names = {task.get_name() for task in asyncio.all_tasks()}
        assert "fleetyard-retention" in names
    names = {task.get_name() for task in asyncio.all_tasks()}
    assert "fleetyard-retention" not in names


def test_revocation_reaches_the_publish_routes_within_the_cache_time(
    http: httpx2.Client, client_for: ClientFor, database_url: str, agent: dict[str, Any]
) -> None:
    channel = make_channel(http, agent["id"], "status")
    key = make_key(http, [f"agent:{agent['id']}:write"])
    device = client_for(key["secret"])
    url = f"/v1/channels/{channel['id']}/messages"
    ok(device.post(url, json={"payload": 1}), 201)
    # Revoked behind this server's back (as another replica would): the other
    # routes see it at once, publishing within auth_cache_seconds.
    execute(
        database_url, sa.update(api_keys).values(revoked_at=1).where(api_keys.c.id == key["id"])
    )
    problem(device.get(f"/v1/channels/{channel['id']}"), 401, "unauthenticated")
    started = time.monotonic()
    while device.post(url, json={"payload": 2}).status_code == 201:
        assert time.monotonic() - started < AUTH_CACHE_SECONDS + 1
        time.sleep(0.05)
    problem(device.post(url, json={"payload": 3}), 401, "unauthenticated")
