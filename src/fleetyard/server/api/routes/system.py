"""Health, readiness and system information. ``/healthz`` and ``/readyz`` need no token."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse

from fleetyard._version import __version__
from fleetyard.protocol import API_VERSION
from fleetyard.protocol.system import Health, SystemInfo
from fleetyard.server.api.deps import State

router = APIRouter(tags=["system"])


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    """The process is up and answering."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="Readiness",
    responses={503: {"model": Health, "description": "A dependency is down"}},
)
async def readyz(state: State) -> Health | JSONResponse:
    """Ready to serve: the database answers."""
    try:
        await state.database.ping()
    except Exception as exc:  # any failure to reach the database means not ready
        body = Health(status="unavailable", checks={"database": type(exc).__name__})
        return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "5"})
    return Health(status="ok", checks={"database": "ok"})


@router.get("/v1/system/info", response_model=SystemInfo, summary="System information")
async def system_info(state: State) -> SystemInfo:
    """Version, database kind and uptime. Open to any caller, like a server banner."""
    return SystemInfo(
        version=__version__,
        api_version=API_VERSION,
        database=state.database.kind.value,
        uptime_seconds=round(state.uptime_seconds, 3),
        dev_mode=state.settings.dev,
    )
