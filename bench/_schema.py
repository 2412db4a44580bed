"""What the benches share: one org, site and agent with many channels, inserted directly;
and, for PostgreSQL, a scratch database per run."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator

import sqlalchemy as sa

from fleetyard.protocol.ids import new_id
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.tables import organizations, sites
from fleetyard.server.storage.telemetry_tables import agents, channels


async def seed_channels(database: Database, n_channels: int) -> tuple[str, list[tuple[int, str]]]:
    """Create the rows; return the org id and ``(pk, id)`` of each channel, in pk order."""
    org_id, site_id, agent_id = new_id("org"), new_id("site"), new_id("agt")
    async with database.begin() as conn:
        await conn.execute(sa.insert(organizations).values(id=org_id, name="bench", created_at=1))
        await conn.execute(
            sa.insert(sites).values(id=site_id, org_id=org_id, name="s", created_at=1, updated_at=1)
        )
        await conn.execute(
            sa.insert(agents).values(
                id=agent_id,
                org_id=org_id,
                site_id=site_id,
                name="a",
                kind="device",
                labels={},
                metadata={},
                created_at=1,
                updated_at=1,
            )
        )
        await conn.execute(
            sa.insert(channels),
            [
                {
                    "id": new_id("ch"),
                    "org_id": org_id,
                    "agent_id": agent_id,
                    "name": f"ch-{i}",
                    "kind": "channel",
                    "created_at": 1,
                    "updated_at": 1,
                }
                for i in range(n_channels)
            ],
        )
        query = sa.select(channels.c.pk, channels.c.id).order_by(channels.c.pk)
        rows = (await conn.execute(query)).all()
    return org_id, [(int(r[0]), str(r[1])) for r in rows]


def bench_postgres_url() -> str | None:
    """``FLEETYARD_BENCH_DATABASE_URL`` when it names a PostgreSQL database, else None."""
    url = os.environ.get("FLEETYARD_BENCH_DATABASE_URL")
    if url and sa.make_url(url).get_backend_name() != "postgresql":
        raise SystemExit(f"FLEETYARD_BENCH_DATABASE_URL is not PostgreSQL: {url}")
    return url or None


def asyncpg_dsn(url: str) -> str:
    """The same URL for ``asyncpg.connect`` (no SQLAlchemy driver suffix)."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def scratch_postgres(url: str) -> Iterator[str]:
    """A fresh, empty database created beside the one ``url`` names (so its role needs
    CREATEDB), dropped afterwards: each run starts from a migrated empty schema, as
    the SQLite benches do with a new file. Yields its URL."""
    import asyncpg

    name = f"fy_bench_scratch_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
