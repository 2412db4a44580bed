"""Device events and event listeners: per-organisation sequence, storage, cursors.

Events are numbered per organisation by ``event_sequences.last_seq``, taken
with ``UPDATE … SET last_seq = last_seq + 1 RETURNING`` inside the writer's
transaction. The row lock serialises writers, so when ``last_seq = N`` is
visible every event up to ``N`` is committed: a reader that first reads
``last_seq`` and then the events ``cursor < seq <= last_seq`` never skips one
that commits late (the same rule as channel sequences).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.device_tables import device_events as e
from fleetyard.server.storage.device_tables import event_listeners as listeners
from fleetyard.server.storage.device_tables import event_sequences as sequences
from fleetyard.server.storage.dialect import database_kind, insert_for


@dataclass(frozen=True, slots=True)
class EventRecord:
    org_id: str
    seq: int
    type: str
    site_id: str
    agent_id: str
    at: int
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ListenerRecord:
    id: str
    org_id: str
    site_id: str | None
    owner: str | None
    cursor: int
    created_at: int
    last_fetch_at: int


def _event(data: Mapping[Any, Any]) -> EventRecord:
    return EventRecord(
        org_id=data["org_id"],
        seq=int(data["seq"]),
        type=data["type"],
        site_id=data["site_id"],
        agent_id=data["agent_id"],
        at=int(data["at"]),
        body=data["body"] or {},
    )


def _listener(data: Mapping[Any, Any]) -> ListenerRecord:
    return ListenerRecord(
        id=data["id"],
        org_id=data["org_id"],
        site_id=data["site_id"],
        owner=data["owner"],
        cursor=int(data["cursor"]),
        created_at=int(data["created_at"]),
        last_fetch_at=int(data["last_fetch_at"]),
    )


# --- sequence and events -------------------------------------------------------------


async def next_seq(conn: AsyncConnection, *, org_id: str) -> int:
    """Take the organisation's next event seq (holding its sequence row until commit)."""
    bump = (
        sa.update(sequences)
        .where(sequences.c.org_id == org_id)
        .values(last_seq=sequences.c.last_seq + 1)
        .returning(sequences.c.last_seq)
    )
    value = (await conn.execute(bump)).scalar_one_or_none()
    if value is None:
        # First event of this organisation: create the row (a racing creator is fine).
        kind = database_kind(conn.engine.url)
        create = (
            insert_for(kind, sequences)
            .values(org_id=org_id, last_seq=0)
            .on_conflict_do_nothing(index_elements=[sequences.c.org_id])
        )
        await conn.execute(create)
        value = (await conn.execute(bump)).scalar_one()
    return int(value)


async def last_seq(conn: AsyncConnection, *, org_id: str) -> int:
    """The organisation's last assigned (and committed, for this reader) event seq."""
    stmt = sa.select(sequences.c.last_seq).where(sequences.c.org_id == org_id)
    value = (await conn.execute(stmt)).scalar_one_or_none()
    return 0 if value is None else int(value)


async def insert_event(
    conn: AsyncConnection,
    *,
    org_id: str,
    seq: int,
    type: str,
    site_id: str,
    agent_id: str,
    at_ms: int,
    body: dict[str, Any],
) -> None:
    await conn.execute(
        sa.insert(e).values(
            org_id=org_id,
            seq=seq,
            type=type,
            site_id=site_id,
            agent_id=agent_id,
            at=at_ms,
            body=body,
        )
    )


async def events_after(
    conn: AsyncConnection,
    *,
    org_id: str,
    after: int,
    until: int,
    visible_sites: Collection[str] | None,
    visible_agents: Collection[str] = (),
    site_id: str | None = None,
    limit: int = 1000,
) -> list[EventRecord]:
    """Events with ``after < seq <= until`` the caller may see, oldest first.

    ``visible_sites`` (None: all) and ``visible_agents``: events of a gateway
    in one of those sites, or of one of those gateways; ``site_id`` narrows.
    """
    stmt = sa.select(e).where(e.c.org_id == org_id, e.c.seq > after, e.c.seq <= until)
    if visible_sites is not None:
        if not visible_sites and not visible_agents:
            return []
        stmt = stmt.where(
            sa.or_(e.c.site_id.in_(list(visible_sites)), e.c.agent_id.in_(list(visible_agents)))
        )
    if site_id is not None:
        stmt = stmt.where(e.c.site_id == site_id)
    rows = (await conn.execute(stmt.order_by(e.c.seq).limit(limit))).all()
    return [_event(r._mapping) for r in rows]


async def prune_events(conn: AsyncConnection, *, org_id: str, before_ms: int) -> int:
    """Delete the organisation's events older than ``before_ms``; returns how many."""
    result = await conn.execute(sa.delete(e).where(e.c.org_id == org_id, e.c.at < before_ms))
    return int(result.rowcount or 0)


# --- listeners -----------------------------------------------------------------------


async def insert_listener(
    conn: AsyncConnection,
    *,
    org_id: str,
    listener_id: str,
    site_id: str | None,
    owner: str | None,
    cursor: int,
    now_ms: int,
) -> ListenerRecord:
    values: dict[str, Any] = {
        "id": listener_id,
        "org_id": org_id,
        "site_id": site_id,
        "owner": owner,
        "cursor": cursor,
        "created_at": now_ms,
        "last_fetch_at": now_ms,
    }
    await conn.execute(sa.insert(listeners).values(**values))
    return _listener(values)


async def get_listener(
    conn: AsyncConnection, listener_id: str, *, org_id: str
) -> ListenerRecord | None:
    stmt = sa.select(listeners).where(listeners.c.id == listener_id, listeners.c.org_id == org_id)
    row = (await conn.execute(stmt)).first()
    return None if row is None else _listener(row._mapping)


async def advance_listener(
    conn: AsyncConnection, listener_id: str, *, org_id: str, cursor: int, now_ms: int
) -> bool:
    """Move the cursor forward (never back) and record the fetch; False when gone."""
    result = await conn.execute(
        sa.update(listeners)
        .where(listeners.c.id == listener_id, listeners.c.org_id == org_id)
        .values(
            cursor=sa.case((listeners.c.cursor < cursor, cursor), else_=listeners.c.cursor),
            last_fetch_at=now_ms,
        )
    )
    return result.rowcount == 1


async def delete_listener(conn: AsyncConnection, listener_id: str, *, org_id: str) -> bool:
    result = await conn.execute(
        sa.delete(listeners).where(listeners.c.id == listener_id, listeners.c.org_id == org_id)
    )
    return result.rowcount == 1


async def delete_expired_listeners(conn: AsyncConnection, *, org_id: str, before_ms: int) -> int:
    """Delete the organisation's listeners not fetched since ``before_ms``."""
    result = await conn.execute(
        sa.delete(listeners).where(
            listeners.c.org_id == org_id, listeners.c.last_fetch_at < before_ms
        )
    )
    return int(result.rowcount or 0)
