from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from fleetyard.server.storage import telemetry_tables as _telemetry_tables  # noqa: F401
from fleetyard.server.storage.database import Database, alembic_config
from fleetyard.server.storage.dialect import DatabaseKind, normalize_database_url
from fleetyard.server.storage.tables import metadata


def test_migrations_have_a_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


@pytest.mark.anyio
async def test_migrations_build_exactly_the_declared_tables(database_url: str) -> None:
    database = Database(database_url)
    try:
        await database.migrate()
        await database.migrate()  # a second start finds nothing to do

        def diff(sync_conn: sa.Connection) -> list[object]:
            context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))

        async with database.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await database.dispose()


@pytest.mark.anyio
async def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: object) -> None:
    database = Database(f"sqlite:///{tmp_path}/x.db")
    try:
        async with database.connect() as conn:
            assert (await conn.execute(sa.text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(sa.text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await database.dispose()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///var/f.db", "sqlite+aiosqlite:///var/f.db"),
        ("postgresql://u:p@h:5432/d", "postgresql+asyncpg://u:p@h:5432/d"),
        ("postgres://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
    ],
)
def test_database_urls_get_their_async_driver(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected


def test_other_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database"):
        normalize_database_url("mysql://u@h/d")


def test_kind_is_known() -> None:
    assert Database("sqlite://").kind is DatabaseKind.SQLITE
