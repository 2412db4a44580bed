from __future__ import annotations

import stat
from pathlib import Path

import anyio
import httpx2
import pytest
from pydantic import SecretStr

from fleetyard.server.app import create_app
from fleetyard.server.services.bootstrap import BootstrapError, ensure_bootstrap
from fleetyard.server.settings import Settings
from fleetyard.server.storage.database import Database
from tests.conftest import ADMIN_KEY
from tests.server.helpers import ok, problem
from tests.support.asgi import running_app


def test_the_configured_key_is_the_admin_key(http: httpx2.Client) -> None:
    me = ok(http.get("/v1/account"))
    assert me["kind"] == "api_key"
    assert me["org"]["name"] == "default"
    assert me["scopes"] == ["*:*:admin"]
    keys = ok(http.get("/v1/account/api-keys"))["items"]
    assert [(k["name"], k["prefix"]) for k in keys] == [("bootstrap admin", ADMIN_KEY[:12])]
    admins = ok(http.get("/v1/users"))["items"]
    assert [(u["email"], u["role"]) for u in admins] == [("admin@fleetyard.local", "admin")]


def test_nothing_is_written_when_the_key_is_given(settings: Settings) -> None:
    with running_app(create_app(settings)) as transport:
        assert transport is not None
    assert not (settings.data_dir / "bootstrap-key").exists()


def test_a_generated_key_is_saved_with_mode_0600_and_works(
    settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"bootstrap_api_key": None})
    app = create_app(settings)
    with running_app(app) as transport:
        key = app.state.fleetyard.bootstrap_api_key
        assert key is not None
        assert key.startswith("fy_live_")
        assert len(key) == 48
        key_file = settings.data_dir / "bootstrap-key"
        assert key_file.read_text().strip() == key
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        with httpx2.Client(
            transport=transport,
            base_url="http://t",
            headers={"Authorization": f"Bearer {key}"},
        ) as client:
            assert ok(client.get("/v1/account"))["scopes"] == ["*:*:admin"]
            problem(
                client.get("/v1/account", headers={"Authorization": f"Bearer {ADMIN_KEY}"}),
                401,
                "unauthenticated",
            )
    # A restart finds the organisation and makes no new key.
    again = create_app(settings)
    with running_app(again):
        assert again.state.fleetyard.bootstrap_api_key is None


@pytest.mark.parametrize("bad", ["sk_live_" + "a" * 40, "fy_live_short", "fy_test_" + "é" * 20])
def test_a_malformed_configured_key_is_refused(settings: Settings, bad: str) -> None:
    settings = settings.model_copy(update={"bootstrap_api_key": SecretStr(bad)})

    async def start() -> None:
        database = Database(settings.resolved_database_url)
        try:
            await database.migrate()
            await ensure_bootstrap(database, settings)
        finally:
            await database.dispose()

    with pytest.raises(BootstrapError, match="FLEETYARD_BOOTSTRAP_API_KEY"):
        anyio.run(start)


@pytest.mark.anyio
async def test_two_replicas_starting_together_make_one_organisation(settings: Settings) -> None:
    settings = settings.model_copy(update={"bootstrap_api_key": None})
    first = Database(settings.resolved_database_url)
    second = Database(settings.resolved_database_url)
    results: list[str | None] = []
    try:
        await first.migrate()

        async def start(database: Database) -> None:
            results.append(await ensure_bootstrap(database, settings))

        async with anyio.create_task_group() as group:
            group.start_soon(start, first)
            group.start_soon(start, second)
        assert len([r for r in results if r is not None]) == 1
        async with first.connect() as conn:
            count = (await conn.exec_driver_sql("SELECT count(*) FROM organizations")).scalar()
        assert count == 1
    finally:
        await first.dispose()
        await second.dispose()
