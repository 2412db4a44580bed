"""Concurrent executes never hold more than the gateway's limit of active slots."""

from __future__ import annotations

import anyio
import pytest
import sqlalchemy as sa

from fleetyard.protocol.executions import ACTIVE_STATES, ExecutionState
from fleetyard.server.bus import MemoryBus
from fleetyard.server.services.errors import TooManyRequests
from fleetyard.server.services.executions import lifecycle
from fleetyard.server.services.pagination import PageRequest
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.device_tables import executions
from tests.server.executions.conftest import AWNING, Gateway, body

pytestmark = pytest.mark.anyio

N = 12
LIMIT = 3


async def _states(db: Database) -> list[str]:
    async with db.connect() as conn:
        return [r[0] for r in (await conn.execute(sa.select(executions.c.state))).all()]


async def test_concurrent_executes_never_exceed_the_limit(
    db: Database, bus: MemoryBus, gateway: Gateway
) -> None:
    outcomes: list[str] = []

    async def one() -> None:
        try:
            started = await lifecycle.execute(
                db, bus, gateway.principal, body((AWNING, [("stop", [])])), limit=LIMIT
            )
            outcomes.append(started.state)
        except TooManyRequests:
            outcomes.append("429")

    async with anyio.create_task_group() as group:
        for _ in range(N):
            group.start_soon(one)
    assert sorted(outcomes) == sorted(["initialized"] * LIMIT + ["429"] * (N - LIMIT))
    states = await _states(db)
    assert sum(s in ACTIVE_STATES for s in states) == LIMIT


async def test_concurrent_queued_executes_fill_exactly_the_limit(
    db: Database, bus: MemoryBus, gateway: Gateway
) -> None:
    async def one() -> None:
        await lifecycle.execute(
            db, bus, gateway.principal, body((AWNING, [("stop", [])]), queue=True), limit=LIMIT
        )

    async with anyio.create_task_group() as group:
        for _ in range(N):
            group.start_soon(one)
    states = await _states(db)
    assert states.count(ExecutionState.INITIALIZED) == LIMIT
    assert states.count(ExecutionState.QUEUED) == N - LIMIT

    # Finishing them concurrently keeps promoting without ever overshooting.
    current = await lifecycle.list_current(db, gateway.principal, PageRequest(limit=100))
    active = [e.id for e in current.items if e.state in ACTIVE_STATES]

    async def cancel(execution_id: str) -> None:
        await lifecycle.cancel(db, bus, gateway.principal, execution_id, limit=LIMIT)

    async with anyio.create_task_group() as group:
        for execution_id in active:
            group.start_soon(cancel, execution_id)
    states = await _states(db)
    assert states.count(ExecutionState.INITIALIZED) == LIMIT
    assert states.count(ExecutionState.QUEUED) == N - 2 * LIMIT
