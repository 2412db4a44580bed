"""Rollouts: deploy a version of an app to its machines, follow and cancel it; the
agent's chunk links for a deployment."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from fleetyard.protocol.chunks import DownloadUrls, DownloadUrlsRequest
from fleetyard.protocol.common import Page
from fleetyard.protocol.rollouts import DeployRequest, Rollout
from fleetyard.server.api.auth import Authenticated
from fleetyard.server.api.deps import State
from fleetyard.server.api.pagination import Pagination, to_page
from fleetyard.server.api.routes._shared import SCOPED_ONE, ResourceId, problems
from fleetyard.server.api.routes._telemetry import TelemetryRead, TelemetryWrite
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.chunks.uploads import Chunks
from fleetyard.server.services.rollouts import rollouts
from fleetyard.server.services.rollouts._common import DEPLOY
from fleetyard.server.services.software import access

router = APIRouter(tags=["rollouts"])


def _somewhere(permission: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(principal: Authenticated) -> Principal:
        access.require_somewhere(principal, permission)
        return principal

    dependency.__name__ = f"require_rollouts_{permission}"
    return dependency


# 403 before any lookup for a credential that holds the permission on no site and no app.
RolloutRead = Annotated[Principal, Depends(_somewhere(access.READ))]
RolloutDeploy = Annotated[Principal, Depends(_somewhere(DEPLOY))]


@router.post(
    "/v1/apps/{app_id}/deploy",
    response_model=Rollout,
    status_code=201,
    summary="Deploy a version",
    responses={
        200: {"model": Rollout, "description": "A dry run: what would happen, nothing stored."},
        **problems(*SCOPED_ONE, 409),
    },
)
async def deploy(
    app_id: ResourceId,
    principal: RolloutDeploy,
    state: State,
    response: Response,
    body: DeployRequest | None = None,
) -> Rollout:
    """Start a rollout of a version (default `current`) to the app's targets (or a subset),
    in waves by `strategy`; `schedule_at` starts it later, `dry_run` stores nothing (200).

    Scope `deploy` on the app or its site (`admin` implies it, `write` does not). 404
    `version_not_found` for an unknown ref, 409 `conflict` (with `rollout_id`) while
    another rollout of the app is scheduled or running.
    """
    rollout, stored = await rollouts.deploy(
        state.database, state.bus, principal, app_id, body or DeployRequest()
    )
    if not stored:
        response.status_code = 200
    return rollout


@router.get(
    "/v1/apps/{app_id}/rollouts",
    response_model=Page[Rollout],
    summary="List an app's rollouts",
    responses=problems(400, *SCOPED_ONE),
)
async def list_app_rollouts(
    app_id: ResourceId, principal: RolloutRead, state: State, page: Pagination
) -> Page[Rollout]:
    """The app's rollouts, newest first. Scope `read` on the app or its site."""
    return to_page(await rollouts.list_for_app(state.database, principal, app_id, page))


@router.get(
    "/v1/agents/{agent_id}/rollouts",
    response_model=Page[Rollout],
    summary="List a machine's rollouts",
    responses=problems(400, *SCOPED_ONE),
)
async def list_agent_rollouts(
    agent_id: ResourceId, principal: TelemetryRead, state: State, page: Pagination
) -> Page[Rollout]:
    """Rollouts that include this machine, newest first, each showing only this machine's
    row (`counts` cover every machine). Scope `read` on the agent or its site."""
    return to_page(await rollouts.list_for_agent(state.database, principal, agent_id, page))


@router.get(
    "/v1/rollouts/{rollout_id}",
    response_model=Rollout,
    summary="Get a rollout",
    responses=problems(*SCOPED_ONE),
)
async def get_rollout(rollout_id: ResourceId, principal: RolloutRead, state: State) -> Rollout:
    """One rollout with every machine. Scope `read` on its app or the app's site."""
    return await rollouts.get_rollout(state.database, principal, rollout_id)


@router.post(
    "/v1/rollouts/{rollout_id}/cancel",
    response_model=Rollout,
    summary="Cancel a rollout",
    responses=problems(*SCOPED_ONE, 409),
)
async def cancel_rollout(rollout_id: ResourceId, principal: RolloutDeploy, state: State) -> Rollout:
    """Cancel a scheduled or running rollout: unfinished machines become `cancelled` (their
    agents get `deploy.cancel`). Scope `deploy`; 409 `rollout_finished` once it ended."""
    return await rollouts.cancel(state.database, state.bus, principal, rollout_id)


@router.post(
    "/v1/agents/{agent_id}/deployments/{rollout_id}/download-urls",
    response_model=DownloadUrls,
    summary="Chunk links for a deployment",
    responses=problems(*SCOPED_ONE),
)
async def deployment_download_urls(
    agent_id: ResourceId,
    rollout_id: ResourceId,
    body: DownloadUrlsRequest,
    principal: TelemetryWrite,
    state: State,
    request: Request,
) -> DownloadUrls:
    """Signed download links (15 minutes) for chunks of the rollout's version, asked by a
    machine of the rollout with its own credential (`agent:<id>:write`). 422
    `chunk_missing` for hashes the version does not use."""
    ctx = Chunks(database=state.database, blobs=state.blobs, settings=state.settings)
    return await rollouts.download_urls(
        ctx, principal, agent_id, rollout_id, body, base_url=str(request.base_url)
    )
