"""Device events: recorded in the caller's transaction, published after commit.

Every event gets the organisation's next ``seq`` (gap-free in commit order,
see :mod:`fleetyard.server.storage.repositories.device_events`) and is stored
in ``device_events`` as its :class:`~fleetyard.protocol.devices.DeviceEvent`
JSON. After the transaction commits the same JSON goes onto the bus topic
``org:<org_id>:device-events``, which wakes event-listener long-polls and feeds
``/v1/stream`` subscribers.

Example::

    async with database.begin() as conn:
        event = await record_event(
            conn, org_id=org, site_id=site, agent_id=gateway,
            type=DeviceEventType.EXECUTION_REGISTERED, at_ms=now_ms(), execution_id=exe_id,
        )
    await publish_events(bus, org, [event])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.devices import DeviceEvent, DeviceEventType
from fleetyard.server.bus import Bus, BusEvent
from fleetyard.server.services.clock import to_datetime
from fleetyard.server.storage.repositories import device_events as repo

__all__ = ["device_events_topic", "event_body", "publish_events", "record_event"]


def device_events_topic(org_id: str) -> str:
    """The bus topic of an organisation's device events.

    >>> device_events_topic("org_1")
    'org:org_1:device-events'
    """
    return f"org:{org_id}:device-events"


def event_body(event: DeviceEvent) -> str:
    """The event's JSON as stored, published and sent (members that are None left out)."""
    return event.model_dump_json(exclude_none=True)


async def record_event(
    conn: AsyncConnection,
    *,
    org_id: str,
    site_id: str,
    agent_id: str,
    type: DeviceEventType,
    at_ms: int,
    **fields: Any,
) -> DeviceEvent:
    """Number and store one event inside the caller's transaction; returns it.

    ``fields`` are :class:`DeviceEvent` members (``execution_id``,
    ``old_state``, ``new_state``, ``failed_commands``, ``device_id``,
    ``device_url``, ``states``). Publish the returned events with
    :func:`publish_events` after the transaction commits.
    """
    seq = await repo.next_seq(conn, org_id=org_id)
    event = DeviceEvent(
        seq=seq,
        type=type,
        at=to_datetime(at_ms),
        gateway_id=agent_id,
        site_id=site_id,
        **fields,
    )
    await repo.insert_event(
        conn,
        org_id=org_id,
        seq=seq,
        type=str(type),
        site_id=site_id,
        agent_id=agent_id,
        at_ms=at_ms,
        body=event.model_dump(mode="json", exclude_none=True),
    )
    return event


async def publish_events(bus: Bus, org_id: str, events: Sequence[DeviceEvent]) -> None:
    """Put committed events on ``org:<org_id>:device-events``, in order."""
    if not events:
        return
    topic = device_events_topic(org_id)
    await bus.publish_many(
        (
            topic,
            BusEvent(type=str(event.type), key=org_id, position=event.seq, body=event_body(event)),
        )
        for event in events
    )
