"""The sweep of executions no gateway took: ``initialized`` past the transmit timeout
become ``not_transmitted`` (failure ``gateway_offline``), freeing their slots."""

from __future__ import annotations

import asyncio
import logging

from fleetyard.protocol.executions import ExecutionState, FailureType
from fleetyard.server.bus import Bus
from fleetyard.server.services.clock import now_ms
from fleetyard.server.services.executions._common import Effects, deliver, writing
from fleetyard.server.services.executions.lifecycle import finish
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import executions as repo

log = logging.getLogger("fleetyard.server.executions")


async def sweep_not_transmitted(
    database: Database, bus: Bus, *, timeout_seconds: float, limit: int, batch: int = 500
) -> int:
    """End executions ``initialized`` for longer than the timeout as ``not_transmitted``
    (failure ``gateway_offline``): the gateway never took them. How many it ended."""
    cutoff = now_ms() - int(timeout_seconds * 1000)
    async with database.connect() as conn:
        stale = await repo.stale(
            conn, state=ExecutionState.INITIALIZED, updated_before_ms=cutoff, limit=batch
        )
    ended = 0
    for org_id, execution_id in stale:
        effects = Effects()
        async with writing(database) as conn:
            found = await repo.get(conn, execution_id, org_id=org_id)
            if found is None:
                continue
            now = now_ms()
            await repo.lock_gateway(conn, org_id=org_id, agent_id=found.agent_id, now_ms=now)
            record = await repo.get(conn, execution_id, org_id=org_id, kind=database.kind)
            if (
                record is None
                or record.state != ExecutionState.INITIALIZED
                or record.updated_at >= cutoff
            ):
                continue  # the gateway took it meanwhile
            await finish(
                conn,
                database.kind,
                effects,
                record,
                ExecutionState.NOT_TRANSMITTED,
                failure_type=FailureType.GATEWAY_OFFLINE.value,
                limit=limit,
                now=now,
            )
        await deliver(bus, org_id, effects)
        ended += 1
    return ended


async def run_sweeper(
    database: Database, bus: Bus, *, timeout_seconds: float, limit: int, interval_seconds: float
) -> None:
    """Run :func:`sweep_not_transmitted` every ``interval_seconds`` until cancelled."""
    while True:
        try:
            await sweep_not_transmitted(database, bus, timeout_seconds=timeout_seconds, limit=limit)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the not-transmitted sweep failed")
        await asyncio.sleep(interval_seconds)
