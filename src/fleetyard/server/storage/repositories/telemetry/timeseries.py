"""Timeseries reads: numbers at JSON paths of a channel's messages, raw or per bucket.

The JSON extraction itself is :func:`fleetyard.server.storage.dialect.json_number`;
this module only shapes the queries. Windows are ``start <= ts < end``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.dialect import DatabaseKind, json_number
from fleetyard.server.storage.telemetry_tables import messages as t

SQL_AGGREGATES: dict[str, Callable[[sa.ColumnElement[float]], sa.ColumnElement[Any]]] = {
    "avg": sa.func.avg,
    "min": sa.func.min,
    "max": sa.func.max,
    "sum": sa.func.sum,
    "count": sa.func.count,
}
"""Aggregates computed by GROUP BY; ``first`` and ``last`` use :func:`bucket_edges`."""


def _window(
    channel_pk: int, org_id: str, start_ms: int | None, end_ms: int | None
) -> list[sa.ColumnElement[bool]]:
    where = [t.c.channel_pk == channel_pk, t.c.org_id == org_id]
    if start_ms is not None:
        where.append(t.c.ts >= start_ms)
    if end_ms is not None:
        where.append(t.c.ts < end_ms)
    return where


def _values(kind: DatabaseKind, paths: Sequence[Sequence[str]]) -> list[sa.ColumnElement[float]]:
    return [json_number(kind, t.c.payload, path) for path in paths]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


async def raw(
    conn: AsyncConnection,
    kind: DatabaseKind,
    channel_pk: int,
    *,
    org_id: str,
    paths: Sequence[Sequence[str]],
    start_ms: int | None,
    end_ms: int | None,
    limit: int,
) -> list[tuple[int, list[float | None]]]:
    """``(ts, [value per path])`` for each message with at least one number, oldest first."""
    values = _values(kind, paths)
    stmt = (
        sa.select(t.c.ts, *values)
        .where(*_window(channel_pk, org_id, start_ms, end_ms))
        .where(sa.or_(*(v.is_not(None) for v in values)))
        .order_by(t.c.ts, t.c.seq)
        .limit(limit)
    )
    rows = (await conn.execute(stmt)).all()
    return [(row[0], [_float(v) for v in row[1:]]) for row in rows]


def _bucket(interval_ms: int) -> sa.ColumnElement[int]:
    # Integer division: buckets aligned to multiples of the interval since the epoch.
    width = sa.literal(interval_ms, sa.BigInteger)
    return (t.c.ts // width) * width


async def buckets(
    conn: AsyncConnection,
    kind: DatabaseKind,
    channel_pk: int,
    *,
    org_id: str,
    paths: Sequence[Sequence[str]],
    aggregates: Sequence[str],
    interval_ms: int,
    start_ms: int | None,
    end_ms: int | None,
    limit: int,
) -> list[tuple[int, list[list[float | None]]]]:
    """``(bucket_start, [[value per aggregate] per path])`` for buckets with data.

    Only the SQL aggregates (:data:`SQL_AGGREGATES`) are computed here.
    """
    values = _values(kind, paths)
    bucket = _bucket(interval_ms).label("bucket")
    columns = [SQL_AGGREGATES[a](v) for v in values for a in aggregates]
    stmt = (
        sa.select(bucket, *columns)
        .where(*_window(channel_pk, org_id, start_ms, end_ms))
        .where(sa.or_(*(v.is_not(None) for v in values)))
        .group_by(bucket)
        .order_by(bucket)
        .limit(limit)
    )
    result: list[tuple[int, list[list[float | None]]]] = []
    width = len(aggregates)
    for row in (await conn.execute(stmt)).all():
        flat = [_float(v) for v in row[1:]]
        result.append((int(row[0]), [flat[i * width : (i + 1) * width] for i in range(len(paths))]))
    return result


async def bucket_edges(
    conn: AsyncConnection,
    kind: DatabaseKind,
    channel_pk: int,
    *,
    org_id: str,
    path: Sequence[str],
    interval_ms: int,
    start_ms: int | None,
    end_ms: int | None,
    last: bool,
    limit: int,
) -> dict[int, float]:
    """The first (or last) number of ``path`` in each bucket, by ``(ts, seq)``."""
    value = json_number(kind, t.c.payload, path)
    bucket = _bucket(interval_ms)
    order = (t.c.ts.desc(), t.c.seq.desc()) if last else (t.c.ts, t.c.seq)
    ranked = (
        sa.select(
            bucket.label("bucket"),
            value.label("value"),
            sa.func.row_number().over(partition_by=bucket, order_by=order).label("rn"),
        )
        .where(*_window(channel_pk, org_id, start_ms, end_ms))
        .where(value.is_not(None))
        .subquery()
    )
    stmt = (
        sa.select(ranked.c.bucket, ranked.c.value)
        .where(ranked.c.rn == 1)
        .order_by(ranked.c.bucket)
        .limit(limit)
    )
    return {int(b): float(v) for b, v in (await conn.execute(stmt)).all()}
