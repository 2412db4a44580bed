"""What the SQLite benches share: one org, site and agent with many channels, inserted directly."""

from __future__ import annotations

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
