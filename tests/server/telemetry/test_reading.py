"""Reading the log: window edges, cursor pages, one message, edits, same name across agents."""

from __future__ import annotations

import pytest

from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.telemetry import AgentCreate, ChannelCreate
from fleetyard.server.services.errors import BadRequest, NotFound, Unprocessable
from fleetyard.server.services.telemetry.agents import create_agent
from fleetyard.server.services.telemetry.channels import ChannelRef, create_channel
from fleetyard.server.services.telemetry.ingest import IngestWriter
from fleetyard.server.services.telemetry.messages import (
    delete_message,
    get_message,
    latest_across_agents,
    list_messages,
    update_message,
)
from fleetyard.server.services.telemetry.publishing import Publish, publish_batch
from fleetyard.server.storage.database import Database
from tests.server.telemetry.conftest import Tenant

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000_000


async def _channel_with_times(
    db: Database, writer: IngestWriter, tenant: Tenant, times: list[int]
) -> str:
    channel, _ = await create_channel(
        db, tenant.principal, tenant.agent.id, ChannelCreate(name="t")
    )
    await publish_batch(
        writer,
        tenant.principal,
        [(channel.id, Publish({"i": i}, timestamp_ms=ts)) for i, ts in enumerate(times)],
    )
    return channel.id


async def test_window_is_start_inclusive_end_exclusive(
    db: Database, writer: IngestWriter, tenant: Tenant
) -> None:
    # Published out of time order: client timestamps may lie in the past.
    times = [T0 + 3000, T0, T0 + 1000, T0 + 2000, T0 + 1000]
    channel_id = await _channel_with_times(db, writer, tenant, times)
    p = tenant.principal

    async def window(start: int | None, end: int | None, newest_first: bool = False) -> list[int]:
        page = await list_messages(
            db, p, channel_id, start_ms=start, end_ms=end, newest_first=newest_first
        )
        return [m.seq for m in page.items]

    assert await window(T0 + 1000, T0 + 3000) == [3, 5, 4]
    assert await window(T0 + 1000, T0 + 1001) == [3, 5]
    assert await window(T0 + 1000, T0 + 1000) == []
    assert await window(None, T0 + 1000) == [2]
    assert await window(T0 + 3000, None) == [1]
    assert await window(T0, None, newest_first=True) == [1, 4, 5, 3, 2]


async def test_cursor_pages_cover_everything_once(
    db: Database, writer: IngestWriter, tenant: Tenant
) -> None:
    times = [T0 + (i % 4) * 1000 for i in range(11)]
    channel_id = await _channel_with_times(db, writer, tenant, times)
    p = tenant.principal
    for kwargs in (
        {},
        {"newest_first": False},
        {"start_ms": T0},
        {"start_ms": T0, "newest_first": False},
    ):
        seen: list[int] = []
        cursor = None
        while True:
            page = await list_messages(db, p, channel_id, limit=3, cursor=cursor, **kwargs)
            seen.extend(m.seq for m in page.items)
            cursor = page.next_after
            if cursor is None:
                break
        assert sorted(seen) == list(range(1, 12)), kwargs
        assert len(seen) == 11, kwargs
    latest = await list_messages(db, p, channel_id, limit=2)
    assert [m.seq for m in latest.items] == [11, 10]
    with pytest.raises(BadRequest) as bad:
        await list_messages(db, p, channel_id, cursor="s3", start_ms=T0)
    assert bad.value.code is ErrorCode.INVALID_CURSOR
    with pytest.raises(BadRequest):
        await list_messages(db, p, channel_id, cursor="garbage")


async def test_one_message_update_and_delete(
    db: Database, writer: IngestWriter, tenant: Tenant
) -> None:
    channel_id = await _channel_with_times(db, writer, tenant, [T0, T0 + 1])
    p = tenant.principal
    message = await get_message(db, p, channel_id, 2)
    assert message.payload == {"i": 1}
    assert message.ts.year == 2023
    updated = await update_message(writer, p, channel_id, 2, {"i": "fixed"})
    assert updated.payload == {"i": "fixed"}
    await delete_message(writer, p, channel_id, 1)
    with pytest.raises(NotFound):
        await get_message(db, p, channel_id, 1)
    with pytest.raises(NotFound):
        await delete_message(writer, p, channel_id, 1)
    assert [m.seq for m in (await list_messages(db, p, channel_id)).items] == [2]


async def test_update_respects_the_schema(
    db: Database, writer: IngestWriter, tenant: Tenant
) -> None:
    schema = {"type": "object", "required": ["t"]}
    channel, _ = await create_channel(
        db, tenant.principal, tenant.agent.id, ChannelCreate(name="s", json_schema=schema)
    )
    await publish_batch(writer, tenant.principal, [(channel.id, Publish({"t": 1}))])
    with pytest.raises(Unprocessable):
        await update_message(writer, tenant.principal, channel.id, 1, {"x": 1})
    assert (await get_message(db, tenant.principal, channel.id, 1)).payload == {"t": 1}


async def test_same_channel_name_across_agents(
    db: Database, writer: IngestWriter, tenant: Tenant, other: Tenant
) -> None:
    p = tenant.principal
    agents = [tenant.agent] + [
        await create_agent(db, p, AgentCreate(site_id=tenant.site_id, name=f"pump-{i}"))
        for i in range(2, 5)
    ]
    items = [
        (ChannelRef.named(a.id, "status"), Publish({"n": i, "seq": s}))
        for i, a in enumerate(agents[:3])
        for s in range(2)
    ]
    await publish_batch(writer, p, items)
    await create_channel(db, p, agents[3].id, ChannelCreate(name="status"))  # no messages yet
    await publish_batch(
        writer, other.principal, [(ChannelRef.named(other.agent.id, "status"), Publish(1))]
    )
    page = await latest_across_agents(db, p, "status", limit=3)
    assert len(page.items) == 3
    assert page.next_after == page.items[-1].agent_id
    rest = await latest_across_agents(db, p, "status", after_agent=page.next_after)
    everything = page.items + rest.items
    assert rest.next_after is None
    assert sorted(i.agent_id for i in everything) == sorted(a.id for a in agents)
    by_agent = {i.agent_id: i for i in everything}
    newest = by_agent[agents[1].id].message
    assert newest is not None
    assert newest.payload == {"n": 1, "seq": 1}
    assert by_agent[agents[1].id].aggregate.data == {"n": 1, "seq": 1}
    assert by_agent[agents[3].id].message is None
    only = await latest_across_agents(db, p, "status", agent_ids=[agents[0].id])
    assert [i.agent_id for i in only.items] == [agents[0].id]
