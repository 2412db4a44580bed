"""``/v1/action-groups`` (scenes: stored action groups) and ``/v1/schedules``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from fleetyard.protocol.common import Deleted, Page
from fleetyard.protocol.executions import (
    ExecutionStarted,
    Scene,
    SceneCreate,
    SceneExecute,
    SceneUpdate,
    Schedule,
    ScheduleCreate,
    ScheduleState,
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
from fleetyard.server.api.routes.executions import QUEUE_FULL
from fleetyard.server.services.executions import scenes, schedules

router = APIRouter(prefix="/v1/action-groups", tags=["action groups"])
schedules_router = APIRouter(prefix="/v1/schedules", tags=["action groups"])


@router.post(
    "",
    status_code=201,
    response_model=Scene,
    summary="Store an action group (a scene)",
    responses=problems(400, *SCOPED_ONE),
)
async def create_scene(
    principal: TelemetryWrite, _storable: StorableBody, state: State, body: SceneCreate
) -> Scene:
    """Checked like an execution (same error codes); it belongs to its devices' gateway.

    Scope `write` on that gateway's site or agent.
    """
    return await scenes.create_scene(state.database, principal, body)


@router.get(
    "",
    response_model=Page[Scene],
    summary="List scenes",
    responses=problems(400, *SCOPED),
)
async def list_scenes(
    principal: TelemetryRead,
    state: State,
    page: Pagination,
    gateway_id: OptionalId = None,
    site_id: OptionalId = None,
) -> Page[Scene]:
    """The scenes the caller may read, by id."""
    result = await scenes.list_scenes(
        state.database, principal, page, gateway_id=gateway_id, site_id=site_id
    )
    return to_page(result)


@router.get(
    "/{scene_id}", response_model=Scene, summary="Get a scene", responses=problems(*SCOPED_ONE)
)
async def get_scene(scene_id: ResourceId, principal: TelemetryRead, state: State) -> Scene:
    return await scenes.get_scene(state.database, principal, scene_id)


@router.patch(
    "/{scene_id}",
    response_model=Scene,
    summary="Update a scene",
    responses=problems(400, *SCOPED_ONE),
)
async def update_scene(
    scene_id: ResourceId,
    principal: TelemetryWrite,
    _storable: StorableBody,
    state: State,
    body: SceneUpdate,
) -> Scene:
    """Change label, mode or actions (checked again, on the scene's gateway). Scope `write`."""
    return await scenes.update_scene(state.database, principal, scene_id, body)


@router.delete(
    "/{scene_id}",
    response_model=Deleted,
    summary="Delete a scene",
    responses=problems(*SCOPED_ONE),
)
async def delete_scene(scene_id: ResourceId, principal: TelemetryWrite, state: State) -> Deleted:
    """Delete a scene and its schedules (pending ones never fire). Scope `write`."""
    await scenes.delete_scene(state.database, principal, scene_id)
    return Deleted(id=scene_id)


@router.post(
    "/{scene_id}/execute",
    status_code=201,
    response_model=ExecutionStarted,
    summary="Execute a scene",
    responses={**problems(400, *SCOPED_ONE), **QUEUE_FULL},
)
async def execute_scene(
    scene_id: ResourceId,
    principal: TelemetryWrite,
    _storable: StorableBody,
    state: State,
    body: Annotated[SceneExecute | None, Body()] = None,
) -> ExecutionStarted:
    """Run the scene now, as ``POST /v1/executions`` would. The body may be omitted."""
    return await scenes.execute_scene(
        state.database,
        state.bus,
        principal,
        scene_id,
        body or SceneExecute(),
        limit=state.settings.execution_limit_per_gateway,
    )


@router.post(
    "/{scene_id}/schedules",
    status_code=201,
    response_model=Schedule,
    summary="Schedule a scene",
    responses=problems(*SCOPED_ONE),
)
async def schedule_scene(
    scene_id: ResourceId,
    principal: TelemetryWrite,
    _storable: StorableBody,
    state: State,
    body: ScheduleCreate,
) -> Schedule:
    """Run the scene once at `at` (a past instant: at once). Survives server restarts."""
    return await schedules.schedule_scene(state.database, principal, scene_id, body)


@schedules_router.get(
    "",
    response_model=Page[Schedule],
    summary="List schedules",
    responses=problems(400, *SCOPED),
)
async def list_schedules(
    principal: TelemetryRead,
    state: State,
    page: Pagination,
    scene_id: OptionalId = None,
    schedule_state: Annotated[ScheduleState | None, Query(alias="state")] = None,
) -> Page[Schedule]:
    result = await schedules.list_schedules(
        state.database, principal, page, scene_id=scene_id, state=schedule_state
    )
    return to_page(result)


@schedules_router.get(
    "/{schedule_id}",
    response_model=Schedule,
    summary="Get a schedule",
    responses=problems(*SCOPED_ONE),
)
async def get_schedule(schedule_id: ResourceId, principal: TelemetryRead, state: State) -> Schedule:
    return await schedules.get_schedule(state.database, principal, schedule_id)


@schedules_router.post(
    "/{schedule_id}/cancel",
    response_model=Schedule,
    summary="Cancel a schedule",
    responses=problems(*SCOPED_ONE, 409),
)
async def cancel_schedule(
    schedule_id: ResourceId, principal: TelemetryWrite, state: State
) -> Schedule:
    """Cancel a pending schedule (409 `conflict` once it fired or failed). Scope `write`."""
    return await schedules.cancel_schedule(state.database, principal, schedule_id)
