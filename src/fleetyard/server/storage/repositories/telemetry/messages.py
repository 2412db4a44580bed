"""The message log: reads by seq and by time, edits, and retention deletes.

Messages are addressed by ``(channel_pk, seq)``; callers get ``channel_pk``
from an org-checked channel lookup, and every statement here filters on
``org_id`` as well.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.telemetry_tables import messages as t


@dataclass(frozen=True, slots=True)
class MessageRecord:
    channel_pk: int
    seq: int
    ts: int
    received_at: int
    payload: Any
    client_message_id: str | None


_COLUMNS = [t.c.channel_pk, t.c.seq, t.c.ts, t.c.received_at, t.c.payload, t.c.client_message_id]


def _record(data: Mapping[Any, Any]) -> MessageRecord:
    return MessageRecord(
        channel_pk=data["channel_pk"],
        seq=data["seq"],
        ts=data["ts"],
        received_at=data["received_at"],
        payload=data["payload"],
        client_message_id=data["client_message_id"],
    )


def _in_channel(channel_pk: int, org_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(t.c.channel_pk == channel_pk, t.c.org_id == org_id)


async def list_by_seq(
    conn: AsyncConnection,
    channel_pk: int,
    *,
    org_id: str,
    after_seq: int | None = None,
    before_seq: int | None = None,
    descending: bool = True,
    limit: int,
) -> list[MessageRecord]:
    """Messages in seq order (newest first by default), ``limit + 1`` rows at most."""
    stmt = sa.select(*_COLUMNS).where(_in_channel(channel_pk, org_id))
    if after_seq is not None:
        stmt = stmt.where(t.c.seq > after_seq)
    if before_seq is not None:
        stmt = stmt.where(t.c.seq < before_seq)
    stmt = stmt.order_by(t.c.seq.desc() if descending else t.c.seq).limit(limit + 1)
    return [_record(r._mapping) for r in (await conn.execute(stmt)).all()]


async def list_window(
    conn: AsyncConnection,
    channel_pk: int,
    *,
    org_id: str,
    start_ms: int | None,
    end_ms: int | None,
    after: tuple[int, int] | None = None,
    descending: bool = False,
    limit: int,
) -> list[MessageRecord]:
    """Messages with ``start_ms <= ts < end_ms`` in ``(ts, seq)`` order, ``limit + 1`` at most.

    ``after`` is the ``(ts, seq)`` of the last row of the previous page.
    Served by the ``(channel_pk, ts, seq)`` index: a range, no sort.
    """
    stmt = sa.select(*_COLUMNS).where(_in_channel(channel_pk, org_id))
    if start_ms is not None:
        stmt = stmt.where(t.c.ts >= start_ms)
    if end_ms is not None:
        stmt = stmt.where(t.c.ts < end_ms)
    if after is not None:
        ts, seq = after
        # The plain range on ts keeps the index usable; the OR only trims its edge.
        if descending:
            stmt = stmt.where(t.c.ts <= ts, sa.or_(t.c.ts < ts, t.c.seq < seq))
        else:
            stmt = stmt.where(t.c.ts >= ts, sa.or_(t.c.ts > ts, t.c.seq > seq))
    if descending:
        stmt = stmt.order_by(t.c.ts.desc(), t.c.seq.desc())
    else:
        stmt = stmt.order_by(t.c.ts, t.c.seq)
    stmt = stmt.limit(limit + 1)
    return [_record(r._mapping) for r in (await conn.execute(stmt)).all()]


async def get(
    conn: AsyncConnection, channel_pk: int, seq: int, *, org_id: str
) -> MessageRecord | None:
    stmt = sa.select(*_COLUMNS).where(_in_channel(channel_pk, org_id), t.c.seq == seq)
    row = (await conn.execute(stmt)).first()
    return None if row is None else _record(row._mapping)


async def latest(
    conn: AsyncConnection, channel_pks: Collection[int], *, org_id: str
) -> dict[int, MessageRecord]:
    """The newest logged message of each channel (channels without messages are absent).

    One ``ORDER BY seq DESC LIMIT 1`` per channel, glued with UNION ALL: each
    is a single index probe, where a GROUP BY would read whole channels.
    """
    found: dict[int, MessageRecord] = {}
    pks = list(channel_pks)
    for start in range(0, len(pks), 200):
        parts = [
            sa.select(*_COLUMNS)
            .where(_in_channel(pk, org_id))
            .order_by(t.c.seq.desc())
            .limit(1)
            .subquery()
            for pk in pks[start : start + 200]
        ]
        if not parts:
            continue
        union = sa.union_all(*(sa.select(p) for p in parts))
        for row in (await conn.execute(union)).all():
            found[row.channel_pk] = _record(row._mapping)
    return found


async def update_payload(
    conn: AsyncConnection, channel_pk: int, seq: int, *, org_id: str, payload: Any
) -> bool:
    stmt = (
        sa.update(t).where(_in_channel(channel_pk, org_id), t.c.seq == seq).values(payload=payload)
    )
    return (await conn.execute(stmt)).rowcount == 1


async def delete(conn: AsyncConnection, channel_pk: int, seq: int, *, org_id: str) -> bool:
    stmt = sa.delete(t).where(_in_channel(channel_pk, org_id), t.c.seq == seq)
    return (await conn.execute(stmt)).rowcount == 1


async def delete_older_than(
    conn: AsyncConnection, channel_pk: int, *, org_id: str, before_ts: int, limit: int
) -> int:
    """Delete up to ``limit`` messages with ``ts < before_ts``; returns how many went."""
    doomed = (
        sa.select(t.c.seq)
        .where(_in_channel(channel_pk, org_id), t.c.ts < before_ts)
        .limit(limit)
        .scalar_subquery()
    )
    stmt = sa.delete(t).where(_in_channel(channel_pk, org_id), t.c.seq.in_(doomed))
    return int((await conn.execute(stmt)).rowcount or 0)


async def seq_beyond_newest(
    conn: AsyncConnection, channel_pk: int, *, org_id: str, keep: int
) -> int | None:
    """The seq of the newest message past the ``keep`` newest ones (None: nothing to drop)."""
    stmt = (
        sa.select(t.c.seq)
        .where(_in_channel(channel_pk, org_id))
        .order_by(t.c.seq.desc())
        .offset(keep)
        .limit(1)
    )
    return (await conn.execute(stmt)).scalar()


async def delete_up_to_seq(
    conn: AsyncConnection, channel_pk: int, *, org_id: str, max_seq: int, limit: int
) -> int:
    """Delete up to ``limit`` of the oldest messages with ``seq <= max_seq``."""
    doomed = (
        sa.select(t.c.seq)
        .where(_in_channel(channel_pk, org_id), t.c.seq <= max_seq)
        .order_by(t.c.seq)
        .limit(limit)
        .scalar_subquery()
    )
    stmt = sa.delete(t).where(_in_channel(channel_pk, org_id), t.c.seq.in_(doomed))
    return int((await conn.execute(stmt)).rowcount or 0)
