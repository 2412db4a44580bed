"""Channels: resolve by id or (agent, name), create-or-get, list, update, delete, aggregate."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.ids import new_id
from fleetyard.protocol.telemetry import (
    CHANNEL_ID_PREFIX,
    Aggregate,
    Channel,
    ChannelCreate,
    ChannelKind,
    ChannelNameError,
    ChannelUpdate,
    parse_channel_name,
)
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import now_ms
from fleetyard.server.services.errors import NotFound, Unprocessable
from fleetyard.server.services.pagination import PageRequest, PageResult, cut
from fleetyard.server.services.telemetry import access
from fleetyard.server.services.telemetry.agents import load_agent
from fleetyard.server.services.telemetry.channel_cache import channels_changed
from fleetyard.server.services.telemetry.ingest import IngestWriter
from fleetyard.server.services.telemetry.models import aggregate_from_record, channel_model
from fleetyard.server.services.telemetry.schema import SchemaError, check_schema
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.dialect import DatabaseKind
from fleetyard.server.storage.repositories.telemetry import channels as repo
from fleetyard.server.storage.repositories.telemetry.channels import ChannelRecord


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """A channel named by id, or by its agent and name (``#proc`` / ``!task`` included).

    >>> ChannelRef.named("agt_1", "status").name
    'status'
    """

    channel_id: str | None = None
    agent_id: str | None = None
    name: str | None = None

    @classmethod
    def by_id(cls, channel_id: str) -> ChannelRef:
        return cls(channel_id=channel_id)

    @classmethod
    def named(cls, agent_id: str, name: str) -> ChannelRef:
        return cls(agent_id=agent_id, name=name)

    def describe(self) -> str:
        return repr(self.channel_id) if self.channel_id else f"{self.name!r} of {self.agent_id!r}"


Target = ChannelRef | str
"""A :class:`ChannelRef`, or a plain channel id."""


def as_ref(target: Target) -> ChannelRef:
    return ChannelRef.by_id(target) if isinstance(target, str) else target


def checked_name(name: str, kind: ChannelKind | None = None) -> tuple[ChannelKind, str]:
    """The kind and stored name, or 422 ``channel_name_invalid``."""
    try:
        return parse_channel_name(name, kind)
    except ChannelNameError as exc:
        raise Unprocessable(str(exc), code=ErrorCode.CHANNEL_NAME_INVALID) from exc


def checked_schema(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """A JSON Schema the server can enforce, or 422 ``json_schema_invalid``."""
    if schema is not None:
        try:
            check_schema(schema)
        except SchemaError as exc:
            raise Unprocessable(str(exc), code=ErrorCode.JSON_SCHEMA_INVALID) from exc
    return schema


def not_found(ref: ChannelRef) -> NotFound:
    return NotFound(f"Channel {ref.describe()} was not found.")


async def load_channel(
    conn: AsyncConnection, principal: Principal, target: Target, permission: str
) -> ChannelRecord:
    """The caller's channel, checked for ``permission`` (404 when it may not even read it)."""
    ref = as_ref(target)
    if ref.channel_id is not None:
        record = await repo.get(conn, ref.channel_id, org_id=principal.org_id)
    elif ref.agent_id is not None and ref.name is not None:
        _, name = checked_name(ref.name)
        record = await repo.get_by_name(conn, ref.agent_id, name, org_id=principal.org_id)
    else:
        raise ValueError("a ChannelRef needs channel_id, or agent_id and name")
    if record is None:
        raise not_found(ref)
    readable = access.can(
        principal,
        site_id=record.site_id,
        agent_id=record.agent_id,
        permission=access.channel_read_permission(record.is_private),
    )
    if not readable:
        raise not_found(ref)
    access.require(
        principal, site_id=record.site_id, agent_id=record.agent_id, permission=permission
    )
    return record


async def create_channel(
    database: Database, principal: Principal, agent_id: str, body: ChannelCreate
) -> tuple[Channel, bool]:
    """Create the channel, or get it when the agent already has one of that name.

    Idempotent: returns ``(channel, created)``; an existing channel is
    returned as it is (its settings are not changed). Needs ``write``.
    """
    kind, name = checked_name(body.name, body.kind)
    schema = checked_schema(body.json_schema)
    retention = body.retention
    async with database.begin() as conn:
        agent = await load_agent(conn, principal, agent_id, access.WRITE)
        record, created = await _insert_or_get(
            conn,
            database.kind,
            org_id=principal.org_id,
            agent_id=agent.id,
            site_id=agent.site_id,
            name=name,
            channel_kind=kind,
            is_private=body.is_private,
            max_age_ms=None
            if retention is None or retention.max_age_seconds is None
            else retention.max_age_seconds * 1000,
            max_messages=None if retention is None else retention.max_messages,
            json_schema=schema,
        )
    return channel_model(record), created


async def _insert_or_get(
    conn: AsyncConnection,
    kind: DatabaseKind,
    *,
    org_id: str,
    agent_id: str,
    site_id: str,
    name: str,
    channel_kind: ChannelKind,
    is_private: bool = False,
    max_age_ms: int | None = None,
    max_messages: int | None = None,
    json_schema: dict[str, Any] | None = None,
) -> tuple[ChannelRecord, bool]:
    existing = await repo.get_by_name(conn, agent_id, name, org_id=org_id)
    if existing is not None:
        return existing, False
    now = now_ms()
    record = await repo.insert(
        conn,
        kind,
        org_id=org_id,
        channel_id=new_id(CHANNEL_ID_PREFIX, now_ms=now),
        agent_id=agent_id,
        site_id=site_id,
        name=name,
        channel_kind=channel_kind.value,
        is_private=is_private,
        retention_max_age_ms=max_age_ms,
        retention_max_messages=max_messages,
        json_schema=json_schema,
        now_ms=now,
    )
    if record is not None:
        return record, True
    # Another request created it between our read and our insert.
    raced = await repo.get_by_name(conn, agent_id, name, org_id=org_id)
    if raced is None:  # pragma: no cover - created and deleted again meanwhile
        raise NotFound(f"Channel {name!r} of {agent_id!r} was not found.")
    return raced, False


async def ensure_channels(
    database: Database, principal: Principal, wanted: list[tuple[str, str]]
) -> dict[tuple[str, str], ChannelRecord]:
    """Create-or-get channels by ``(agent_id, stored name)`` for publishing (``write``).

    Agents that are missing or not writable are left out of the answer.
    """
    found: dict[tuple[str, str], ChannelRecord] = {}
    async with database.begin() as conn:
        for agent_id, name in wanted:
            site = await repo.agent_site(conn, agent_id, org_id=principal.org_id)
            if site is None or not access.can(
                principal, site_id=site, agent_id=agent_id, permission=access.WRITE
            ):
                continue
            kind, _ = checked_name(name)
            record, _ = await _insert_or_get(
                conn,
                database.kind,
                org_id=principal.org_id,
                agent_id=agent_id,
                site_id=site,
                name=name,
                channel_kind=kind,
            )
            found[(agent_id, name)] = record
    return found


async def writable_agents(
    database: Database, principal: Principal, agent_ids: Collection[str]
) -> set[str]:
    """Those of ``agent_ids`` that exist in the caller's organisation and that it may write
    (publish to, create channels of)."""
    writable: set[str] = set()
    async with database.connect() as conn:
        for agent_id in sorted(agent_ids):
            site = await repo.agent_site(conn, agent_id, org_id=principal.org_id)
            if site is not None and access.can(
                principal, site_id=site, agent_id=agent_id, permission=access.WRITE
            ):
                writable.add(agent_id)
    return writable


async def get_channel(database: Database, principal: Principal, target: Target) -> Channel:
    async with database.connect() as conn:
        return channel_model(await load_channel(conn, principal, target, access.READ))


async def list_channels(
    database: Database,
    principal: Principal,
    agent_id: str,
    page: PageRequest,
    *,
    kind: ChannelKind | None = None,
) -> PageResult[Channel]:
    """An agent's channels by id; private ones only for callers who may write."""
    async with database.connect() as conn:
        agent = await load_agent(conn, principal, agent_id, access.READ)
        may_write = access.can(
            principal, site_id=agent.site_id, agent_id=agent.id, permission=access.WRITE
        )
        rows = await repo.list_page(
            conn,
            org_id=principal.org_id,
            agent_id=agent.id,
            kind=None if kind is None else kind.value,
            include_private=may_write,
            after=page.after,
            limit=page.limit,
        )
    return cut(rows, page, lambda r: r.id, channel_model)


async def update_channel(
    database: Database, principal: Principal, target: Target, body: ChannelUpdate
) -> Channel:
    """Change privacy, retention or schema (``write``); ``null`` clears retention/schema."""
    changes: dict[str, Any] = {}
    fields = body.model_fields_set
    if "is_private" in fields and body.is_private is not None:
        changes["is_private"] = body.is_private
    if "retention" in fields:
        age = None if body.retention is None else body.retention.max_age_seconds
        changes["retention_max_age_ms"] = None if age is None else age * 1000
        changes["retention_max_messages"] = (
            None if body.retention is None else body.retention.max_messages
        )
    if "json_schema" in fields:
        changes["json_schema"] = checked_schema(body.json_schema)
    async with database.begin() as conn:
        record = await load_channel(conn, principal, target, access.WRITE)
        updated = await repo.update(
            conn, record.id, org_id=principal.org_id, changes=changes, now_ms=now_ms()
        )
    channels_changed()
    if updated is None:
        raise not_found(as_ref(target))
    return channel_model(updated)


async def delete_channel(writer: IngestWriter, principal: Principal, target: Target) -> str:
    """Delete a channel and its whole log (``admin``); returns its id.

    Runs through the ingest writer: it deletes message rows (cascade).
    """

    async def delete(conn: AsyncConnection) -> str | None:
        record = await load_channel(conn, principal, target, access.ADMIN)
        deleted = await repo.delete(conn, record.id, org_id=principal.org_id)
        return record.id if deleted else None

    channel_id = await writer.run(delete)
    channels_changed()
    if channel_id is None:
        raise not_found(as_ref(target))
    return channel_id


async def get_aggregate(database: Database, principal: Principal, target: Target) -> Aggregate:
    """The channel's aggregate with its version (the ETag) and time of last change."""
    async with database.connect() as conn:
        record = await load_channel(conn, principal, target, access.READ)
        aggregate = await repo.get_aggregate(conn, record.pk, org_id=principal.org_id)
    if aggregate is None:
        raise not_found(as_ref(target))
    return aggregate_from_record(record.id, aggregate)
