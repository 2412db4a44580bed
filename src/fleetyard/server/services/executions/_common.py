"""What the execution services share: the write transaction, effects after commit, models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.agent_session import (
    ExecutionCancel,
    ExecutionOrder,
    ExecutionStart,
    OrderAction,
    OrderCommand,
)
from fleetyard.protocol.devices import DeviceEvent
from fleetyard.protocol.executions import (
    ActionProgress,
    Execution,
    ExecutionMode,
    ExecutionState,
    FailedCommand,
    StateTransition,
)
from fleetyard.server.bus import Bus, BusEvent
from fleetyard.server.services.agent_commands import control_topic
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import optional_datetime, to_datetime
from fleetyard.server.services.devices.events import publish_events
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.dialect import begin_write
from fleetyard.server.storage.repositories.executions import ExecutionRecord


@asynccontextmanager
async def writing(database: Database) -> AsyncIterator[AsyncConnection]:
    """A write transaction that holds SQLite's write lock from its first statement.

    Validation reads and the slot count then see one consistent state, and
    concurrent executes wait for each other instead of failing with
    "database is locked" (PostgreSQL serialises on the gateway's agents row).
    """
    async with database.engine.connect() as conn:
        await begin_write(conn, database.kind)
        yield conn
        await conn.commit()


@dataclass
class Effects:
    """What to announce once the transaction committed: device events and agent frames."""

    events: list[DeviceEvent] = field(default_factory=list)
    frames: list[tuple[str, ExecutionStart | ExecutionCancel]] = field(default_factory=list)


async def deliver(bus: Bus, org_id: str, effects: Effects) -> None:
    """Publish committed events, then the frames for the gateways' sessions."""
    await publish_events(bus, org_id, effects.events)
    for agent_id, frame in effects.frames:
        await bus.publish(
            control_topic(agent_id),
            BusEvent(type=frame.type, key=agent_id, position=0, body=frame.model_dump_json()),
        )


def actor(principal: Principal) -> str | None:
    """Who asked: the user, else the API key or service client."""
    return principal.user_id or principal.api_key_id or principal.client_id


def transition(state: ExecutionState, at_ms: int) -> dict[str, Any]:
    return StateTransition(state=state, at=to_datetime(at_ms)).model_dump(mode="json")


def execution_model(record: ExecutionRecord) -> Execution:
    return Execution(
        id=record.id,
        gateway_id=record.agent_id,
        site_id=record.site_id,
        label=record.label,
        mode=ExecutionMode(record.mode),
        state=ExecutionState(record.state),
        actions=[ActionProgress.model_validate(a) for a in record.actions],
        history=[StateTransition.model_validate(h) for h in record.history],
        failure_type=record.failure_type,
        failed_commands=[FailedCommand.model_validate(f) for f in record.failed_commands],
        action_group_id=record.action_group_id,
        schedule_id=record.schedule_id,
        created_by=record.created_by,
        created_at=to_datetime(record.created_at),
        updated_at=to_datetime(record.updated_at),
        finished_at=optional_datetime(record.finished_at),
    )


def order_of(
    execution_id: str, label: str, mode: str, actions: list[dict[str, Any]]
) -> ExecutionOrder:
    """What the agent runs, from the stored actions."""
    return ExecutionOrder(
        id=execution_id,
        label=label,
        mode=ExecutionMode(mode),
        actions=[
            OrderAction(
                device_url=a["device_url"],
                commands=[
                    OrderCommand(name=c["name"], parameters=list(c.get("parameters") or []))
                    for c in a["commands"]
                ],
            )
            for a in actions
        ],
    )
