"""An execution's life through the agent's updates, the gateway limit and queue, cancel,
the not-transmitted sweep, and the reads."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import anyio
import pytest
import sqlalchemy as sa

from fleetyard.protocol.agent_session import ExecutionUpdate
from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.executions import CommandState, ExecutionState
from fleetyard.server.bus import MemoryBus, Subscription
from fleetyard.server.services.clock import now_ms, to_datetime
from fleetyard.server.services.errors import Conflict, NotFound, TooManyRequests, Unprocessable
from fleetyard.server.services.executions import lifecycle, sweep
from fleetyard.server.services.executions._common import control_topic
from fleetyard.server.services.pagination import PageRequest
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.device_tables import device_events, executions
from tests.server.executions.conftest import (
    AWNING,
    AWNING_2,
    AWNING_3,
    LIGHT,
    Gateway,
    body,
)

pytestmark = pytest.mark.anyio

LIMIT = 10


async def frames(subscription: Subscription) -> list[dict[str, Any]]:
    """The control frames published so far (waits for at least one)."""
    with anyio.fail_after(5):
        batch = await subscription.next_batch()
    assert isinstance(batch, list)
    return [json.loads(event.body) for _, event in batch]


async def update(db: Database, bus: MemoryBus, gw: Gateway, execution_id: str, **kw: Any) -> None:
    limit = kw.pop("limit", LIMIT)
    await lifecycle.record_agent_update(
        db,
        bus,
        org_id=gw.org_id,
        agent_id=gw.agent_id,
        update=ExecutionUpdate(ref="r1", execution_id=execution_id, **kw),
        settings_limit=limit,
    )


async def start(db: Database, bus: MemoryBus, gw: Gateway, url: str = AWNING, **kw: Any) -> str:
    limit = kw.pop("limit", LIMIT)
    started = await lifecycle.execute(
        db, bus, gw.principal, body((url, [("setClosure", [50]), ("stop", [])]), **kw), limit=limit
    )
    return started.id


async def events_of(db: Database, execution_id: str) -> list[dict[str, Any]]:
    async with db.connect() as conn:
        rows = (
            await conn.execute(sa.select(device_events.c.body).order_by(device_events.c.seq))
        ).all()
    return [r[0] for r in rows if r[0].get("execution_id") == execution_id]


async def test_an_execution_goes_transmitted_in_progress_completed(
    db: Database, bus: MemoryBus, gateway: Gateway
) -> None:
    control = bus.subscribe([control_topic(gateway.agent_id)])
    execution_id = await start(db, bus, gateway)
    [frame] = await frames(control)
    assert frame["type"] == "execution.start"
    assert frame["execution"]["id"] == execution_id
    assert frame["execution"]["actions"][0]["commands"][0] == {
        "name": "setClosure",
        "parameters": [50],
    }

    await update(db, bus, gateway, execution_id, state=ExecutionState.TRANSMITTED)
    await update(db, bus, gateway, execution_id, state=ExecutionState.IN_PROGRESS)
    for index in (0, 1):
        await update(
            db,
            bus,
            gateway,
            execution_id,
            action_index=0,
            command_index=index,
            command_state=CommandState.COMPLETED,
        )
    await update(db, bus, gateway, execution_id, state=ExecutionState.COMPLETED)

    done = await lifecycle.get_execution(db, gateway.principal, execution_id)
    assert done.state is ExecutionState.COMPLETED
    assert [h.state for h in done.history] == [
        "initialized",
        "transmitted",
        "in_progress",
        "completed",
    ]
    assert [c.state for c in done.actions[0].commands] == ["completed", "completed"]
    assert done.actions[0].device_id == gateway.device_ids[AWNING]
    assert done.finished_at is not None
    assert done.failure_type is None
    recorded = await events_of(db, execution_id)
    assert [e["type"] for e in recorded] == ["execution.registered"] + [
        "execution.state_changed"
    ] * 3
    assert [(e.get("old_state"), e["new_state"]) for e in recorded[1:]] == [
        ("initialized", "transmitted"),
        ("transmitted", "in_progress"),
        ("in_progress", "completed"),
    ]


async def test_a_failed_command_fails_the_execution_with_its_failure(
    db: Database, bus: MemoryBus, gateway: Gateway
) -> None:
    execution_id = await start(db, bus, gateway)
    await update(db, bus, gateway, execution_id, state=ExecutionState.IN_PROGRESS)
    await update(
        db,
        bus,
        gateway,
        execution_id,
        action_index=0,
        command_index=1,
        command_state=CommandState.FAILED,
        failure_type="device_error",
        detail="motor blocked",
    )
    await update(db, bus, gateway, execution_id, state=ExecutionState.FAILED, failure_type="other")
    failed = await lifecycle.get_execution(db, gateway.principal, execution_id)
    assert failed.state is ExecutionState.FAILED
    assert failed.failure_type == "device_error"  # the first failure's, not the summary's
    assert [f.model_dump() for f in failed.failed_commands] == [
        {
            "device_url": AWNING,
            "command": "stop",
            "failure_type": "device_error",
            "detail": "motor blocked",
        }
    ]
    assert failed.actions[0].commands[1].state is CommandState.FAILED
    last = (await events_of(db, execution_id))[-1]
    assert last["new_state"] == "failed"
    assert last["failed_commands"][0]["command"] == "stop"


async def test_resent_and_late_updates_change_nothing(
    db: Database, bus: MemoryBus, gateway: Gateway
) -> None:
    execution_id = await start(db, bus, gateway)
    await update(db, bus, gateway, execution_id, state=ExecutionState.IN_PROGRESS)
    command = {"action_index": 0, "command_index": 0, "command_state": CommandState.COMPLETED}
    await update(db, bus, gateway, execution_id, **command)
    before = await lifecycle.get_execution(db, gateway.principal, execution_id)
    count = len(await events_of(db, execution_id))
    await update(db, bus, gateway, execution_id, state=ExecutionState.IN_PROGRESS)  # resent
    await update(db, bus, gateway, execution_id, state=ExecutionState.TRANSMITTED)  # late
    await update(db, bus, gateway, execution_id, **command)  # resent
    await update(
        db,
        bus,
        gateway,
        execution_id,
        action_index=0,
        command_index=0,
        command_state=CommandState.IN_PROGRESS,  # late
    )
    after = await lifecycle.get_execution(db, gateway.principal, execution_id)
    assert after == before
    assert len(await events_of(db, execution_id)) == count


async def test_updates_to_a_finished_execution_only_record_commands(
    db: Database, bus: MemoryBus, gateway: Gateway
) -> None:
    execution_id = await start(db, bus, gateway)
    await lifecycle.cancel(db, bus, gateway.principal, execution_id, limit=LIMIT)
    await update(db, bus, gateway, execution_id, state=ExecutionState.COMPLETED)
    await update(
        db,
        bus,
        gateway,
        execution_id,
        action_index=0,
        command_index=0,
        command_state=CommandState.COMPLETED,
    )
    seen = await lifecycle.get_execution(db, gateway.principal, execution_id)
    assert seen.state is ExecutionState.CANCELLED
    # Cancelled before the gateway had it: its pending commands were cancelled, and stay so.
    assert [c.state for c in seen.actions[0].commands] == ["cancelled", "cancelled"]


async def test_updates_for_unknown_or_foreign_executions_are_not_found(
    db: Database, bus: MemoryBus, gateway: Gateway, other: Gateway
) -> None:
    execution_id = await start(db, bus, gateway)
    with pytest.raises(NotFound):
        await update(db, bus, gateway, "exe_unknown", state=ExecutionState.TRANSMITTED)
    with pytest.raises(NotFound):
        await lifecycle.record_agent_update(
            db,
            bus,
            org_id=other.org_id,
            agent_id=other.agent_id,
            update=ExecutionUpdate(ref="r", execution_id=execution_id, state="transmitted"),
            settings_limit=LIMIT,
        )
    with pytest.raises(Unprocessable):
        await update(db, bus, gateway, execution_id, state=ExecutionState.NOT_TRANSMITTED)
    with pytest.raises(Unprocessable):
        await update(
            db,
            bus,
            gateway,
            execution_id,
            action_index=3,
            command_index=0,
            command_state="completed",
        )


async def test_a_full_gateway_answers_exec_queue_full(
    db: Database, bus: MemoryBus, gateway: Gateway
) -> None:
    await start(db, bus, gateway, AWNING, limit=2)
    await start(db, bus, gateway, AWNING_2, limit=2)
    with pytest.raises(TooManyRequests) as caught:
        await start(db, bus, gateway, AWNING_3, limit=2)
    assert caught.value.code == ErrorCode.EXEC_QUEUE_FULL
    assert int(caught.value.headers["Retry-After"]) >= 1


async def test_queued_executions_start_in_order_as_slots_free(
    db: Database, bus: MemoryBus, gateway: Gateway
) -> None:
    control = bus.subscribe([control_topic(gateway.agent_id)])
    first = await start(db, bus, gateway, AWNING, limit=1)
    second = await start(db, bus, gateway, AWNING_2, limit=1, queue=True)
    third = await start(db, bus, gateway, AWNING_3, limit=1, queue=True)
    assert [f["execution"]["id"] for f in await frames(control)] == [first]
    current = await lifecycle.list_current(db, gateway.principal, PageRequest())
    assert [(e.id, e.state) for e in current.items] == [
        (first, "initialized"),
        (second, "queued"),
        (third, "queued"),
    ]

    await update(db, bus, gateway, first, state=ExecutionState.COMPLETED, limit=1)
    assert [f["execution"]["id"] for f in await frames(control)] == [second]
    promoted = await lifecycle.get_execution(db, gateway.principal, second)
    assert [h.state for h in promoted.history] == ["queued", "initialized"]
    assert (await lifecycle.get_execution(db, gateway.principal, third)).state == "queued"

    await lifecycle.cancel(db, bus, gateway.principal, second, limit=1)
    sent = await frames(control)
    assert [(f["type"], f.get("execution_id") or f["execution"]["id"]) for f in sent] == [
        ("execution.cancel", second),
        ("execution.start", third),
    ]


async def test_cancel(db: Database, bus: MemoryBus, gateway: Gateway) -> None:
    control = bus.subscribe([control_topic(gateway.agent_id)])
    execution_id = await start(db, bus, gateway, limit=1)
    queued = await start(db, bus, gateway, AWNING_2, limit=1, queue=True)
    await frames(control)
    await update(db, bus, gateway, execution_id, state=ExecutionState.IN_PROGRESS)
    cancelled = await lifecycle.cancel(db, bus, gateway.principal, queued, limit=1)
    assert cancelled.state is ExecutionState.CANCELLED
    assert cancelled.finished_at is not None
    cancelled = await lifecycle.cancel(db, bus, gateway.principal, execution_id, limit=1)
    assert [h.state for h in cancelled.history][-1] == "cancelled"
    # The queued one never reached the gateway: only the running one is told to stop.
    assert [f["type"] for f in await frames(control)] == ["execution.cancel"]
    with pytest.raises(Conflict) as caught:
        await lifecycle.cancel(db, bus, gateway.principal, execution_id, limit=1)
    assert caught.value.code == ErrorCode.EXECUTION_FINISHED


async def test_executions_no_gateway_took_become_not_transmitted(
    db: Database, bus: MemoryBus, gateway: Gateway
) -> None:
    stale = await start(db, bus, gateway, AWNING, limit=2)
    taken = await start(db, bus, gateway, AWNING_2, limit=2)
    waiting = await start(db, bus, gateway, AWNING_3, limit=2, queue=True)
    await update(db, bus, gateway, taken, state=ExecutionState.TRANSMITTED)
    async with db.begin() as conn:
        await conn.execute(
            sa.update(executions).values(updated_at=now_ms() - 60_000)  # a minute ago
        )
    ended = await sweep.sweep_not_transmitted(db, bus, timeout_seconds=30, limit=2)
    assert ended == 1
    swept = await lifecycle.get_execution(db, gateway.principal, stale)
    assert (swept.state, swept.failure_type) == ("not_transmitted", "gateway_offline")
    assert (await lifecycle.get_execution(db, gateway.principal, taken)).state == "transmitted"
    # The freed slot went to the queue; the promoted one has a fresh clock.
    assert (await lifecycle.get_execution(db, gateway.principal, waiting)).state == "initialized"
    assert await sweep.sweep_not_transmitted(db, bus, timeout_seconds=30, limit=2) == 0


async def test_pending_orders_are_what_a_reconnecting_session_sends(
    db: Database, bus: MemoryBus, gateway: Gateway
) -> None:
    first = await start(db, bus, gateway, AWNING, limit=3)
    second = await start(db, bus, gateway, AWNING_2, limit=3)
    third = await start(db, bus, gateway, AWNING_3, limit=3)
    await update(db, bus, gateway, second, state=ExecutionState.TRANSMITTED)
    await update(db, bus, gateway, third, state=ExecutionState.IN_PROGRESS)
    orders = await lifecycle.pending_orders(db, org_id=gateway.org_id, agent_id=gateway.agent_id)
    assert [o.id for o in orders] == [first, second]


async def test_history_filters_and_pages_newest_first(
    db: Database, bus: MemoryBus, gateway: Gateway, other: Gateway
) -> None:
    ids = [await start(db, bus, gateway, url) for url in (AWNING, AWNING_2, AWNING_3, AWNING)]
    light = (
        await lifecycle.execute(
            db, bus, gateway.principal, body((LIGHT, [("setPosition", [10])])), limit=LIMIT
        )
    ).id
    await start(db, bus, other)  # another organisation's: never listed here
    await update(db, bus, gateway, ids[0], state=ExecutionState.COMPLETED)

    newest_first = [light, *reversed(ids)]
    seen: list[str] = []
    page = PageRequest(limit=2)
    while True:
        result = await lifecycle.list_history(db, gateway.principal, page)
        seen += [e.id for e in result.items]
        if result.next_after is None:
            break
        page = PageRequest(after=result.next_after, limit=2)
    assert seen == newest_first

    async def ids_of(**filters: Any) -> list[str]:
        result = await lifecycle.list_history(db, gateway.principal, PageRequest(), **filters)
        return [e.id for e in result.items]

    assert await ids_of(device_url=AWNING) == [ids[3], ids[0]]
    assert await ids_of(device_url="io://1234-5678-3293/none") == []
    assert await ids_of(state=ExecutionState.COMPLETED) == [ids[0]]
    assert await ids_of(gateway_id=gateway.agent_id) == newest_first
    assert await ids_of(gateway_id=other.agent_id) == []
    created = (await lifecycle.get_execution(db, gateway.principal, light)).created_at
    assert await ids_of(start=created) == [light]
    assert light not in await ids_of(end=created)
    assert await ids_of(end=created + timedelta(milliseconds=1), start=to_datetime(0)) != []
