"""Event listeners: register, then fetch what happened since the last fetch (long-poll).

A listener is a cursor into its organisation's device events (``seq``). It
starts at the organisation's current last seq, so it sees what happens after
it registers. A fetch returns the events after the cursor that the caller
may read (``read`` on the event's site or gateway; a listener registered for
one site sees that site only), up to :data:`MAX_BATCH`, oldest first, and
moves the cursor past everything it looked at. When there is nothing, it
waits on the bus topic ``org:<org_id>:device-events`` up to ``wait_seconds``
and reads again.

A listener belongs to the credential that registered it (the API key, or the
user or service client behind an access token): to any other caller, even in
the same organisation, it is 404 ``invalid_event_listener``, as if it did not
exist. Fetching moves its cursor, so a second reader would steal events from
the first.

A listener not fetched for ``ttl`` seconds (``event_listener_ttl_seconds``)
has expired: fetching it is 404 ``invalid_event_listener`` and deletes it.
Another organisation's listener id is the same 404.

Housekeeping is lazy and simple: registering a listener deletes the
organisation's expired listeners and its events older than the retention
(``device_event_retention_seconds``); no background task is needed.

Example::

    listener = await register(database, principal, EventListenerCreate(), ttl_seconds=600,
                              retention_seconds=7 * 86400)
    batch = await fetch(database, bus, principal, listener.id, wait_seconds=30, ttl_seconds=600)
"""

from __future__ import annotations

import asyncio
import time

from fleetyard.protocol.devices import DeviceEvent, EventBatch, EventListener, EventListenerCreate
from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.ids import new_id
from fleetyard.server.bus import Bus, BusClosed
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import now_ms, to_datetime
from fleetyard.server.services.devices.events import device_events_topic
from fleetyard.server.services.errors import NotFound
from fleetyard.server.services.telemetry import access
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import device_events as repo
from fleetyard.server.storage.repositories.device_events import EventRecord, ListenerRecord
from fleetyard.server.storage.repositories.telemetry import agents as agents_repo

LISTENER_ID_PREFIX = "evl"
MAX_BATCH = 1000
MAX_TIMEOUT_SECONDS = 60.0


def _invalid(listener_id: str) -> NotFound:
    return NotFound(
        f"Event listener {listener_id!r} does not exist or has expired; register a new one.",
        code=ErrorCode.INVALID_EVENT_LISTENER,
    )


def _owner(principal: Principal) -> str | None:
    return principal.api_key_id or principal.user_id or principal.client_id


def listener_model(record: ListenerRecord, *, ttl_ms: int) -> EventListener:
    return EventListener(
        id=record.id,
        created_at=to_datetime(record.created_at),
        last_fetch_at=to_datetime(record.last_fetch_at),
        expires_at=to_datetime(record.last_fetch_at + ttl_ms),
        site_id=record.site_id,
    )


async def register(
    database: Database,
    principal: Principal,
    body: EventListenerCreate,
    *,
    ttl_seconds: float,
    retention_seconds: float,
    now: int | None = None,
) -> EventListener:
    """A new listener at the organisation's current position (``read`` somewhere; for a
    ``site_id``, ``read`` on that site, and the site must exist)."""
    access.require_somewhere(principal, access.READ)
    org_id = principal.org_id
    at = now_ms() if now is None else now
    ttl_ms = int(ttl_seconds * 1000)
    async with database.begin() as conn:
        if body.site_id is not None:
            if not await agents_repo.site_exists(conn, body.site_id, org_id=org_id):
                raise NotFound(f"Site {body.site_id!r} was not found.")
            access.require(principal, site_id=body.site_id, agent_id=None, permission=access.READ)
        # Lazy housekeeping (see the module docstring).
        await repo.delete_expired_listeners(conn, org_id=org_id, before_ms=at - ttl_ms)
        await repo.prune_events(conn, org_id=org_id, before_ms=at - int(retention_seconds * 1000))
        record = await repo.insert_listener(
            conn,
            org_id=org_id,
            listener_id=new_id(LISTENER_ID_PREFIX, now_ms=at),
            site_id=body.site_id,
            owner=_owner(principal),
            cursor=await repo.last_seq(conn, org_id=org_id),
            now_ms=at,
        )
    return listener_model(record, ttl_ms=ttl_ms)


def _owned(record: ListenerRecord | None, principal: Principal) -> ListenerRecord | None:
    return record if record is not None and record.owner == _owner(principal) else None


async def unregister(database: Database, principal: Principal, listener_id: str) -> None:
    async with database.begin() as conn:
        record = _owned(
            await repo.get_listener(conn, listener_id, org_id=principal.org_id), principal
        )
        if record is None or not await repo.delete_listener(
            conn, listener_id, org_id=principal.org_id
        ):
            raise _invalid(listener_id)


async def _live(
    database: Database, principal: Principal, listener_id: str, *, ttl_ms: int, at: int
) -> ListenerRecord:
    """The listener, or 404 ``invalid_event_listener`` (deleting it when it expired)."""
    async with database.begin() as conn:
        record = _owned(
            await repo.get_listener(conn, listener_id, org_id=principal.org_id), principal
        )
        if record is not None and record.last_fetch_at + ttl_ms < at:
            await repo.delete_listener(conn, listener_id, org_id=principal.org_id)
            record = None
    if record is None:
        raise _invalid(listener_id)
    return record


async def _read(
    database: Database, principal: Principal, listener: ListenerRecord, at: int
) -> tuple[list[EventRecord], ListenerRecord]:
    """One read: the visible events after the cursor; moves the cursor and ``last_fetch_at``."""
    sites, agent_ids = access.visible(principal)
    async with database.begin() as conn:
        current = await repo.get_listener(conn, listener.id, org_id=principal.org_id)
        if current is None:
            raise _invalid(listener.id)  # unregistered meanwhile
        # last_seq first: every event up to it is committed (see the repository docstring).
        until = await repo.last_seq(conn, org_id=principal.org_id)
        events = await repo.events_after(
            conn,
            org_id=principal.org_id,
            after=current.cursor,
            until=until,
            visible_sites=sites,
            visible_agents=agent_ids,
            site_id=current.site_id,
            limit=MAX_BATCH,
        )
        # A full batch stops at its last event; otherwise everything up to `until` was seen
        # (events the caller may not read are passed over for good).
        cursor = events[-1].seq if len(events) >= MAX_BATCH else max(until, current.cursor)
        await repo.advance_listener(
            conn, listener.id, org_id=principal.org_id, cursor=cursor, now_ms=at
        )
    return events, current


async def fetch(
    database: Database,
    bus: Bus,
    principal: Principal,
    listener_id: str,
    *,
    wait_seconds: float,
    ttl_seconds: float,
    now: int | None = None,
) -> EventBatch:
    """The events since the last fetch; waits up to ``wait_seconds`` when there are none."""
    ttl_ms = int(ttl_seconds * 1000)
    at = now_ms() if now is None else now
    listener = await _live(database, principal, listener_id, ttl_ms=ttl_ms, at=at)
    wait = max(0.0, min(wait_seconds, MAX_TIMEOUT_SECONDS))
    deadline = time.monotonic() + wait
    # Subscribe before the first read: an event committed in between still wakes us.
    try:
        subscription = bus.subscribe([device_events_topic(principal.org_id)], max_pending=100)
    except BusClosed:
        subscription = None
    try:
        while True:
            events, listener = await _read(database, principal, listener, at)
            remaining = deadline - time.monotonic()
            if events or remaining <= 0 or subscription is None:
                break
            try:
                async with asyncio.timeout(remaining):
                    await subscription.next_batch()  # any event (or LAGGED): read again
            except (TimeoutError, BusClosed):
                events, listener = await _read(database, principal, listener, now_ms())
                break
            subscription.resume()
            at = now_ms()
    finally:
        if subscription is not None:
            subscription.close()
    return EventBatch(
        listener_id=listener_id,
        events=[DeviceEvent.model_validate(e.body) for e in events],
    )
