"""``/v1/devices``: the devices behind gateway agents, their states, and setup imports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from fleetyard.protocol.common import Page
from fleetyard.protocol.devices import (
    DEVICE_URL_MAX_LENGTH,
    Device,
    DeviceImport,
    DeviceImportResult,
    DeviceState,
    DeviceStatesUpdate,
    DeviceUpdate,
)
from fleetyard.server.api.deps import DB, State
from fleetyard.server.api.pagination import Pagination, to_page
from fleetyard.server.api.routes._shared import SCOPED, SCOPED_ONE, ResourceId, problems
from fleetyard.server.api.routes._telemetry import (
    OptionalId,
    StorableBody,
    TelemetryAdmin,
    TelemetryRead,
    TelemetryWrite,
)
from fleetyard.server.services.devices import devices, importer

router = APIRouter(prefix="/v1/devices", tags=["devices"])

StateFilter = Annotated[
    str | None,
    Query(
        pattern=r"^[^=\s][^=]{0,199}=[^\x00-\x1f\x7f]{0,200}$",
        description="`NAME=VALUE`: devices whose state NAME has that value"
        " (`core:OpenClosedState=open`, `core:ClosureState=0`, `core:MovingState=false`).",
    ),
]


@router.get(
    "",
    response_model=Page[Device],
    summary="List devices",
    responses=problems(400, *SCOPED),
)
async def list_devices(
    principal: TelemetryRead,
    database: DB,
    page: Pagination,
    gateway_id: OptionalId = None,
    site_id: OptionalId = None,
    protocol: Annotated[
        str | None,
        Query(
            pattern=r"^[A-Za-z][A-Za-z0-9+\-.]{0,31}$",
            description="The device URL's scheme: `io`, `rts`, `zigbee`…",
        ),
    ] = None,
    ui_class: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    device_url: Annotated[str | None, Query(min_length=1, max_length=DEVICE_URL_MAX_LENGTH)] = None,
    state: StateFilter = None,
) -> Page[Device]:
    """The devices the caller may read (``read`` on their site or gateway agent), by id."""
    result = await devices.list_devices(
        database,
        principal,
        page,
        gateway_id=gateway_id,
        site_id=site_id,
        protocol=protocol,
        ui_class=ui_class,
        device_url=device_url,
        state=None if state is None else devices.parse_state_filter(state),
    )
    return to_page(result)


# Declared before /{device_id} routes (routing tries them in order).
@router.post(
    "/import",
    status_code=201,
    response_model=DeviceImportResult,
    summary="Import a gateway setup",
    responses=problems(*SCOPED_ONE),
)
async def import_setup(
    principal: TelemetryAdmin, _storable: StorableBody, database: DB, body: DeviceImport
) -> DeviceImportResult:
    """Create or update the devices of a gateway setup document behind ``gateway_id``.

    Needs ``admin`` on the gateway agent or its site. Malformed devices are
    listed in ``skipped`` (index and reason), the rest is imported in one
    transaction; a setup without a ``devices`` list is 422 ``setup_invalid``.
    """
    return await importer.import_setup(database, principal, body)


@router.get(
    "/{device_id}",
    response_model=Device,
    summary="Get a device",
    responses=problems(*SCOPED_ONE),
)
async def get_device(device_id: ResourceId, principal: TelemetryRead, database: DB) -> Device:
    """One device. ``read`` on its site or gateway; otherwise 404 ``no_such_device``."""
    return await devices.get_device(database, principal, device_id)


@router.patch(
    "/{device_id}",
    response_model=Device,
    summary="Relabel a device",
    responses=problems(*SCOPED_ONE),
)
async def update_device(
    device_id: ResourceId,
    principal: TelemetryWrite,
    _storable: StorableBody,
    database: DB,
    body: DeviceUpdate,
) -> Device:
    """Change the device's label. ``write`` on its site or gateway."""
    return await devices.update_device(database, principal, device_id, body)


@router.get(
    "/{device_id}/states",
    response_model=list[DeviceState],
    summary="Get a device's states",
    responses=problems(*SCOPED_ONE),
)
async def get_states(
    device_id: ResourceId, principal: TelemetryRead, database: DB
) -> list[DeviceState]:
    """The device's current states, typed values as the gateway reported them."""
    return await devices.get_states(database, principal, device_id)


@router.post(
    "/{device_id}/states",
    response_model=Device,
    summary="Report a device's states",
    responses=problems(*SCOPED_ONE),
)
async def report_states(
    device_id: ResourceId,
    principal: TelemetryWrite,
    _storable: StorableBody,
    state: State,
    body: DeviceStatesUpdate,
) -> Device:
    """States a gateway reports over HTTP, merged by name (``write``).

    States whose value changed are announced as one ``device.state_changed`` event.
    """
    return await devices.report_states(state.database, state.bus, principal, device_id, body)
