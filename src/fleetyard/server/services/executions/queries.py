"""Reading executions: one, the unfinished ones, the history, and what a gateway must run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.agent_session import ExecutionOrder
from fleetyard.protocol.executions import ACTIVE_STATES, Execution, ExecutionState
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import to_ms
from fleetyard.server.services.errors import NotFound
from fleetyard.server.services.executions._common import execution_model, order_of
from fleetyard.server.services.pagination import PageRequest, PageResult, cut
from fleetyard.server.services.telemetry import access
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import executions as repo
from fleetyard.server.storage.repositories.executions import ExecutionRecord

_UNFINISHED = sorted({ExecutionState.QUEUED, *ACTIVE_STATES})


async def load_execution(
    conn: AsyncConnection, principal: Principal, execution_id: str
) -> ExecutionRecord:
    """The caller's execution; 404 when it is another organisation's or hidden from the caller."""
    record = await repo.get(conn, execution_id, org_id=principal.org_id)
    if record is None or not access.can(
        principal, site_id=record.site_id, agent_id=record.agent_id, permission=access.READ
    ):
        raise NotFound(f"Execution {execution_id!r} was not found.")
    return record


async def pending_orders(database: Database, *, org_id: str, agent_id: str) -> list[ExecutionOrder]:
    """What a (re)connecting session must send: initialized and transmitted, oldest first."""
    async with database.connect() as conn:
        records = await repo.pending_for_gateway(
            conn,
            org_id=org_id,
            agent_id=agent_id,
            states=[ExecutionState.INITIALIZED, ExecutionState.TRANSMITTED],
        )
    return [order_of(r.id, r.label, r.mode, r.actions) for r in records]


async def get_execution(database: Database, principal: Principal, execution_id: str) -> Execution:
    async with database.connect() as conn:
        return execution_model(await load_execution(conn, principal, execution_id))


async def list_current(
    database: Database, principal: Principal, page: PageRequest, *, gateway_id: str | None = None
) -> PageResult[Execution]:
    """Unfinished executions (queued included) the caller may read, oldest first."""
    sites, agent_ids = access.visible(principal)
    async with database.connect() as conn:
        rows = await repo.list_current(
            conn,
            org_id=principal.org_id,
            states=_UNFINISHED,
            visible_sites=sites,
            visible_agents=agent_ids,
            agent_id=gateway_id,
            after=page.after,
            limit=page.limit,
        )
    return cut(rows, page, lambda r: r.id, execution_model)


async def list_history(
    database: Database,
    principal: Principal,
    page: PageRequest,
    *,
    gateway_id: str | None = None,
    device_url: str | None = None,
    state: ExecutionState | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> PageResult[Execution]:
    """Executions the caller may read, newest first; ``start`` ≤ created_at < ``end``."""
    sites, agent_ids = access.visible(principal)
    async with database.connect() as conn:
        rows = await repo.list_history(
            conn,
            database.kind,
            org_id=principal.org_id,
            visible_sites=sites,
            visible_agents=agent_ids,
            agent_id=gateway_id,
            device_url=device_url,
            state=None if state is None else state.value,
            start_ms=None if start is None else to_ms(start),
            end_ms=None if end is None else to_ms(end),
            before=page.after,
            limit=page.limit,
        )
    return cut(rows, page, lambda r: r.id, execution_model)
