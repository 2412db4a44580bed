"""``/v1/event-listeners``: pollable device and execution events (long-poll)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from fleetyard.protocol.common import Deleted
from fleetyard.protocol.devices import EventBatch, EventListener, EventListenerCreate
from fleetyard.server.api.deps import DB, State
from fleetyard.server.api.routes._shared import SCOPED, SCOPED_ONE, ResourceId, problems
from fleetyard.server.api.routes._telemetry import StorableBody, TelemetryRead
from fleetyard.server.services.devices import listeners

router = APIRouter(prefix="/v1/event-listeners", tags=["events"])


@router.post(
    "",
    status_code=201,
    response_model=EventListener,
    summary="Register an event listener",
    responses=problems(*SCOPED, 404),
)
async def register(
    principal: TelemetryRead,
    _storable: StorableBody,
    state: State,
    body: Annotated[EventListenerCreate | None, Body()] = None,
) -> EventListener:
    """A listener that sees the events after now (of one site with ``site_id``).

    It expires when not fetched for ``event_listener_ttl_seconds`` (``expires_at``).
    The body may be omitted.
    """
    settings = state.settings
    return await listeners.register(
        state.database,
        principal,
        body or EventListenerCreate(),
        ttl_seconds=settings.event_listener_ttl_seconds,
        retention_seconds=settings.device_event_retention_seconds,
    )


@router.post(
    "/{listener_id}/fetch",
    response_model=EventBatch,
    summary="Fetch events (long-poll)",
    responses=problems(*SCOPED_ONE),
)
async def fetch(
    listener_id: ResourceId,
    principal: TelemetryRead,
    state: State,
    wait: Annotated[
        float,
        Query(
            alias="timeout",
            ge=0,
            le=60,
            description="Seconds to wait for an event when there is none yet (0 to 60).",
        ),
    ] = 30,
) -> EventBatch:
    """The events since the last fetch that the caller may read, oldest first (≤ 1000).

    Waits up to ``timeout`` seconds when there are none. An unknown or
    expired listener is 404 ``invalid_event_listener``: register a new one.
    """
    return await listeners.fetch(
        state.database,
        state.bus,
        principal,
        listener_id,
        wait_seconds=wait,
        ttl_seconds=state.settings.event_listener_ttl_seconds,
    )


@router.delete(
    "/{listener_id}",
    response_model=Deleted,
    summary="Unregister an event listener",
    responses=problems(*SCOPED_ONE),
)
async def unregister(listener_id: ResourceId, principal: TelemetryRead, database: DB) -> Deleted:
    """Delete the listener (404 ``invalid_event_listener`` when there is none)."""
    await listeners.unregister(database, principal, listener_id)
    return Deleted(id=listener_id)
