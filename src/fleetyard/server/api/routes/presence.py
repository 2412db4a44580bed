"""``POST /v1/agents/{agent_id}/heartbeat``: an agent says it is alive."""

from __future__ import annotations

from fastapi import APIRouter

from fleetyard.protocol.telemetry import Agent
from fleetyard.server.api.deps import State
from fleetyard.server.api.routes._shared import SCOPED_ONE, ResourceId, problems
from fleetyard.server.api.routes._telemetry import TelemetryWrite
from fleetyard.server.services.telemetry import presence

router = APIRouter(prefix="/v1/agents", tags=["agents"])


@router.post(
    "/{agent_id}/heartbeat",
    response_model=Agent,
    summary="Record an agent heartbeat",
    responses=problems(*SCOPED_ONE),
)
async def heartbeat(agent_id: ResourceId, principal: TelemetryWrite, state: State) -> Agent:
    """Mark the agent online and bump `last_seen`; `agent.online` is streamed when it was offline.

    Without a heartbeat for `presence_timeout_seconds` (30 s by default) the
    agent is marked offline and `agent.offline` is streamed. Needs
    `agent:{agent_id}:write` or `site:<its site>:write`.
    """
    return await presence.heartbeat(state.database, state.bus, principal, agent_id)
