"""Presence: heartbeats mark an agent online, silence marks it offline; both are events.

``POST /v1/agents/{id}/heartbeat`` (:func:`heartbeat`) records ``last_seen``
and, when the agent was offline, flips it online and publishes
``agent.online``. A :class:`PresenceMonitor` in the server lifespan sweeps
every few seconds and marks offline (``agent.offline``) every agent silent
for longer than ``presence_timeout_seconds``. The flip is one conditional
UPDATE, so each transition is announced once even with several replicas.

Wiring (app lifespan)::

    monitor = PresenceMonitor(database, bus, timeout_seconds=30)
    await monitor.start()
    try:
        yield
    finally:
        await monitor.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from fleetyard.protocol.telemetry import Agent
from fleetyard.server.bus import Bus, BusEvent
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import now_ms
from fleetyard.server.services.devices.devices import record_gateway_presence
from fleetyard.server.services.errors import NotFound
from fleetyard.server.services.telemetry import access
from fleetyard.server.services.telemetry.agents import load_agent
from fleetyard.server.services.telemetry.events import (
    agent_presence_topic,
    presence_event,
    site_presence_topic,
)
from fleetyard.server.services.telemetry.models import agent_model
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories.telemetry import agents as agents_repo
from fleetyard.server.storage.repositories.telemetry import presence as repo

log = logging.getLogger(__name__)

MAX_SWEEP_INTERVAL_SECONDS = 5.0


async def publish_presence(
    bus: Bus,
    *,
    agent_id: str,
    site_id: str,
    online: bool,
    at_ms: int,
    last_seen: int | None,
) -> None:
    """Announce a presence change to the agent's site and to the agent's own topic.

    For whoever flips ``online`` (heartbeats here, the agent's WebSocket session later).
    """
    event = presence_event(agent_id, site_id, online=online, at_ms=at_ms, last_seen=last_seen)
    items: list[tuple[str, BusEvent]] = [
        (site_presence_topic(site_id), event),
        (agent_presence_topic(agent_id), event),
    ]
    await bus.publish_many(items)


async def heartbeat(database: Database, bus: Bus, principal: Principal, agent_id: str) -> Agent:
    """Mark the agent online now; publish ``agent.online`` when it was offline.

    Needs ``write`` on the agent or its site (what a per-agent credential holds).
    """
    now = now_ms()
    async with database.begin() as conn:
        # Read first: an agent the caller cannot see is 404, not a 403 that confirms it.
        agent = await load_agent(conn, principal, agent_id, access.READ)
        access.require(principal, site_id=agent.site_id, agent_id=agent.id, permission=access.WRITE)
        flipped = await repo.mark_online(conn, agent_id, org_id=principal.org_id, now_ms=now)
        record = await agents_repo.get(conn, agent_id, org_id=principal.org_id)
    if flipped is None or record is None:
        raise NotFound(f"Agent {agent_id!r} was not found.")
    if flipped:
        await publish_presence(
            bus,
            agent_id=record.id,
            site_id=record.site_id,
            online=True,
            at_ms=now,
            last_seen=record.last_seen,
        )
        # gateway.online for gateways (a no-op for agents without devices).
        await record_gateway_presence(
            database,
            bus,
            org_id=record.org_id,
            site_id=record.site_id,
            agent_id=record.id,
            online=True,
            at_ms=now,
        )
    return agent_model(record)


async def sweep(database: Database, bus: Bus, *, timeout_ms: int, now: int | None = None) -> int:
    """Mark offline the agents silent for longer than ``timeout_ms``; returns how many."""
    at = now_ms() if now is None else now
    async with database.begin() as conn:
        expired = await repo.expire_stale_in_all_orgs(conn, cutoff_ms=at - timeout_ms)
    for record in expired:
        await publish_presence(
            bus,
            agent_id=record.agent_id,
            site_id=record.site_id,
            online=False,
            at_ms=at,
            last_seen=record.last_seen,
        )
        await record_gateway_presence(
            database,
            bus,
            org_id=record.org_id,
            site_id=record.site_id,
            agent_id=record.agent_id,
            online=False,
            at_ms=at,
        )
    return len(expired)


class PresenceMonitor:
    """The background sweep that turns silence into ``agent.offline``.

    Example::

        monitor = PresenceMonitor(database, bus, timeout_seconds=30)
        await monitor.start()
        ...
        await monitor.stop()
    """

    def __init__(
        self,
        database: Database,
        bus: Bus,
        *,
        timeout_seconds: float,
        interval_seconds: float | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.database = database
        self.bus = bus
        self.timeout_ms = int(timeout_seconds * 1000)
        # A third of the timeout, so "offline" is announced at most ~1.3 timeouts late.
        self.interval = interval_seconds or min(MAX_SWEEP_INTERVAL_SECONDS, timeout_seconds / 3)
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="fleetyard-presence-sweep")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await sweep(self.database, self.bus, timeout_ms=self.timeout_ms, now=self._clock())
            except Exception:
                # A database hiccup must not end presence for good; try again next tick.
                log.exception("presence sweep failed")
