"""The ingest writer's statements: lock channel state, find duplicates, write a batch.

These are the only statements that change ``channels.last_seq`` and the
aggregate columns, and the only inserts into ``messages``. They are meant to
run inside one write transaction opened with
:func:`fleetyard.server.storage.dialect.begin_write`, in this order: lock,
look up duplicates, then save and insert.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.dialect import DatabaseKind, lock_rows
from fleetyard.server.storage.telemetry_tables import channels, messages

# Parameters per statement stay well below SQLite's 32766 and asyncpg's 32767.
_CHUNK = 2000


@dataclass(slots=True)
class ChannelState:
    """What a batch needs of a locked channel row."""

    pk: int
    org_id: str
    last_seq: int
    aggregate: Any
    aggregate_version: int


async def lock_channels(
    conn: AsyncConnection, kind: DatabaseKind, owners: Mapping[int, str]
) -> dict[int, ChannelState]:
    """Lock the channels ``owners`` names (pk → org_id) and read their state.

    Rows are locked in pk order so that two writers (two replicas on
    PostgreSQL) never deadlock. A channel that is gone, or that is not the
    named organisation's, is simply absent from the answer.
    """
    found: dict[int, ChannelState] = {}
    pks = sorted(owners)
    c = channels.c
    for start in range(0, len(pks), _CHUNK):
        stmt = lock_rows(
            kind,
            sa.select(c.pk, c.org_id, c.last_seq, c.aggregate, c.aggregate_version)
            .where(c.pk.in_(pks[start : start + _CHUNK]))
            .order_by(c.pk),
        )
        for row in (await conn.execute(stmt)).all():
            if owners[row.pk] == row.org_id:
                found[row.pk] = ChannelState(*row)
    return found


async def existing_client_ids(
    conn: AsyncConnection, wanted: Collection[tuple[int, str]], *, owners: Mapping[int, str]
) -> dict[tuple[int, str], tuple[int, int]]:
    """The ``(seq, ts)`` already stored under ``(channel_pk, client_message_id)`` pairs."""
    found: dict[tuple[int, str], tuple[int, int]] = {}
    pairs = list(wanted)
    m = messages.c
    for start in range(0, len(pairs), _CHUNK):
        chunk = pairs[start : start + _CHUNK]
        stmt = sa.select(m.channel_pk, m.client_message_id, m.seq, m.ts, m.org_id).where(
            sa.tuple_(m.channel_pk, m.client_message_id).in_(chunk)
        )
        for row in (await conn.execute(stmt)).all():
            if owners.get(row.channel_pk) == row.org_id:
                found[(row.channel_pk, row.client_message_id)] = (row.seq, row.ts)
    return found


async def save_channels(
    conn: AsyncConnection,
    *,
    seq_only: Sequence[Mapping[str, Any]],
    with_aggregate: Sequence[Mapping[str, Any]],
) -> None:
    """Write new positions (``b_pk``, ``b_last_seq``) and, for the second list, aggregates
    too (``b_aggregate``, ``b_version``, ``b_updated_at``): one executemany each."""
    c = channels.c
    if seq_only:
        stmt = (
            sa.update(channels)
            .where(c.pk == sa.bindparam("b_pk"))
            .values(last_seq=sa.bindparam("b_last_seq"))
        )
        await conn.execute(stmt, list(seq_only))
    if with_aggregate:
        stmt = (
            sa.update(channels)
            .where(c.pk == sa.bindparam("b_pk"))
            .values(
                last_seq=sa.bindparam("b_last_seq"),
                aggregate=sa.bindparam("b_aggregate", type_=channels.c.aggregate.type),
                aggregate_version=sa.bindparam("b_version"),
                aggregate_updated_at=sa.bindparam("b_updated_at"),
            )
        )
        await conn.execute(stmt, list(with_aggregate))


MESSAGE_COLUMNS = (
    "channel_pk",
    "seq",
    "org_id",
    "ts",
    "received_at",
    "payload",
    "client_message_id",
)
"""The order of the values in each row given to :func:`insert_messages`."""

_SQLITE_INSERT = (
    "INSERT INTO messages"
    " (channel_pk, seq, org_id, ts, received_at, payload, client_message_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


async def insert_messages(
    conn: AsyncConnection, kind: DatabaseKind, rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert message rows (values in :data:`MESSAGE_COLUMNS` order) with one executemany.

    On SQLite the rows go straight to the driver, payloads encoded here the
    way the JSON column type encodes them: at tens of thousands of rows per
    second, SQLAlchemy's per-row parameter processing costs more than the
    insert itself. PostgreSQL takes the plain Core path.
    """
    if not rows:
        return
    if kind is DatabaseKind.SQLITE:
        encode = json.dumps
        await conn.exec_driver_sql(
            _SQLITE_INSERT, [(*row[:5], encode(row[5]), row[6]) for row in rows]
        )
        return
    await conn.execute(
        sa.insert(messages), [dict(zip(MESSAGE_COLUMNS, row, strict=True)) for row in rows]
    )


# -- SQLite, on the driver's own connection -----------------------------------------------
#
# The ingest writer runs a whole SQLite batch on one plain ``sqlite3``
# connection in one worker-thread call (see IngestWriter._write_sqlite): through
# SQLAlchemy and aiosqlite each statement costs three or four thread hand-offs
# (cursor, execute, fetch, close), a batch about fifteen, and under a publishing
# load those hand-offs cost the event loop more than the SQLite work itself.
# Same statements as above; JSON encoded as the JSON column type encodes it
# (``json.dumps``), and read back with ``json.loads``.


def lock_channels_sqlite(
    db: sqlite3.Connection, owners: Mapping[int, str]
) -> dict[int, ChannelState]:
    """:func:`lock_channels` on SQLite (the lock is the ``BEGIN IMMEDIATE`` already held)."""
    found: dict[int, ChannelState] = {}
    pks = sorted(owners)
    decode = json.loads
    for start in range(0, len(pks), _CHUNK):
        chunk = pks[start : start + _CHUNK]
        # Only ``?`` placeholders are spliced in; every value is bound.
        sql = (
            "SELECT pk, org_id, last_seq, aggregate, aggregate_version FROM channels"  # noqa: S608
            f" WHERE pk IN ({', '.join('?' * len(chunk))}) ORDER BY pk"
        )
        for pk, org_id, last_seq, aggregate, version in db.execute(sql, chunk):
            if owners[pk] == org_id:
                # The JSON column has NUMERIC affinity, so a scalar aggregate may come
                # back as a number; SQLAlchemy's SQLite JSON type passes those through too.
                data = decode(aggregate) if isinstance(aggregate, str | bytes) else aggregate
                found[pk] = ChannelState(pk, org_id, last_seq, data, version)
    return found


def existing_client_ids_sqlite(
    db: sqlite3.Connection, wanted: Collection[tuple[int, str]], *, owners: Mapping[int, str]
) -> dict[tuple[int, str], tuple[int, int]]:
    """:func:`existing_client_ids` on SQLite."""
    found: dict[tuple[int, str], tuple[int, int]] = {}
    pairs = list(wanted)
    for start in range(0, len(pairs), _CHUNK):
        chunk = pairs[start : start + _CHUNK]
        # Only ``(?, ?)`` placeholders are spliced in; every value is bound.
        sql = (
            "SELECT channel_pk, client_message_id, seq, ts, org_id FROM messages"  # noqa: S608
            " WHERE (channel_pk, client_message_id) IN"
            f" (VALUES {', '.join(['(?, ?)'] * len(chunk))})"
        )
        params = [value for pair in chunk for value in pair]
        for channel_pk, client_id, seq, ts, org_id in db.execute(sql, params):
            if owners.get(channel_pk) == org_id:
                found[(channel_pk, client_id)] = (seq, ts)
    return found


_SQLITE_SAVE_CHANNEL = (
    "UPDATE channels SET last_seq = ?, aggregate = ?, aggregate_version = ?,"
    " aggregate_updated_at = ? WHERE pk = ?"
)


def save_channels_sqlite(db: sqlite3.Connection, states: Sequence[ChannelState], now: int) -> None:
    """:func:`save_channels` (``with_aggregate``) on SQLite: position, aggregate, version."""
    encode = json.dumps
    db.executemany(
        _SQLITE_SAVE_CHANNEL,
        [(s.last_seq, encode(s.aggregate), s.aggregate_version, now, s.pk) for s in states],
    )


def insert_messages_sqlite(db: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """:func:`insert_messages` on SQLite."""
    if rows:
        encode = json.dumps
        db.executemany(_SQLITE_INSERT, [(*row[:5], encode(row[5]), row[6]) for row in rows])


# -- PostgreSQL, on the driver's own connection -------------------------------------------
#
# The same steps again, on the asyncpg connection under the writer's SQLAlchemy
# connection: per batch, SQLAlchemy's statement building and per-row parameter
# processing cost the event loop more than the statements themselves, and its
# executemany of message rows is one Bind/Execute per row. Here every list of
# values goes as one array parameter and ``unnest`` turns it back into rows, so
# each step is one statement whatever the batch size. JSON travels as text
# (``json.dumps``, as the JSON column type encodes it) and is cast to ``jsonb``
# in the statement; ``jsonb`` read back is decoded already, by the codec
# SQLAlchemy's asyncpg dialect sets on each of its connections.

_PG_LOCK = (
    "SELECT pk, org_id, last_seq, aggregate, aggregate_version FROM channels"
    " WHERE pk = ANY($1::bigint[]) ORDER BY pk FOR UPDATE"
)
_PG_EXISTING = (
    "SELECT m.channel_pk, m.client_message_id, m.seq, m.ts, m.org_id FROM messages m"
    " JOIN unnest($1::bigint[], $2::text[]) AS w(pk, cid)"
    " ON m.channel_pk = w.pk AND m.client_message_id = w.cid"
)
_PG_SAVE_CHANNELS = (
    "UPDATE channels SET last_seq = v.last_seq, aggregate = v.aggregate::jsonb,"
    " aggregate_version = v.version, aggregate_updated_at = $5"
    " FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[])"
    " AS v(pk, last_seq, aggregate, version) WHERE channels.pk = v.pk"
)
_PG_INSERT = (
    "INSERT INTO messages"
    " (channel_pk, seq, org_id, ts, received_at, payload, client_message_id)"
    " SELECT pk, seq, org_id, ts, received_at, payload::jsonb, client_message_id"
    " FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[],"
    " $6::text[], $7::text[]) AS r(pk, seq, org_id, ts, received_at, payload, client_message_id)"
)


async def lock_channels_pg(driver: Any, owners: Mapping[int, str]) -> dict[int, ChannelState]:
    """:func:`lock_channels` on an asyncpg connection, inside its transaction."""
    found: dict[int, ChannelState] = {}
    for pk, org_id, last_seq, aggregate, version in await driver.fetch(_PG_LOCK, sorted(owners)):
        if owners[pk] == org_id:
            found[pk] = ChannelState(pk, org_id, last_seq, aggregate, version)
    return found


async def existing_client_ids_pg(
    driver: Any, wanted: Collection[tuple[int, str]], *, owners: Mapping[int, str]
) -> dict[tuple[int, str], tuple[int, int]]:
    """:func:`existing_client_ids` on an asyncpg connection."""
    pairs = list(wanted)
    rows = await driver.fetch(_PG_EXISTING, [p for p, _ in pairs], [c for _, c in pairs])
    return {
        (channel_pk, client_id): (seq, ts)
        for channel_pk, client_id, seq, ts, org_id in rows
        if owners.get(channel_pk) == org_id
    }


async def save_channels_pg(driver: Any, states: Sequence[ChannelState], now: int) -> None:
    """:func:`save_channels` (``with_aggregate``) on an asyncpg connection."""
    if states:
        encode = json.dumps
        await driver.execute(
            _PG_SAVE_CHANNELS,
            [s.pk for s in states],
            [s.last_seq for s in states],
            [encode(s.aggregate) for s in states],
            [s.aggregate_version for s in states],
            now,
        )


async def insert_messages_pg(driver: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    """:func:`insert_messages` on an asyncpg connection: one statement for the batch."""
    if rows:
        encode = json.dumps
        columns = list(zip(*rows, strict=True))
        await driver.execute(
            _PG_INSERT,
            *columns[:5],
            [encode(payload) for payload in columns[5]],
            columns[6],
        )
