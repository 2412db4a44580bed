"""``/v1/agents/{agent_id}/commands``: machine commands for one agent (ping, reboot, shell…)."""

from __future__ import annotations

from fastapi import APIRouter

from fleetyard.protocol.common import Page
from fleetyard.protocol.executions import AgentCommand, AgentCommandCreate
from fleetyard.server.api.deps import State
from fleetyard.server.api.pagination import Pagination, to_page
from fleetyard.server.api.routes._shared import SCOPED_ONE, ResourceId, problems
from fleetyard.server.api.routes._telemetry import StorableBody, TelemetryAdmin, TelemetryRead
from fleetyard.server.services import agent_commands

router = APIRouter(prefix="/v1/agents/{agent_id}/commands", tags=["agents"])


@router.post(
    "",
    status_code=201,
    response_model=AgentCommand,
    summary="Send a command to an agent",
    responses=problems(*SCOPED_ONE),
)
async def dispatch_command(
    agent_id: ResourceId,
    principal: TelemetryAdmin,
    _storable: StorableBody,
    state: State,
    body: AgentCommandCreate,
) -> AgentCommand:
    """Queue a machine command (``pending``); the agent's session delivers it (``sent``)
    now or when it next connects, and the agent's answer completes or fails it.

    Needs ``admin`` on the agent's site or ``agent:{agent_id}:admin``: commands
    such as ``reboot`` or ``shell`` act on the machine itself. An agent whose
    configuration does not enable the command fails it with
    ``command_not_enabled: <name>``; one that has not answered within
    ``timeout_seconds`` is failed with ``timeout``.
    """
    return await agent_commands.dispatch(state.database, state.bus, principal, agent_id, body)


@router.get(
    "",
    response_model=Page[AgentCommand],
    summary="List an agent's commands",
    responses=problems(400, *SCOPED_ONE),
)
async def list_commands(
    agent_id: ResourceId, principal: TelemetryRead, state: State, page: Pagination
) -> Page[AgentCommand]:
    """The agent's commands, newest first. Scope ``read`` on the agent or its site."""
    return to_page(await agent_commands.list_commands(state.database, principal, agent_id, page))


@router.get(
    "/{command_id}",
    response_model=AgentCommand,
    summary="Get an agent command",
    responses=problems(*SCOPED_ONE),
)
async def get_command(
    agent_id: ResourceId, command_id: ResourceId, principal: TelemetryRead, state: State
) -> AgentCommand:
    """One command with its state, result and error. Scope ``read`` on the agent or its site."""
    return await agent_commands.get_command(state.database, principal, agent_id, command_id)
