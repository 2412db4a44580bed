"""Reading a channel: its message log (pages, windows, one message) and timeseries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from fleetyard.protocol.common import Deleted, Page
from fleetyard.protocol.telemetry import (
    TIMESERIES_MAX_FIELDS,
    Message,
    MessageUpdate,
    Timeseries,
    TimeseriesAggregate,
    TimeseriesQuery,
)
from fleetyard.server.api.deps import DB, State
from fleetyard.server.api.routes._shared import SCOPED_ONE, ResourceId, problems
from fleetyard.server.api.routes._telemetry import (
    Seq,
    StorableBody,
    TelemetryAdmin,
    TelemetryRead,
    TelemetryWrite,
)
from fleetyard.server.services.clock import to_ms
from fleetyard.server.services.telemetry import messages, timeseries
from fleetyard.server.services.telemetry.messages import MAX_LIMIT

router = APIRouter(prefix="/v1/channels/{channel_id}", tags=["messages"])

Instant = Annotated[
    datetime | None, Query(description="RFC 3339; the window is `start <= ts < end`.")
]


def _ms(value: datetime | None) -> int | None:
    return None if value is None else to_ms(value)


@router.get(
    "/messages",
    response_model=Page[Message],
    summary="List a channel's messages",
    responses=problems(400, *SCOPED_ONE),
)
async def list_messages(
    channel_id: ResourceId,
    principal: TelemetryRead,
    database: DB,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most this many.")] = 100,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page.")
    ] = None,
    start: Instant = None,
    end: Instant = None,
    order: Annotated[
        Literal["desc", "asc"], Query(description="`desc`: newest first (the default).")
    ] = "desc",
) -> Page[Message]:
    """The log, newest first (``order=asc``: oldest first), ``limit`` per page.

    Without a window, pages follow ``seq`` (arrival order); with ``start``
    and/or ``end`` they follow message time (``ts``), window ``start <= ts <
    end``. Pass ``next_cursor`` back with the same window and order. Scope
    ``read``.
    """
    result = await messages.list_messages(
        database,
        principal,
        channel_id,
        limit=limit,
        cursor=cursor,
        start_ms=_ms(start),
        end_ms=_ms(end),
        newest_first=order == "desc",
    )
    return Page[Message](items=result.items, next_cursor=result.next_after)


@router.get(
    "/messages/{seq}",
    response_model=Message,
    summary="Get a message",
    responses=problems(*SCOPED_ONE),
)
async def get_message(
    channel_id: ResourceId, seq: Seq, principal: TelemetryRead, database: DB
) -> Message:
    """One logged message by its seq. Scope ``read``."""
    return await messages.get_message(database, principal, channel_id, seq)


@router.patch(
    "/messages/{seq}",
    response_model=Message,
    summary="Update a message",
    responses=problems(*SCOPED_ONE),
)
async def update_message(
    channel_id: ResourceId,
    seq: Seq,
    principal: TelemetryWrite,
    _storable: StorableBody,
    state: State,
    body: MessageUpdate,
) -> Message:
    """Replace a logged message's payload (the channel's JSON Schema applies: 422
    ``payload_invalid``). The aggregate is not recomputed. Scope ``write``."""
    return await messages.update_message(state.ingest, principal, channel_id, seq, body.payload)


@router.delete(
    "/messages/{seq}",
    response_model=Deleted,
    summary="Delete a message",
    responses=problems(*SCOPED_ONE),
)
async def delete_message(
    channel_id: ResourceId, seq: Seq, principal: TelemetryAdmin, state: State
) -> Deleted:
    """Delete one logged message; its seq is never reused. Scope ``admin``."""
    await messages.delete_message(state.ingest, principal, channel_id, seq)
    return Deleted(id=str(seq))


_QUERY_NAMES = {"fields": "field", "aggregates": "agg"}


@router.get(
    "/timeseries",
    response_model=Timeseries,
    summary="Timeseries of JSON fields",
    responses=problems(*SCOPED_ONE),
)
async def get_timeseries(
    channel_id: ResourceId,
    principal: TelemetryRead,
    database: DB,
    field: Annotated[
        list[str],
        Query(
            min_length=1,
            max_length=TIMESERIES_MAX_FIELDS,
            description="A dotted JSON path (`temperature`, `battery.level`); repeatable.",
        ),
    ],
    start: Instant = None,
    end: Instant = None,
    interval: Annotated[
        str | None, Query(max_length=20, description="Bucket size: `30s`, `5m`, `1h`, `1d`…")
    ] = None,
    agg: Annotated[
        list[TimeseriesAggregate] | None,
        Query(max_length=7, description="Per bucket (default `avg`); repeatable."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100_000, description="Points or buckets.")] = 10_000,
) -> Timeseries:
    """Numbers at JSON paths over ``start <= ts < end``: one point per message (raw), or
    per ``interval`` bucket (aligned to the epoch, empty buckets left out) with the
    ``agg`` functions. Booleans count as 1/0; other non-numbers are skipped. Scope ``read``."""
    try:
        query = TimeseriesQuery(
            fields=field,
            start=start,
            end=end,
            interval=interval,
            aggregates=agg or [TimeseriesAggregate.AVG],
            limit=limit,
        )
    except ValidationError as exc:
        raise RequestValidationError(
            [
                {
                    "type": e["type"],
                    "loc": ("query", _QUERY_NAMES.get(str(e["loc"][0]), e["loc"][0]), *e["loc"][1:])
                    if e["loc"]
                    else ("query",),
                    "msg": e["msg"],
                }
                for e in exc.errors(include_url=False, include_context=False)
            ]
        ) from None
    return await timeseries.timeseries(database, principal, channel_id, query)
