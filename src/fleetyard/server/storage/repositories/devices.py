"""Devices: one row per (gateway agent, device URL), with definition, states and attributes.

``definition``, ``states`` and ``attributes`` are JSON read and written as a
whole (states are merged by name in the service, then written back).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.device_tables import devices as t
from fleetyard.server.storage.repositories._common import keyset
from fleetyard.server.storage.telemetry_tables import agents

IMPORTED = (
    "site_id",
    "label",
    "controllable_name",
    "widget",
    "ui_class",
    "type",
    "available",
    "enabled",
    "definition",
    "states",
    "attributes",
)
"""What an import sets on a device (everything but its id, org, gateway and URL)."""


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    id: str
    org_id: str
    site_id: str
    agent_id: str
    device_url: str
    label: str
    controllable_name: str
    widget: str | None
    ui_class: str | None
    type: int | None
    available: bool
    enabled: bool
    definition: dict[str, Any]
    states: list[dict[str, Any]]
    attributes: list[dict[str, Any]]
    created_at: int
    updated_at: int


def _record(data: Mapping[Any, Any]) -> DeviceRecord:
    return DeviceRecord(
        id=data["id"],
        org_id=data["org_id"],
        site_id=data["site_id"],
        agent_id=data["agent_id"],
        device_url=data["device_url"],
        label=data["label"],
        controllable_name=data["controllable_name"],
        widget=data["widget"],
        ui_class=data["ui_class"],
        type=data["type"],
        available=bool(data["available"]),
        enabled=bool(data["enabled"]),
        definition=data["definition"] or {},
        states=list(data["states"] or []),
        attributes=list(data["attributes"] or []),
        created_at=int(data["created_at"]),
        updated_at=int(data["updated_at"]),
    )


async def lock_gateway(conn: AsyncConnection, agent_id: str, *, org_id: str) -> bool:
    """Hold the gateway's agents row until commit (serialises imports of one gateway).

    A no-op UPDATE: it takes the row lock on PostgreSQL and the write lock on
    SQLite. False when there is no such agent in the organisation.
    """
    result = await conn.execute(
        sa.update(agents)
        .where(agents.c.id == agent_id, agents.c.org_id == org_id)
        .values(updated_at=agents.c.updated_at)
    )
    return result.rowcount == 1


async def by_urls(
    conn: AsyncConnection, *, org_id: str, agent_id: str, device_urls: Collection[str]
) -> dict[str, DeviceRecord]:
    """The gateway's devices among ``device_urls``, by URL."""
    if not device_urls:
        return {}
    found: dict[str, DeviceRecord] = {}
    urls = list(device_urls)
    # Chunks keep the IN list under SQLite's bound-parameter limit.
    for start in range(0, len(urls), 500):
        stmt = sa.select(t).where(
            t.c.org_id == org_id,
            t.c.agent_id == agent_id,
            t.c.device_url.in_(urls[start : start + 500]),
        )
        for row in (await conn.execute(stmt)).all():
            record = _record(row._mapping)
            found[record.device_url] = record
    return found


async def insert(
    conn: AsyncConnection,
    *,
    org_id: str,
    device_id: str,
    agent_id: str,
    device_url: str,
    values: Mapping[str, Any],
    now_ms: int,
) -> None:
    """Create a device; ``values`` holds the :data:`IMPORTED` members."""
    row = {k: v for k, v in values.items() if k in IMPORTED}
    await conn.execute(
        sa.insert(t).values(
            id=device_id,
            org_id=org_id,
            agent_id=agent_id,
            device_url=device_url,
            created_at=now_ms,
            updated_at=now_ms,
            **row,
        )
    )


async def replace(
    conn: AsyncConnection,
    device_id: str,
    *,
    org_id: str,
    values: Mapping[str, Any],
    now_ms: int,
) -> bool:
    """Overwrite the :data:`IMPORTED` members of a device (a re-import)."""
    row = {k: v for k, v in values.items() if k in IMPORTED}
    result = await conn.execute(
        sa.update(t)
        .where(t.c.id == device_id, t.c.org_id == org_id)
        .values(**row, updated_at=now_ms)
    )
    return result.rowcount == 1


async def get(conn: AsyncConnection, device_id: str, *, org_id: str) -> DeviceRecord | None:
    row = (
        await conn.execute(sa.select(t).where(t.c.id == device_id, t.c.org_id == org_id))
    ).first()
    return None if row is None else _record(row._mapping)


async def get_by_url(
    conn: AsyncConnection, *, org_id: str, agent_id: str, device_url: str
) -> DeviceRecord | None:
    """The gateway's device with this URL."""
    stmt = sa.select(t).where(
        t.c.org_id == org_id, t.c.agent_id == agent_id, t.c.device_url == device_url
    )
    row = (await conn.execute(stmt)).first()
    return None if row is None else _record(row._mapping)


async def find_by_url(conn: AsyncConnection, *, org_id: str, device_url: str) -> list[DeviceRecord]:
    """Every device of the organisation with this URL (one per gateway that holds it)."""
    stmt = sa.select(t).where(t.c.org_id == org_id, t.c.device_url == device_url).order_by(t.c.id)
    return [_record(r._mapping) for r in (await conn.execute(stmt)).all()]


async def list_page(
    conn: AsyncConnection,
    *,
    org_id: str,
    visible_sites: Collection[str] | None,
    visible_agents: Collection[str] = (),
    gateway_id: str | None = None,
    site_id: str | None = None,
    protocol: str | None = None,
    ui_class: str | None = None,
    device_url: str | None = None,
    after: str | None,
    limit: int,
) -> list[DeviceRecord]:
    """Devices ordered by id (``limit + 1`` rows), narrowed by the filters.

    ``visible_sites`` (None: all) and ``visible_agents``: devices in one of
    those sites or behind one of those gateways. ``protocol`` matches the
    device URL's scheme (``io`` → ``io://…``).
    """
    stmt = sa.select(t).where(t.c.org_id == org_id)
    if visible_sites is not None:
        if not visible_sites and not visible_agents:
            return []
        stmt = stmt.where(
            sa.or_(t.c.site_id.in_(list(visible_sites)), t.c.agent_id.in_(list(visible_agents)))
        )
    if gateway_id is not None:
        stmt = stmt.where(t.c.agent_id == gateway_id)
    if site_id is not None:
        stmt = stmt.where(t.c.site_id == site_id)
    if protocol is not None:
        stmt = stmt.where(t.c.device_url.startswith(f"{protocol}://", autoescape=True))
    if ui_class is not None:
        stmt = stmt.where(t.c.ui_class == ui_class)
    if device_url is not None:
        stmt = stmt.where(t.c.device_url == device_url)
    rows = (await conn.execute(keyset(stmt, t.c.id, after=after, limit=limit))).all()
    return [_record(r._mapping) for r in rows]


async def update_label(
    conn: AsyncConnection, device_id: str, *, org_id: str, label: str, now_ms: int
) -> DeviceRecord | None:
    result = await conn.execute(
        sa.update(t)
        .where(t.c.id == device_id, t.c.org_id == org_id)
        .values(label=label, updated_at=now_ms)
    )
    if result.rowcount != 1:
        return None
    return await get(conn, device_id, org_id=org_id)


async def write_states(
    conn: AsyncConnection,
    device_id: str,
    *,
    org_id: str,
    states: list[dict[str, Any]],
    now_ms: int,
) -> bool:
    """Store a device's merged states (the caller holds the row: it read it for update)."""
    result = await conn.execute(
        sa.update(t)
        .where(t.c.id == device_id, t.c.org_id == org_id)
        .values(states=states, updated_at=now_ms)
    )
    return result.rowcount == 1


async def get_for_update(
    conn: AsyncConnection, *, org_id: str, agent_id: str, device_url: str
) -> DeviceRecord | None:
    """The gateway's device by URL, with its row held until commit.

    Touching ``updated_at`` first takes the row lock on both databases, so two
    concurrent state reports merge one after the other instead of losing one.
    """
    where = sa.and_(t.c.org_id == org_id, t.c.agent_id == agent_id, t.c.device_url == device_url)
    touched = await conn.execute(sa.update(t).where(where).values(updated_at=t.c.updated_at))
    if touched.rowcount != 1:
        return None
    row = (await conn.execute(sa.select(t).where(where))).first()
    return None if row is None else _record(row._mapping)


async def set_available(
    conn: AsyncConnection, device_id: str, *, org_id: str, available: bool, now_ms: int
) -> bool:
    """Set ``available``; True only when it flipped (one conditional UPDATE)."""
    result = await conn.execute(
        sa.update(t)
        .where(t.c.id == device_id, t.c.org_id == org_id, t.c.available == (not available))
        .values(available=available, updated_at=now_ms)
    )
    return result.rowcount == 1


async def has_devices(conn: AsyncConnection, agent_id: str, *, org_id: str) -> bool:
    """Whether the agent holds at least one device."""
    stmt = sa.select(t.c.id).where(t.c.org_id == org_id, t.c.agent_id == agent_id).limit(1)
    return (await conn.execute(stmt)).first() is not None
