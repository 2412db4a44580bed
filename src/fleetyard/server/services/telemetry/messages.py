"""Reading the message log: latest, pages, time windows, one message; edits and deletes.

Windows are half-open: ``start <= ts < end`` (either side may be open), so
consecutive windows never share a message. Without a window, pages follow
``seq`` (arrival order); with one they follow ``(ts, seq)`` (message time).
Cursors are opaque strings: ``s<seq>`` or ``t<ts>.<seq>``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.telemetry import ChannelLatest, Message
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import now_ms
from fleetyard.server.services.errors import BadRequest, NotFound
from fleetyard.server.services.pagination import PageResult
from fleetyard.server.services.telemetry import access
from fleetyard.server.services.telemetry.channels import Target, checked_name, load_channel
from fleetyard.server.services.telemetry.ingest import IngestWriter
from fleetyard.server.services.telemetry.models import aggregate_from_record, message_model
from fleetyard.server.services.telemetry.publishing import (
    Publish,
    invalid_payload,
    payload_problems,
)
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories.telemetry import channels as channel_repo
from fleetyard.server.storage.repositories.telemetry import messages as repo

MAX_LIMIT = 10_000
_CURSOR = re.compile(r"^(?:s(\d+)|t(-?\d+)\.(\d+))$")


def _cursor_error() -> BadRequest:
    return BadRequest("This cursor was not handed out by this list.", code=ErrorCode.INVALID_CURSOR)


async def list_messages(
    database: Database,
    principal: Principal,
    target: Target,
    *,
    limit: int = 100,
    cursor: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    newest_first: bool = True,
) -> PageResult[Message]:
    """A page of a channel's log; ``next_after`` is the cursor of the next page.

    ``limit=N`` without a window or cursor is "the latest N, newest first".
    """
    limit = max(1, min(limit, MAX_LIMIT))
    windowed = start_ms is not None or end_ms is not None
    match = _CURSOR.match(cursor) if cursor is not None else None
    if cursor is not None and (match is None or (match.group(1) is None) != windowed):
        raise _cursor_error()
    async with database.connect() as conn:
        channel = await load_channel(conn, principal, target, access.READ)
        if windowed:
            after = None if match is None else (int(match.group(2)), int(match.group(3)))
            rows = await repo.list_window(
                conn,
                channel.pk,
                org_id=principal.org_id,
                start_ms=start_ms,
                end_ms=end_ms,
                after=after,
                descending=newest_first,
                limit=limit,
            )
        else:
            seq = None if match is None else int(match.group(1))
            rows = await repo.list_by_seq(
                conn,
                channel.pk,
                org_id=principal.org_id,
                before_seq=seq if newest_first else None,
                after_seq=None if newest_first else seq,
                descending=newest_first,
                limit=limit,
            )
    shown = rows[:limit]
    next_cursor = None
    if len(rows) > limit and shown:
        last = shown[-1]
        next_cursor = f"t{last.ts}.{last.seq}" if windowed else f"s{last.seq}"
    return PageResult([message_model(channel.id, r) for r in shown], next_cursor)


async def get_message(
    database: Database, principal: Principal, target: Target, seq: int
) -> Message:
    async with database.connect() as conn:
        channel = await load_channel(conn, principal, target, access.READ)
        record = await repo.get(conn, channel.pk, seq, org_id=principal.org_id)
    if record is None:
        raise NotFound(f"Message {seq} of channel {channel.id!r} was not found.")
    return message_model(channel.id, record)


async def update_message(
    writer: IngestWriter, principal: Principal, target: Target, seq: int, payload: Any
) -> Message:
    """Replace a logged message's payload (``write``; checked against the channel's schema).

    The aggregate is not recomputed: it reflects what was published.
    """

    async def update(conn: AsyncConnection) -> Message:
        channel = await load_channel(conn, principal, target, access.WRITE)
        problems = payload_problems(channel, Publish(payload=payload), now_ms())
        if problems:
            raise invalid_payload(problems, ["body"])
        if not await repo.update_payload(
            conn, channel.pk, seq, org_id=principal.org_id, payload=payload
        ):
            raise NotFound(f"Message {seq} of channel {channel.id!r} was not found.")
        record = await repo.get(conn, channel.pk, seq, org_id=principal.org_id)
        assert record is not None
        return message_model(channel.id, record)

    return await writer.run(update)


async def delete_message(
    writer: IngestWriter, principal: Principal, target: Target, seq: int
) -> None:
    """Delete one logged message (``admin``). Its seq is never reused."""

    async def delete(conn: AsyncConnection) -> None:
        channel = await load_channel(conn, principal, target, access.ADMIN)
        if not await repo.delete(conn, channel.pk, seq, org_id=principal.org_id):
            raise NotFound(f"Message {seq} of channel {channel.id!r} was not found.")

    await writer.run(delete)


async def latest_across_agents(
    database: Database,
    principal: Principal,
    name: str,
    *,
    site_id: str | None = None,
    agent_ids: Collection[str] | None = None,
    after_agent: str | None = None,
    limit: int = 100,
) -> PageResult[ChannelLatest]:
    """The channel ``name`` of every agent the caller may read (optionally one site's,
    or the named agents'): aggregate plus newest message, ordered by agent id.
    ``next_after`` is the agent id to continue after."""
    _, stored = checked_name(name)
    limit = max(1, min(limit, 1000))
    sites, agents = access.visible(principal)
    async with database.connect() as conn:
        rows = await channel_repo.same_name(
            conn,
            org_id=principal.org_id,
            name=stored,
            visible_sites=sites,
            visible_agents=agents,
            agent_ids=agent_ids,
            site_id=site_id,
            after_agent=after_agent,
            limit=limit,
        )
        shown = [
            (channel, aggregate)
            for channel, aggregate in rows[:limit]
            if access.can(
                principal,
                site_id=channel.site_id,
                agent_id=channel.agent_id,
                permission=access.channel_read_permission(channel.is_private),
            )
        ]
        latest = await repo.latest(conn, [c.pk for c, _ in shown], org_id=principal.org_id)
    items = [
        ChannelLatest(
            agent_id=channel.agent_id,
            channel_id=channel.id,
            name=channel.name,
            aggregate=aggregate_from_record(channel.id, aggregate),
            message=None
            if channel.pk not in latest
            else message_model(channel.id, latest[channel.pk]),
        )
        for channel, aggregate in shown
    ]
    more = len(rows) > limit and bool(rows[:limit])
    return PageResult(items, rows[limit - 1][0].agent_id if more else None)
