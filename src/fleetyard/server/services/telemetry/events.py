"""Stream events as they travel on the bus: topics, and bodies serialised once.

A body is the JSON object of an event without ``type`` and ``sub``; a stream
session splices its own prefix in front (``{"type":…,"sub":…,`` + body[1:]),
so one serialisation serves every subscriber.

Topics::

    channel:<channel_id>:messages     message.created
    channel:<channel_id>:aggregate    aggregate.updated
    site:<site_id>:presence           agent.online / agent.offline
    agent:<agent_id>:presence         agent.online / agent.offline

Ids are globally unique, so topics never collide across organisations; who
may subscribe to what is checked when subscribing.
"""

from __future__ import annotations

import json
from typing import Any

from fleetyard.protocol.common import format_timestamp
from fleetyard.protocol.stream import StreamEventType
from fleetyard.server.bus import BusEvent
from fleetyard.server.services.clock import to_datetime
from fleetyard.server.services.telemetry.batches import CommittedAggregate, CommittedMessage

MESSAGE_CREATED = StreamEventType.MESSAGE_CREATED.value
AGGREGATE_UPDATED = StreamEventType.AGGREGATE_UPDATED.value
AGENT_ONLINE = StreamEventType.AGENT_ONLINE.value
AGENT_OFFLINE = StreamEventType.AGENT_OFFLINE.value

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
dumps = _encoder.encode


def messages_topic(channel_id: str) -> str:
    return f"channel:{channel_id}:messages"


def aggregate_topic(channel_id: str) -> str:
    return f"channel:{channel_id}:aggregate"


def site_presence_topic(site_id: str) -> str:
    return f"site:{site_id}:presence"


def agent_presence_topic(agent_id: str) -> str:
    return f"agent:{agent_id}:presence"


def timestamp(ms: int | None) -> str | None:
    """Milliseconds since the epoch as RFC 3339 UTC with milliseconds (the wire format)."""
    return None if ms is None else format_timestamp(to_datetime(ms))


def message_body(
    channel_id: str,
    seq: int,
    ts: int,
    received_at: int,
    payload: Any,
    client_message_id: str | None,
) -> str:
    """``{"channel_id":…,"seq":…,"message":{…}}``: the message as ``Message`` renders it."""
    return dumps(
        {
            "channel_id": channel_id,
            "seq": seq,
            "message": {
                "channel_id": channel_id,
                "seq": seq,
                "ts": timestamp(ts),
                "received_at": timestamp(received_at),
                "payload": payload,
                "client_message_id": client_message_id,
            },
        }
    )


def aggregate_body(channel_id: str, version: int, data: Any, updated_at: int | None) -> str:
    return dumps(
        {
            "channel_id": channel_id,
            "version": version,
            "data": data,
            "updated_at": timestamp(updated_at),
        }
    )


def presence_body(agent_id: str, site_id: str, at_ms: int, last_seen: int | None) -> str:
    return dumps(
        {
            "agent_id": agent_id,
            "site_id": site_id,
            "at": timestamp(at_ms),
            "last_seen": timestamp(last_seen),
        }
    )


def message_event(message: CommittedMessage) -> BusEvent:
    body = message_body(
        message.channel_id,
        message.seq,
        message.ts,
        message.received_at,
        message.payload,
        message.client_message_id,
    )
    return BusEvent(MESSAGE_CREATED, message.channel_id, message.seq, body)


def aggregate_event(aggregate: CommittedAggregate) -> BusEvent:
    body = aggregate_body(
        aggregate.channel_id, aggregate.version, aggregate.data, aggregate.updated_at
    )
    return BusEvent(AGGREGATE_UPDATED, aggregate.channel_id, aggregate.version, body)


def presence_event(
    agent_id: str, site_id: str, *, online: bool, at_ms: int, last_seen: int | None
) -> BusEvent:
    body = presence_body(agent_id, site_id, at_ms, last_seen)
    return BusEvent(AGENT_ONLINE if online else AGENT_OFFLINE, agent_id, at_ms, body)


def splice(prefix: str, body: str) -> str:
    """``prefix`` (``{"type":…,"sub":…,``) joined to a body object: one frame.

    >>> splice('{"type":"x",', '{"a":1}')
    '{"type":"x","a":1}'
    """
    return prefix + body[1:]


def prefix(**fields: Any) -> str:
    """The opening of a frame with these fields first, ready for :func:`splice`.

    >>> prefix(type="message.created", sub="s1")
    '{"type":"message.created","sub":"s1",'
    """
    return dumps(fields)[:-1] + ","
