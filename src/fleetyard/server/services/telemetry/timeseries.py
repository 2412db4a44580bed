"""Timeseries: numbers at JSON field paths of a channel's messages, raw or bucketed.

Windows are ``start <= ts < end``; buckets are aligned to multiples of the
interval since the epoch (UTC) and only buckets with data are returned. The
number extraction (numbers as numbers, booleans as 1/0, anything else
skipped) is in the storage dialect module.
"""

from __future__ import annotations

from fleetyard.protocol.telemetry import (
    Timeseries,
    TimeseriesAggregate,
    TimeseriesQuery,
    TimeseriesSeries,
    format_interval,
    parse_field_path,
    parse_interval,
)
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import optional_datetime, to_datetime, to_ms
from fleetyard.server.services.errors import Unprocessable
from fleetyard.server.services.telemetry import access
from fleetyard.server.services.telemetry.channels import Target, load_channel
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories.telemetry import timeseries as repo

_EDGES = (TimeseriesAggregate.FIRST, TimeseriesAggregate.LAST)


async def timeseries(
    database: Database, principal: Principal, target: Target, query: TimeseriesQuery
) -> Timeseries:
    """Answer a :class:`TimeseriesQuery` (``read`` on the channel).

    Raw: at most ``limit`` points. Bucketed: at most ``limit`` buckets, and a
    closed window may not span more than ``limit`` buckets (422 otherwise).
    """
    try:
        paths = [parse_field_path(f) for f in query.fields]
        interval_ms = None if query.interval is None else parse_interval(query.interval)
    except ValueError as exc:
        raise Unprocessable(str(exc)) from exc
    start_ms = None if query.start is None else to_ms(query.start)
    end_ms = None if query.end is None else to_ms(query.end)
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise Unprocessable("end must be after start")
    if (
        interval_ms is not None
        and start_ms is not None
        and end_ms is not None
        and (end_ms - start_ms) // interval_ms > query.limit
    ):
        raise Unprocessable(f"more than {query.limit} buckets: widen the interval")
    kind = database.kind
    async with database.connect() as conn:
        channel = await load_channel(conn, principal, target, access.READ)
        org_id = principal.org_id
        if interval_ms is None:
            points = await repo.raw(
                conn,
                kind,
                channel.pk,
                org_id=org_id,
                paths=paths,
                start_ms=start_ms,
                end_ms=end_ms,
                limit=query.limit,
            )
            series = [
                TimeseriesSeries(field=field, values=[values[i] for _, values in points])
                for i, field in enumerate(query.fields)
            ]
            timestamps = [to_datetime(ts) for ts, _ in points]
        else:
            sql_aggs = [a.value for a in query.aggregates if a not in _EDGES]
            buckets = await repo.buckets(
                conn,
                kind,
                channel.pk,
                org_id=org_id,
                paths=paths,
                # count keeps buckets visible when only first/last were asked for.
                aggregates=sql_aggs or ["count"],
                interval_ms=interval_ms,
                start_ms=start_ms,
                end_ms=end_ms,
                limit=query.limit,
            )
            starts = [start for start, _ in buckets]
            series = []
            for i, field in enumerate(query.fields):
                for aggregate in query.aggregates:
                    if aggregate in _EDGES:
                        edges = await repo.bucket_edges(
                            conn,
                            kind,
                            channel.pk,
                            org_id=org_id,
                            path=paths[i],
                            interval_ms=interval_ms,
                            start_ms=start_ms,
                            end_ms=end_ms,
                            last=aggregate is TimeseriesAggregate.LAST,
                            limit=query.limit,
                        )
                        values = [edges.get(start) for start in starts]
                    else:
                        column = sql_aggs.index(aggregate.value)
                        values = [per_field[i][column] for _, per_field in buckets]
                    series.append(TimeseriesSeries(field=field, aggregate=aggregate, values=values))
            timestamps = [to_datetime(start) for start in starts]
    return Timeseries(
        channel_id=channel.id,
        start=optional_datetime(start_ms),
        end=optional_datetime(end_ms),
        interval=None if interval_ms is None else format_interval(interval_ms),
        timestamps=timestamps,
        series=series,
    )
