"""Agent commands: machine commands (``ping``, ``reboot``, ``shell``…) sent to one agent.

Life of a command::

    POST /v1/agents/{id}/commands → pending ──(session forwards it)──► sent
        ──(agent's command.result)──► completed | failed
    past created_at + timeout_seconds, unfinished ──► failed, error "timeout"

Creating one needs ``admin`` on the agent's site or on the agent: ``reboot``
or ``shell`` act on the machine itself, more than publishing (``write``) or
executing device commands does. Reading needs ``read``.

After the row commits, a ``command.dispatch`` frame goes onto the agent's
control topic (:func:`control_topic`); a connected session forwards it and
marks it ``sent``, and a session that connects later sends every unfinished
command (:func:`unfinished_for_agent`). An agent whose configuration does
not enable the command answers ``failed`` with ``command_not_enabled: <name>``.

Timeouts are applied lazily: every read first fails the commands past their
``expires_at`` (one conditional UPDATE), so no background job is needed.

Example::

    command = await dispatch(database, bus, principal, "agt_…", AgentCommandCreate(name="ping"))
    ...
    command = await get_command(database, principal, "agt_…", command.id)
"""

from __future__ import annotations

from fleetyard.protocol.agent_session import CommandDispatch, CommandResult
from fleetyard.protocol.executions import (
    AGENT_COMMAND_ID_PREFIX,
    AgentCommand,
    AgentCommandCreate,
    AgentCommandState,
)
from fleetyard.protocol.ids import new_id
from fleetyard.server.bus import Bus, BusEvent
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import now_ms, optional_datetime, to_datetime
from fleetyard.server.services.errors import NotFound
from fleetyard.server.services.pagination import PageRequest, PageResult, cut
from fleetyard.server.services.telemetry import access
from fleetyard.server.services.telemetry.agents import load_agent
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import agent_commands as repo
from fleetyard.server.storage.repositories.agent_commands import AgentCommandRecord

__all__ = [
    "command_model",
    "control_topic",
    "dispatch",
    "get_command",
    "list_commands",
    "mark_sent",
    "publish_control",
    "record_result",
    "unfinished_for_agent",
]


def control_topic(agent_id: str) -> str:
    """The bus topic of frames for one agent's session.

    >>> control_topic("agt_1")
    'agent:agt_1:control'
    """
    return f"agent:{agent_id}:control"


async def publish_control(bus: Bus, agent_id: str, frame_type: str, frame_json: str) -> None:
    """Put a server frame (its JSON) on the agent's control topic, after the commit."""
    event = BusEvent(type=frame_type, key=agent_id, position=0, body=frame_json)
    await bus.publish(control_topic(agent_id), event)


def command_model(record: AgentCommandRecord) -> AgentCommand:
    return AgentCommand(
        id=record.id,
        agent_id=record.agent_id,
        name=record.name,
        args=record.args,
        state=AgentCommandState(record.state),
        result=record.result,
        error=record.error,
        created_at=to_datetime(record.created_at),
        updated_at=to_datetime(record.updated_at),
        finished_at=optional_datetime(record.finished_at),
    )


def _not_found(command_id: str) -> NotFound:
    return NotFound(f"Command {command_id!r} was not found.")


async def dispatch(
    database: Database, bus: Bus, principal: Principal, agent_id: str, body: AgentCommandCreate
) -> AgentCommand:
    """Queue a command for the agent (``admin`` on it or its site) and notify its session."""
    now = now_ms()
    async with database.begin() as conn:
        agent = await load_agent(conn, principal, agent_id, access.ADMIN)
        record = await repo.insert(
            conn,
            org_id=principal.org_id,
            command_id=new_id(AGENT_COMMAND_ID_PREFIX, now_ms=now),
            agent_id=agent.id,
            name=body.name,
            args=body.args,
            expires_at=now + int(body.timeout_seconds * 1000),
            now_ms=now,
        )
    command = command_model(record)
    frame = CommandDispatch(command=command)
    await publish_control(bus, agent.id, frame.type, frame.model_dump_json())
    return command


async def get_command(
    database: Database, principal: Principal, agent_id: str, command_id: str
) -> AgentCommand:
    """One command of the agent (``read`` on it or its site; otherwise 404)."""
    async with database.begin() as conn:
        agent = await load_agent(conn, principal, agent_id, access.READ)
        await repo.expire(conn, org_id=principal.org_id, agent_id=agent.id, now_ms=now_ms())
        record = await repo.get(conn, command_id, org_id=principal.org_id, agent_id=agent.id)
    if record is None:
        raise _not_found(command_id)
    return command_model(record)


async def list_commands(
    database: Database, principal: Principal, agent_id: str, page: PageRequest
) -> PageResult[AgentCommand]:
    """The agent's commands, newest first (``read`` on it or its site)."""
    async with database.begin() as conn:
        agent = await load_agent(conn, principal, agent_id, access.READ)
        await repo.expire(conn, org_id=principal.org_id, agent_id=agent.id, now_ms=now_ms())
        rows = await repo.list_page(
            conn, org_id=principal.org_id, agent_id=agent.id, before=page.after, limit=page.limit
        )
    return cut(rows, page, lambda r: r.id, command_model)


# --- for the agent's own session (already authenticated as that agent) -----------------


async def unfinished_for_agent(
    database: Database, *, org_id: str, agent_id: str
) -> list[AgentCommand]:
    """The agent's ``pending`` and ``sent`` commands not yet timed out, oldest first."""
    async with database.begin() as conn:
        await repo.expire(conn, org_id=org_id, agent_id=agent_id, now_ms=now_ms())
        rows = await repo.unfinished(conn, org_id=org_id, agent_id=agent_id)
    return [command_model(r) for r in rows]


async def mark_sent(database: Database, *, org_id: str, command_ids: list[str]) -> int:
    """Record that these commands reached the agent's session (``pending`` → ``sent``)."""
    if not command_ids:
        return 0
    async with database.begin() as conn:
        return await repo.mark_sent(conn, command_ids, org_id=org_id, now_ms=now_ms())


async def record_result(
    database: Database, *, org_id: str, agent_id: str, result: CommandResult
) -> AgentCommand:
    """Complete or fail the command from the agent's ``command.result``.

    Idempotent: a resent result for a finished command (or one that timed
    out meanwhile) changes nothing and returns the command as it is. A
    command of another agent, or none at all, is 404.
    """
    async with database.begin() as conn:
        await repo.finish(
            conn,
            result.command_id,
            org_id=org_id,
            agent_id=agent_id,
            state=result.state,
            result=result.result,
            error=result.error,
            now_ms=now_ms(),
        )
        record = await repo.get(conn, result.command_id, org_id=org_id, agent_id=agent_id)
    if record is None:
        raise _not_found(result.command_id)
    return command_model(record)
