"""An execution's life: create, agent updates, cancel, the not-transmitted sweep, reads.

Slots: a gateway runs at most ``limit`` executions in :data:`ACTIVE_STATES`
at once. Every change that can take or free a slot first takes the gateway's
``agents`` row (:func:`repo.lock_gateway`), then counts; so concurrent
executes never overshoot, on either database. A full gateway answers 429
``exec_queue_full`` unless the caller asked to queue: queued executions are
promoted oldest first (``created_at``, ``id``) in the transaction that frees a
slot, and their ``execution.start`` frame goes out after it commits.

Every state change appends to ``history`` and records an
``execution.state_changed`` device event; events and frames are published
after commit.

Example::

    started = await execute(database, bus, principal, body, limit=10)
    await record_agent_update(database, bus, org_id=org, agent_id=gw,
                              update=frame, settings_limit=10)
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.agent_session import (
    ExecutionCancel,
    ExecutionStart,
    ExecutionUpdate,
)
from fleetyard.protocol.devices import DeviceEventType
from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.executions import (
    ACTIVE_STATES,
    EXECUTION_ID_PREFIX,
    FINISHED_STATES,
    Action,
    ActionProgress,
    CommandProgress,
    CommandState,
    Execution,
    ExecutionCreate,
    ExecutionStarted,
    ExecutionState,
    FailedCommand,
    FailureType,
)
from fleetyard.protocol.ids import new_id
from fleetyard.server.bus import Bus
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import now_ms, to_datetime
from fleetyard.server.services.devices.events import record_event
from fleetyard.server.services.errors import Conflict, NotFound, TooManyRequests, Unprocessable
from fleetyard.server.services.executions import validate
from fleetyard.server.services.executions._common import (
    Effects,
    actor,
    deliver,
    execution_model,
    order_of,
    transition,
    writing,
)
from fleetyard.server.services.executions.queries import (
    get_execution,
    list_current,
    list_history,
    load_execution,
    pending_orders,
)
from fleetyard.server.services.telemetry import access
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.dialect import DatabaseKind
from fleetyard.server.storage.repositories import executions as repo
from fleetyard.server.storage.repositories.executions import DeviceTarget, ExecutionRecord

log = logging.getLogger("fleetyard.server.executions")

RETRY_AFTER_SECONDS = 2
"""What a full gateway's 429 suggests: executions usually finish within seconds."""

_ACTIVE = sorted(ACTIVE_STATES)
_UNFINISHED = sorted({ExecutionState.QUEUED, *ACTIVE_STATES})
_RANK = {
    ExecutionState.QUEUED: 0,
    ExecutionState.INITIALIZED: 1,
    ExecutionState.TRANSMITTED: 2,
    ExecutionState.IN_PROGRESS: 3,
}
_AGENT_STATES = frozenset(
    {
        ExecutionState.TRANSMITTED,
        ExecutionState.IN_PROGRESS,
        ExecutionState.COMPLETED,
        ExecutionState.FAILED,
        ExecutionState.CANCELLED,
    }
)
_COMMAND_RANK = {
    CommandState.PENDING: 0,
    CommandState.IN_PROGRESS: 1,
    CommandState.COMPLETED: 2,
    CommandState.FAILED: 2,
    CommandState.CANCELLED: 2,
}


def _rank(state: str) -> int:
    return 4 if state in FINISHED_STATES else _RANK[ExecutionState(state)]


def _not_found(execution_id: str) -> NotFound:
    return NotFound(f"Execution {execution_id!r} was not found.")


def readable_device(principal: Principal) -> Callable[[DeviceTarget], bool]:
    """The validation filter: devices the caller may read (others are 'no such device')."""

    def readable(device: DeviceTarget) -> bool:
        return access.can(
            principal, site_id=device.site_id, agent_id=device.agent_id, permission=access.READ
        )

    return readable


# --- creating ---------------------------------------------------------------------------


async def _state_changed(
    conn: AsyncConnection,
    effects: Effects,
    record: ExecutionRecord,
    old: str,
    new: ExecutionState,
    at_ms: int,
    failed_commands: list[dict[str, Any]] | None = None,
) -> None:
    effects.events.append(
        await record_event(
            conn,
            org_id=record.org_id,
            site_id=record.site_id,
            agent_id=record.agent_id,
            type=DeviceEventType.EXECUTION_STATE_CHANGED,
            at_ms=at_ms,
            execution_id=record.id,
            old_state=old,
            new_state=str(new),
            failed_commands=failed_commands or None,
        )
    )


async def fill_slots(
    conn: AsyncConnection,
    kind: DatabaseKind,
    effects: Effects,
    *,
    org_id: str,
    agent_id: str,
    limit: int,
    now: int,
) -> None:
    """Promote the gateway's oldest queued executions while it has free slots.

    The caller holds the gateway's row (:func:`repo.lock_gateway`).
    """
    active = await repo.count_in_states(conn, org_id=org_id, agent_id=agent_id, states=_ACTIVE)
    while active < limit:
        queued = await repo.oldest_in_state(
            conn, kind, org_id=org_id, agent_id=agent_id, state=ExecutionState.QUEUED
        )
        if queued is None:
            return
        history = [*queued.history, transition(ExecutionState.INITIALIZED, now)]
        await repo.update(
            conn,
            queued.id,
            org_id=org_id,
            values={
                "state": ExecutionState.INITIALIZED.value,
                "history": history,
                "updated_at": now,
            },
        )
        await _state_changed(
            conn, effects, queued, ExecutionState.QUEUED, ExecutionState.INITIALIZED, now
        )
        effects.frames.append(
            (
                agent_id,
                ExecutionStart(
                    execution=order_of(queued.id, queued.label, queued.mode, queued.actions)
                ),
            )
        )
        active += 1


async def create_in(
    conn: AsyncConnection,
    kind: DatabaseKind,
    effects: Effects,
    *,
    org_id: str,
    resolved: validate.Resolved,
    actions: list[Action],
    label: str,
    mode: str,
    queue: bool,
    limit: int,
    created_by: str | None,
    action_group_id: str | None = None,
    schedule_id: str | None = None,
) -> ExecutionStarted:
    """Create a validated execution inside the caller's write transaction.

    Takes the gateway's row, promotes queued work into free slots, then
    starts this one (``initialized``), queues it, or raises 429
    ``exec_queue_full``.
    """
    now = now_ms()
    agent_id = resolved.agent_id
    if not await repo.lock_gateway(conn, org_id=org_id, agent_id=agent_id, now_ms=now):
        raise NotFound(f"Gateway {agent_id!r} was not found.", code=ErrorCode.NO_SUCH_DEVICE)
    await fill_slots(conn, kind, effects, org_id=org_id, agent_id=agent_id, limit=limit, now=now)
    active = await repo.count_in_states(conn, org_id=org_id, agent_id=agent_id, states=_ACTIVE)
    if active >= limit and not queue:
        raise TooManyRequests(
            f"Gateway {agent_id!r} already runs {active} executions (the limit is {limit});"
            " retry later or send queue=true to wait in the server's queue.",
            code=ErrorCode.EXEC_QUEUE_FULL,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            limit=limit,
        )
    state = ExecutionState.QUEUED if active >= limit else ExecutionState.INITIALIZED
    execution_id = new_id(EXECUTION_ID_PREFIX, now_ms=now)
    progress = [
        ActionProgress(
            device_url=action.device_url,
            device_id=device.id,
            commands=[
                CommandProgress(name=c.name, parameters=list(c.parameters)) for c in action.commands
            ],
        ).model_dump(mode="json")
        for action, device in zip(actions, resolved.devices, strict=True)
    ]
    await repo.insert(
        conn,
        org_id=org_id,
        values={
            "id": execution_id,
            "site_id": resolved.site_id,
            "agent_id": agent_id,
            "label": label,
            "mode": mode,
            "state": state.value,
            "actions": progress,
            "history": [transition(state, now)],
            "failure_type": None,
            "failed_commands": [],
            "action_group_id": action_group_id,
            "schedule_id": schedule_id,
            "created_by": created_by,
            "created_at": now,
            "updated_at": now,
            "finished_at": None,
        },
    )
    effects.events.append(
        await record_event(
            conn,
            org_id=org_id,
            site_id=resolved.site_id,
            agent_id=agent_id,
            type=DeviceEventType.EXECUTION_REGISTERED,
            at_ms=now,
            execution_id=execution_id,
            new_state=str(state),
        )
    )
    if state is ExecutionState.INITIALIZED:
        effects.frames.append(
            (agent_id, ExecutionStart(execution=order_of(execution_id, label, mode, progress)))
        )
    return ExecutionStarted(id=execution_id, state=state, gateway_id=agent_id)


async def execute(
    database: Database, bus: Bus, principal: Principal, body: ExecutionCreate, *, limit: int
) -> ExecutionStarted:
    """Validate and start (or queue) an execution; ``write`` on its gateway's site or agent."""
    effects = Effects()
    async with writing(database) as conn:
        resolved = await validate.resolve(
            conn,
            org_id=principal.org_id,
            actions=body.actions,
            gateway_id=body.gateway_id,
            readable=readable_device(principal),
        )
        access.require(
            principal, site_id=resolved.site_id, agent_id=resolved.agent_id, permission=access.WRITE
        )
        started = await create_in(
            conn,
            database.kind,
            effects,
            org_id=principal.org_id,
            resolved=resolved,
            actions=body.actions,
            label=body.label,
            mode=body.mode.value,
            queue=body.queue,
            limit=limit,
            created_by=actor(principal),
        )
    await deliver(bus, principal.org_id, effects)
    return started


# --- the agent's updates -----------------------------------------------------------------


def _apply_command(
    record: ExecutionRecord,
    actions: list[dict[str, Any]],
    failed: list[dict[str, Any]],
    update: ExecutionUpdate,
    at: datetime,
) -> None:
    assert update.command_state is not None
    if update.action_index is None or update.command_index is None:
        raise Unprocessable("command_state needs action_index and command_index.")
    if update.action_index >= len(actions) or update.command_index >= len(
        actions[update.action_index]["commands"]
    ):
        raise Unprocessable(
            f"Execution {record.id!r} has no command"
            f" [{update.action_index}][{update.command_index}]."
        )
    action = actions[update.action_index]
    command = CommandProgress.model_validate(action["commands"][update.command_index])
    wanted = update.command_state
    if _COMMAND_RANK[wanted] <= _COMMAND_RANK[command.state]:
        return  # already there (a resend), or an older report arriving late
    command.state = wanted
    if command.started_at is None:
        command.started_at = at
    if _COMMAND_RANK[wanted] == 2:
        command.finished_at = at
    if update.failure_type is not None or wanted is CommandState.FAILED:
        command.failure_type = update.failure_type or FailureType.UNKNOWN.value
    if update.detail is not None:
        command.detail = update.detail
    action["commands"][update.command_index] = command.model_dump(mode="json")
    if wanted is CommandState.FAILED:
        failed.append(
            FailedCommand(
                device_url=action["device_url"],
                command=command.name,
                failure_type=command.failure_type or FailureType.UNKNOWN.value,
                detail=command.detail,
            ).model_dump(mode="json")
        )


async def record_agent_update(
    database: Database,
    bus: Bus,
    *,
    org_id: str,
    agent_id: str,
    update: ExecutionUpdate,
    settings_limit: int,
) -> None:
    """Apply an agent's ``execution.update`` (idempotent; see the module docstring).

    A resent or late update changes nothing; states only move forward; an
    update to a finished execution only records per-command state. Unknown
    id, or another gateway's execution → NotFound.
    """
    if update.state is not None and update.state not in _AGENT_STATES:
        raise Unprocessable(f"An agent cannot report state {update.state.value!r}.")
    effects = Effects()
    async with writing(database) as conn:
        found = await repo.get(conn, update.execution_id, org_id=org_id)
        if found is None or found.agent_id != agent_id:
            raise _not_found(update.execution_id)
        now = now_ms()
        # Agent row first, then the execution: the lock order of every slot change.
        await repo.lock_gateway(conn, org_id=org_id, agent_id=agent_id, now_ms=now)
        record = await repo.get(conn, update.execution_id, org_id=org_id, kind=database.kind)
        assert record is not None
        at = to_datetime(now)
        actions = copy.deepcopy(record.actions)
        failed = copy.deepcopy(record.failed_commands)
        if update.command_state is not None:
            _apply_command(record, actions, failed, update, at)
        state = record.state
        history = list(record.history)
        finished_at = record.finished_at
        failure_type = record.failure_type
        moved = (
            update.state is not None
            and state not in FINISHED_STATES
            and _rank(update.state) > _rank(state)
        )
        if moved:
            assert update.state is not None
            state = update.state
            history.append(transition(update.state, now))
            if update.state in FINISHED_STATES:
                finished_at = now
        if state == ExecutionState.FAILED:
            # The first failure names the execution's failure.
            failure_type = (
                failed[0]["failure_type"]
                if failed
                else failure_type or update.failure_type or FailureType.UNKNOWN.value
            )
        if (
            actions == record.actions
            and failed == record.failed_commands
            and state == record.state
            and failure_type == record.failure_type
        ):
            return
        await repo.update(
            conn,
            record.id,
            org_id=org_id,
            values={
                "actions": actions,
                "failed_commands": failed,
                "state": str(state),
                "history": history,
                "failure_type": failure_type,
                "finished_at": finished_at,
                "updated_at": now,
            },
        )
        if moved:
            assert update.state is not None
            await _state_changed(
                conn,
                effects,
                record,
                record.state,
                update.state,
                now,
                failed if update.state == ExecutionState.FAILED else None,
            )
            if update.state in FINISHED_STATES:
                await fill_slots(
                    conn,
                    database.kind,
                    effects,
                    org_id=org_id,
                    agent_id=agent_id,
                    limit=settings_limit,
                    now=now,
                )
    await deliver(bus, org_id, effects)


# --- cancel -------------------------------------------------------------


async def finish(
    conn: AsyncConnection,
    kind: DatabaseKind,
    effects: Effects,
    record: ExecutionRecord,
    state: ExecutionState,
    *,
    failure_type: str | None,
    limit: int,
    now: int,
) -> ExecutionRecord:
    """End an unfinished execution (caller holds the gateway row); promotes the queue."""
    actions = copy.deepcopy(record.actions)
    if record.state in (ExecutionState.QUEUED, ExecutionState.INITIALIZED):
        # The agent never had it: nobody else will report these commands.
        for action in actions:
            for command in action["commands"]:
                if command["state"] == CommandState.PENDING:
                    command["state"] = CommandState.CANCELLED.value
    history = [*record.history, transition(state, now)]
    values: dict[str, Any] = {
        "state": state.value,
        "actions": actions,
        "history": history,
        "failure_type": failure_type,
        "finished_at": now,
        "updated_at": now,
    }
    await repo.update(conn, record.id, org_id=record.org_id, values=values)
    await _state_changed(conn, effects, record, record.state, state, now)
    await fill_slots(
        conn, kind, effects, org_id=record.org_id, agent_id=record.agent_id, limit=limit, now=now
    )
    return dataclasses.replace(record, **values)


async def cancel(
    database: Database, bus: Bus, principal: Principal, execution_id: str, *, limit: int
) -> Execution:
    """Cancel an unfinished execution at once (``write``); 409 ``execution_finished`` otherwise.

    The slot is freed and the queue promoted in the same transaction; the
    gateway gets ``execution.cancel`` (unless the execution was still queued).
    """
    effects = Effects()
    async with writing(database) as conn:
        found = await load_execution(conn, principal, execution_id)
        access.require(
            principal, site_id=found.site_id, agent_id=found.agent_id, permission=access.WRITE
        )
        now = now_ms()
        await repo.lock_gateway(conn, org_id=found.org_id, agent_id=found.agent_id, now_ms=now)
        record = await repo.get(conn, execution_id, org_id=principal.org_id, kind=database.kind)
        assert record is not None
        if record.state in FINISHED_STATES:
            raise Conflict(
                f"Execution {execution_id!r} already finished ({record.state}).",
                code=ErrorCode.EXECUTION_FINISHED,
                state=record.state,
            )
        done = await finish(
            conn,
            database.kind,
            effects,
            record,
            ExecutionState.CANCELLED,
            failure_type=None,
            limit=limit,
            now=now,
        )
        if record.state != ExecutionState.QUEUED:
            effects.frames.insert(0, (record.agent_id, ExecutionCancel(execution_id=record.id)))
    await deliver(bus, principal.org_id, effects)
    return execution_model(done)


__all__ = [
    "cancel",
    "create_in",
    "execute",
    "fill_slots",
    "finish",
    "get_execution",
    "list_current",
    "list_history",
    "pending_orders",
    "readable_device",
    "record_agent_update",
]
