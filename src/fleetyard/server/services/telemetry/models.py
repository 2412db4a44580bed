"""Records of the telemetry repositories turned into wire models."""

from __future__ import annotations

from typing import Any

from fleetyard.protocol.telemetry import (
    Agent,
    AgentKind,
    Aggregate,
    Channel,
    ChannelKind,
    ChannelRetention,
    Message,
)
from fleetyard.server.services.clock import optional_datetime, to_datetime
from fleetyard.server.storage.repositories.telemetry.agents import AgentRecord
from fleetyard.server.storage.repositories.telemetry.channels import (
    AggregateRecord,
    ChannelRecord,
)
from fleetyard.server.storage.repositories.telemetry.messages import MessageRecord


def agent_model(record: AgentRecord) -> Agent:
    return Agent(
        id=record.id,
        org_id=record.org_id,
        site_id=record.site_id,
        name=record.name,
        kind=AgentKind(record.kind),
        labels=record.labels,
        metadata=record.metadata,
        online=record.online,
        last_seen=optional_datetime(record.last_seen),
        created_at=to_datetime(record.created_at),
        updated_at=to_datetime(record.updated_at),
    )


def channel_model(record: ChannelRecord) -> Channel:
    age = record.retention_max_age_ms
    return Channel(
        id=record.id,
        org_id=record.org_id,
        agent_id=record.agent_id,
        name=record.name,
        kind=ChannelKind(record.kind),
        is_private=record.is_private,
        retention=ChannelRetention(
            max_age_seconds=None if age is None else age // 1000,
            max_messages=record.retention_max_messages,
        ),
        json_schema=record.json_schema,
        last_seq=record.last_seq,
        aggregate_version=record.aggregate_version,
        aggregate_updated_at=optional_datetime(record.aggregate_updated_at),
        created_at=to_datetime(record.created_at),
        updated_at=to_datetime(record.updated_at),
    )


def message_model(channel_id: str, record: MessageRecord) -> Message:
    return Message(
        channel_id=channel_id,
        seq=record.seq,
        ts=to_datetime(record.ts),
        received_at=to_datetime(record.received_at),
        payload=record.payload,
        client_message_id=record.client_message_id,
    )


def aggregate_model(channel_id: str, data: Any, version: int, updated_at: int | None) -> Aggregate:
    return Aggregate(
        channel_id=channel_id, data=data, version=version, updated_at=optional_datetime(updated_at)
    )


def aggregate_from_record(channel_id: str, record: AggregateRecord) -> Aggregate:
    return aggregate_model(channel_id, record.data, record.version, record.updated_at)
