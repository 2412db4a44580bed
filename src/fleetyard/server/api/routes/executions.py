"""``/v1/executions``: run action groups on gateways, follow and cancel them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from fleetyard.protocol.common import Page
from fleetyard.protocol.errors import PROBLEM_CONTENT_TYPE, Problem
from fleetyard.protocol.executions import (
    Execution,
    ExecutionCreate,
    ExecutionStarted,
    ExecutionState,
)
from fleetyard.server.api.deps import State
from fleetyard.server.api.pagination import Pagination, to_page
from fleetyard.server.api.routes._shared import SCOPED, SCOPED_ONE, ResourceId, problems
from fleetyard.server.api.routes._telemetry import (
    OptionalId,
    StorableBody,
    TelemetryRead,
    TelemetryWrite,
)
from fleetyard.server.services.executions import lifecycle

router = APIRouter(prefix="/v1/executions", tags=["executions"])

QUEUE_FULL: dict[int | str, dict[str, Any]] = {
    429: {
        "model": Problem,
        "description": "The gateway runs as many executions as it may (`exec_queue_full`);"
        " see `Retry-After`, or send `queue: true`.",
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
}
"""The 429 answer of the routes that start executions."""

Instant = Annotated[datetime | None, Query(description="RFC 3339; `start <= created_at < end`.")]


@router.post(
    "",
    status_code=201,
    response_model=ExecutionStarted,
    summary="Execute an action group",
    responses={**problems(400, *SCOPED_ONE), **QUEUE_FULL},
)
async def execute(
    principal: TelemetryWrite, _storable: StorableBody, state: State, body: ExecutionCreate
) -> ExecutionStarted:
    """Validate the actions against the devices' definitions and start the execution.

    Failures, all before anything is stored: 404 `no_such_device`, 422
    `device_ambiguous` (with `candidates`; send `gateway_id`), 422
    `mixed_gateways`, 400 `duplicate_action_on_device`, 422 `no_such_command`,
    422 `invalid_parameters`, each with `errors[].loc`. A gateway already
    running its limit of executions answers 429 `exec_queue_full` unless
    `queue` is true (the execution then starts `queued`). Scope `write` on the
    gateway's site or on the gateway agent.
    """
    return await lifecycle.execute(
        state.database,
        state.bus,
        principal,
        body,
        limit=state.settings.execution_limit_per_gateway,
    )


@router.get(
    "/current",
    response_model=Page[Execution],
    summary="List unfinished executions",
    responses=problems(400, *SCOPED),
)
async def list_current(
    principal: TelemetryRead, state: State, page: Pagination, gateway_id: OptionalId = None
) -> Page[Execution]:
    """Executions not finished yet (queued included), oldest first."""
    result = await lifecycle.list_current(state.database, principal, page, gateway_id=gateway_id)
    return to_page(result)


@router.get(
    "",
    response_model=Page[Execution],
    summary="Execution history",
    responses=problems(400, *SCOPED),
)
async def list_history(
    principal: TelemetryRead,
    state: State,
    page: Pagination,
    gateway_id: OptionalId = None,
    device_url: Annotated[str | None, Query(min_length=1, max_length=400)] = None,
    execution_state: Annotated[ExecutionState | None, Query(alias="state")] = None,
    start: Instant = None,
    end: Instant = None,
) -> Page[Execution]:
    """Executions newest first, narrowed by gateway, a device URL, state and creation time."""
    result = await lifecycle.list_history(
        state.database,
        principal,
        page,
        gateway_id=gateway_id,
        device_url=device_url,
        state=execution_state,
        start=start,
        end=end,
    )
    return to_page(result)


@router.get(
    "/{execution_id}",
    response_model=Execution,
    summary="Get an execution",
    responses=problems(*SCOPED_ONE),
)
async def get_execution(
    execution_id: ResourceId, principal: TelemetryRead, state: State
) -> Execution:
    """One execution with per-command progress and its state history."""
    return await lifecycle.get_execution(state.database, principal, execution_id)


@router.post(
    "/{execution_id}/cancel",
    response_model=Execution,
    summary="Cancel an execution",
    responses=problems(*SCOPED_ONE, 409),
)
async def cancel_execution(
    execution_id: ResourceId, principal: TelemetryWrite, state: State
) -> Execution:
    """Cancel at once (`cancelled`, its slot freed); the gateway is told to stop.

    409 `execution_finished` when it already finished. Scope `write`.
    """
    return await lifecycle.cancel(
        state.database,
        state.bus,
        principal,
        execution_id,
        limit=state.settings.execution_limit_per_gateway,
    )
