"""``/v1/agents``: the machines, devices, gateways and services that publish telemetry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query
from pydantic import Field

from fleetyard.protocol.common import Deleted, Page
from fleetyard.protocol.identity import ApiKeyCreated
from fleetyard.protocol.telemetry import (
    Agent,
    AgentCreate,
    AgentKind,
    AgentTokenCreate,
    AgentUpdate,
)
from fleetyard.server.api.deps import DB, State
from fleetyard.server.api.pagination import Pagination, to_page
from fleetyard.server.api.routes._shared import SCOPED, SCOPED_ONE, ResourceId, problems
from fleetyard.server.api.routes._telemetry import (
    OptionalId,
    StorableBody,
    TelemetryAdmin,
    TelemetryRead,
)
from fleetyard.server.services.telemetry import agents

router = APIRouter(prefix="/v1/agents", tags=["agents"])

LabelFilter = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,62}(=[^\x00-\x1f\x7f]{0,200})?$",
    ),
]


@router.get(
    "",
    response_model=Page[Agent],
    summary="List agents",
    responses=problems(400, *SCOPED),
)
async def list_agents(
    principal: TelemetryRead,
    database: DB,
    page: Pagination,
    site_id: OptionalId = None,
    kind: AgentKind | None = None,
    label: Annotated[
        list[LabelFilter] | None,
        Query(
            max_length=16,
            description="`key=value` (that value) or `key` (has the label); repeat to AND them.",
        ),
    ] = None,
    online: bool | None = None,
) -> Page[Agent]:
    """The agents the caller may read (``site:<id>:read`` or ``agent:<id>:read``), by id."""
    result = await agents.list_agents(
        database,
        principal,
        page,
        site_id=site_id,
        kind=kind,
        labels=agents.parse_label_filters(label or []),
        online=online,
    )
    return to_page(result)


@router.post(
    "",
    status_code=201,
    response_model=Agent,
    summary="Create an agent",
    responses=problems(*SCOPED_ONE, 409),
)
async def create_agent(
    principal: TelemetryAdmin, _storable: StorableBody, database: DB, body: AgentCreate
) -> Agent:
    """A new agent in a site (a name already used in the organisation: 409 ``already_exists``).

    Scope ``site:{site_id}:admin``; an unknown site is 404.
    """
    return await agents.create_agent(database, principal, body)


@router.get(
    "/{agent_id}", response_model=Agent, summary="Get an agent", responses=problems(*SCOPED_ONE)
)
async def get_agent(agent_id: ResourceId, principal: TelemetryRead, database: DB) -> Agent:
    """One agent. Scope ``site:<its site>:read`` or ``agent:{agent_id}:read``."""
    return await agents.get_agent(database, principal, agent_id)


@router.patch(
    "/{agent_id}",
    response_model=Agent,
    summary="Update an agent",
    responses=problems(*SCOPED_ONE, 409),
)
async def update_agent(
    agent_id: ResourceId,
    principal: TelemetryAdmin,
    _storable: StorableBody,
    database: DB,
    body: AgentUpdate,
) -> Agent:
    """Change the given fields; ``labels`` and ``metadata`` are replaced whole.

    Scope ``admin`` on the agent's site (and on the new site when ``site_id`` moves it).
    """
    return await agents.update_agent(database, principal, agent_id, body)


@router.delete(
    "/{agent_id}",
    response_model=Deleted,
    summary="Delete an agent",
    responses=problems(*SCOPED_ONE),
)
async def delete_agent(agent_id: ResourceId, principal: TelemetryAdmin, state: State) -> Deleted:
    """Delete an agent with its channels and their whole history. Scope ``admin``."""
    await agents.delete_agent(state.ingest, principal, agent_id)
    return Deleted(id=agent_id)


@router.post(
    "/{agent_id}/token",
    status_code=201,
    response_model=ApiKeyCreated,
    summary="Issue a per-agent credential",
    responses=problems(*SCOPED_ONE),
)
async def issue_agent_token(
    agent_id: ResourceId,
    principal: TelemetryAdmin,
    _storable: StorableBody,
    database: DB,
    body: Annotated[AgentTokenCreate | None, Body()] = None,
) -> ApiKeyCreated:
    """An API key for the device itself; ``secret`` is shown this once.

    Its scopes are exactly ``["agent:{agent_id}:write"]``: it publishes to,
    creates and reads that agent's channels and nothing else. Needs
    ``site:<its site>:admin`` or ``agent:{agent_id}:admin`` (no ``key:`` scope:
    the right to equip a device comes from administering it). The key belongs
    to the organisation, not to the issuing user, so it keeps working when
    that user leaves; it is listed and revoked with the other keys under
    ``/v1/account/api-keys`` (``key:*:admin``). The body may be omitted.
    """
    return await agents.issue_token(database, principal, agent_id, body or AgentTokenCreate())
