"""Test databases: a SQLite file per test, and one PostgreSQL database per xdist worker.

PostgreSQL runs when ``FLEETYARD_TEST_DATABASE_URL`` is set (CI sets it). Each
worker gets a database of its own, derived from that URL, and every test
starts from empty tables (TRUNCATE after each test), so tests never see each
other's rows and the suite runs in parallel.
"""

from __future__ import annotations

import os

import asyncpg
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from fleetyard.server.storage.dialect import normalize_database_url
from fleetyard.server.storage.tables import metadata

ENV = "FLEETYARD_TEST_DATABASE_URL"


def postgres_base_url() -> str | None:
    url = os.environ.get(ENV)
    return normalize_database_url(url) if url else None


def skip_reason() -> str:
    return (
        f"PostgreSQL tests need {ENV} (e.g. postgresql://postgres@127.0.0.1:5432/fleetyard_test); "
        "CI sets it"
    )


def _dsn(url: sa.URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def create_worker_database(base_url: str, worker: str) -> str:
    """(Re)create ``<base>_<worker>`` and return its URL."""
    base = make_url(base_url)
    name = f"{base.database}_{worker}".replace("-", "_")
    admin = await asyncpg.connect(_dsn(base.set(database="postgres")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return base.set(database=name).render_as_string(hide_password=False)


async def drop_database(url: str) -> None:
    target = make_url(url)
    admin = await asyncpg.connect(_dsn(target.set(database="postgres")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
    finally:
        await admin.close()


async def truncate_all(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            existing = set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
            names = [t.name for t in metadata.sorted_tables if t.name in existing]
            if names:
                await conn.execute(sa.text(f"TRUNCATE {', '.join(names)} CASCADE"))
    finally:
        await engine.dispose()
