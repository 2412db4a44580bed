"""Which agent a session credential speaks for."""

from __future__ import annotations

from fleetyard.protocol.errors import ErrorCode
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.errors import BadRequest
from fleetyard.server.services.telemetry import access
from fleetyard.server.services.telemetry.agents import load_agent
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories.telemetry.agents import AgentRecord


def implied_agent(principal: Principal) -> str | None:
    """The agent of a per-agent credential (scopes exactly ``agent:<id>:write``), else None.

    >>> from fleetyard.protocol.scopes import Scope
    >>> implied_agent(Principal(kind="api_key", org_id="org_1",
    ...                         scopes=[Scope("agent", "agt_1", "write")]))
    'agt_1'
    """
    if len(principal.scopes) != 1:
        return None
    scope = principal.scopes[0]
    if scope.resource == "agent" and scope.id != "*" and scope.permission == access.WRITE:
        return scope.id
    return None


async def authorize_agent(
    database: Database, principal: Principal, agent_id: str | None
) -> AgentRecord:
    """The agent this session is for, checked: ``write`` on the agent or its site.

    A per-agent credential implies its agent (``agent_id`` may be omitted or
    must match); any other credential must name the agent. Unknown or
    unreadable agents are 404, readable but not writable ones 403.
    """
    implied = implied_agent(principal)
    wanted = agent_id or implied
    if wanted is None:
        raise BadRequest(
            "Name the agent this session is for with ?agent_id= (only a per-agent"
            " credential implies its agent).",
            code=ErrorCode.BAD_REQUEST,
        )
    async with database.connect() as conn:
        # Read first: an agent the caller cannot see is 404, not a 403 that confirms it.
        agent = await load_agent(conn, principal, wanted, access.READ)
    access.require(principal, site_id=agent.site_id, agent_id=agent.id, permission=access.WRITE)
    return agent
