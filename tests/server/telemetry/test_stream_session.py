"""Stream sessions against storage and the bus: resume, lagging, gaps, duplicates, access."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from fleetyard.protocol.scopes import parse_scopes
from fleetyard.protocol.stream import (
    ChannelSubscription,
    PresenceSubscription,
    StreamSubscribe,
)
from fleetyard.protocol.telemetry import ChannelCreate
from fleetyard.server.bus import BusEvent, MemoryBus
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.errors import Forbidden, NotFound
from fleetyard.server.services.telemetry.channels import create_channel
from fleetyard.server.services.telemetry.events import message_body, messages_topic
from fleetyard.server.services.telemetry.fanout import StreamFanout
from fleetyard.server.services.telemetry.ingest import IngestWriter
from fleetyard.server.services.telemetry.publishing import Publish, publish, update_aggregate
from fleetyard.server.services.telemetry.stream import ClientTooSlow, StreamSession
from fleetyard.server.storage.database import Database
from tests.server.telemetry.conftest import Tenant

pytestmark = pytest.mark.anyio


class Client:
    """What a session sent, parsed; ``gate`` cleared makes the client stop reading."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.arrived = asyncio.Event()

    async def emit(self, kind: str, frame: str) -> None:
        await self.gate.wait()
        data = json.loads(frame)
        assert data["type"] == kind
        self.frames.append(data)
        self.arrived.set()

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == kind]

    def seqs(self) -> list[int]:
        return [f["seq"] for f in self.of("message.created")]

    async def until(self, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(20.0):
            while not done():
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
async def fanout_writer(writer: IngestWriter, bus: MemoryBus) -> IngestWriter:
    writer.add_listener(StreamFanout(bus))
    return writer


async def _session(
    db: Database, bus: MemoryBus, principal: Principal, client: Client, **options: Any
) -> AsyncIterator[StreamSession]:
    session = StreamSession(db, bus, principal, client.emit, **options)
    pump = asyncio.ensure_future(session.pump())
    try:
        yield session
    finally:
        session.close()
        await asyncio.wait_for(pump, 5)


async def _channel(db: Database, tenant: Tenant, name: str = "status", **extra: Any) -> str:
    channel, _ = await create_channel(
        db, tenant.principal, tenant.agent.id, ChannelCreate(name=name, **extra)
    )
    return channel.id


async def _publish(writer: IngestWriter, tenant: Tenant, channel_id: str, *ns: int) -> None:
    for n in ns:
        await publish(writer, tenant.principal, channel_id, Publish({"n": n}))


def _subscribe(channel_id: str, **spec: Any) -> StreamSubscribe:
    return StreamSubscribe(id="s1", channels=[ChannelSubscription(channel_id=channel_id, **spec)])


async def test_resume_replays_then_goes_live_with_no_gap_or_duplicate_while_publishing(
    db: Database, fanout_writer: IngestWriter, bus: MemoryBus, tenant: Tenant
) -> None:
    channel_id = await _channel(db, tenant)
    await _publish(fanout_writer, tenant, channel_id, *range(1, 51))
    client = Client()
    async for session in _session(db, bus, tenant.principal, client):
        # Publishing continues while the session subscribes, replays and drains.
        publisher = asyncio.ensure_future(
            _publish(fanout_writer, tenant, channel_id, *range(51, 301))
        )
        await session.subscribe(_subscribe(channel_id, after=10))
        await publisher
        await client.until(lambda: bool(client.seqs()) and client.seqs()[-1] == 300)
    assert client.seqs() == list(range(11, 301))
    [subscribed] = client.of("subscribed")
    assert subscribed["channels"][0]["seq"] == 10
    payloads = [f["message"]["payload"]["n"] for f in client.of("message.created")]
    assert payloads == list(range(11, 301))


async def test_without_after_a_channel_starts_from_now(
    db: Database, fanout_writer: IngestWriter, bus: MemoryBus, tenant: Tenant
) -> None:
    channel_id = await _channel(db, tenant)
    await _publish(fanout_writer, tenant, channel_id, 1, 2, 3)
    client = Client()
    async for session in _session(db, bus, tenant.principal, client):
        await session.subscribe(_subscribe(channel_id))
        await _publish(fanout_writer, tenant, channel_id, 4, 5)
        await client.until(lambda: len(client.seqs()) == 2)
    assert client.of("subscribed")[0]["channels"][0]["seq"] == 3
    assert client.seqs() == [4, 5]


async def test_a_lagging_session_catches_up_from_storage_in_order(
    db: Database, fanout_writer: IngestWriter, bus: MemoryBus, tenant: Tenant
) -> None:
    channel_id = await _channel(db, tenant)
    client = Client()
    async for session in _session(db, bus, tenant.principal, client, max_pending=5):
        await session.subscribe(_subscribe(channel_id))
        client.gate.clear()  # the client stops reading
        await _publish(fanout_writer, tenant, channel_id, *range(1, 101))
        assert bus.lag_count >= 1  # its bus queue overflowed and was dropped
        client.gate.set()
        await client.until(lambda: bool(client.seqs()) and client.seqs()[-1] == 100)
    assert client.seqs() == list(range(1, 101))


async def test_a_gap_in_live_events_is_filled_from_storage_and_duplicates_are_skipped(
    db: Database, writer: IngestWriter, bus: MemoryBus, tenant: Tenant
) -> None:
    channel_id = await _channel(db, tenant)
    client = Client()
    async for session in _session(db, bus, tenant.principal, client):
        await session.subscribe(_subscribe(channel_id))
        # 1..3 commit without any event (as if a networked bus lost them)…
        await _publish(writer, tenant, channel_id, 1, 2, 3)
        writer.add_listener(StreamFanout(bus))
        await _publish(writer, tenant, channel_id, 4)  # …4 arrives: 1..3 come from storage
        await client.until(lambda: len(client.seqs()) == 4)
        # The same event delivered twice (a bus redelivery) reaches the client once.
        again = BusEvent(
            "message.created", channel_id, 4, message_body(channel_id, 4, 1, 1, 0, None)
        )
        await bus.publish(messages_topic(channel_id), again)
        await _publish(writer, tenant, channel_id, 5)
        await client.until(lambda: len(client.seqs()) == 5)
    assert client.seqs() == [1, 2, 3, 4, 5]


async def test_aggregates_resume_by_version_and_stream_live(
    db: Database, fanout_writer: IngestWriter, bus: MemoryBus, tenant: Tenant
) -> None:
    channel_id = await _channel(db, tenant)
    await _publish(fanout_writer, tenant, channel_id, 1, 2, 3)  # aggregate version 3
    client = Client()
    async for session in _session(db, bus, tenant.principal, client):
        request = StreamSubscribe(
            id="s1",
            aggregates=True,
            channels=[ChannelSubscription(channel_id=channel_id, aggregate_after=1)],
        )
        await session.subscribe(request)
        await client.until(lambda: len(client.of("aggregate.updated")) == 1)
        await update_aggregate(fanout_writer, tenant.principal, channel_id, {"extra": True})
        await client.until(lambda: len(client.of("aggregate.updated")) == 2)
    first, second = client.of("aggregate.updated")
    assert (first["version"], first["data"]) == (3, {"n": 3})
    assert (second["version"], second["data"]) == (4, {"n": 3, "extra": True})
    assert client.seqs() == []  # an aggregate patch logs no message


async def test_subscribe_is_all_or_nothing_and_hides_what_the_caller_may_not_read(
    db: Database, fanout_writer: IngestWriter, bus: MemoryBus, tenant: Tenant, other: Tenant
) -> None:
    mine = await _channel(db, tenant)
    private = await _channel(db, tenant, "secret", is_private=True)
    theirs = await _channel(db, other)
    reader = Principal(
        kind="api_key",
        org_id=tenant.org_id,
        scopes=parse_scopes([f"site:{tenant.site_id}:read"]),
    )
    client = Client()
    async for session in _session(db, bus, reader, client):
        for channels in ([mine, theirs], [mine, private], ["ch_missing"]):
            request = StreamSubscribe(
                id="s1", channels=[ChannelSubscription(channel_id=c) for c in channels]
            )
            with pytest.raises(NotFound):
                await session.subscribe(request)
        by_name = StreamSubscribe(
            id="s1", channels=[ChannelSubscription(agent_id=other.agent.id, name="status")]
        )
        with pytest.raises(NotFound):
            await session.subscribe(by_name)
        assert client.frames == []  # nothing half-subscribed
        elsewhere = StreamSubscribe(id="s2", presence=PresenceSubscription(site_id="site_x"))
        with pytest.raises(Forbidden):
            await session.subscribe(elsewhere)
        await session.subscribe(_subscribe(mine))
    assert client.of("subscribed")[0]["channels"][0]["channel_id"] == mine


async def test_client_messages_are_answered_with_error_frames(
    db: Database, fanout_writer: IngestWriter, bus: MemoryBus, tenant: Tenant
) -> None:
    channel_id = await _channel(db, tenant)
    client = Client()
    async for session in _session(db, bus, tenant.principal, client):
        await session.handle("{not json")
        await session.handle(json.dumps({"type": "subscribe", "id": "a", "channels": []}))
        await session.handle(json.dumps({"type": "dance"}))
        sub = {"type": "subscribe", "id": "a", "channels": [{"channel_id": channel_id}]}
        await session.handle(json.dumps(sub))
        await session.handle(json.dumps(sub))
        await session.handle(json.dumps({"type": "unsubscribe", "id": "zzz"}))
        await session.handle(json.dumps({"type": "auth", "token": "x"}))
        await session.handle(json.dumps({"type": "unsubscribe", "id": "a"}))
        await _publish(fanout_writer, tenant, channel_id, 1)
        await asyncio.sleep(0.05)
    codes = [(f.get("id"), f["code"]) for f in client.of("error")]
    assert codes == [
        (None, "invalid_json"),
        ("a", "validation_failed"),
        (None, "validation_failed"),
        ("a", "already_exists"),
        ("zzz", "not_found"),
        (None, "bad_request"),
    ]
    assert [f["type"] for f in client.frames if f["type"] != "error"] == [
        "subscribed",
        "unsubscribed",
    ]
    assert client.seqs() == []  # unsubscribed before the publish


async def test_a_client_that_takes_nothing_is_cut_off_by_the_watch(
    db: Database, fanout_writer: IngestWriter, bus: MemoryBus, tenant: Tenant
) -> None:
    channel_id = await _channel(db, tenant)
    client = Client()
    async for session in _session(db, bus, tenant.principal, client, send_timeout=0.2):
        await session.subscribe(_subscribe(channel_id))
        client.gate.clear()  # stuck: the next frame never leaves
        await _publish(fanout_writer, tenant, channel_id, 1)
        with pytest.raises(ClientTooSlow):
            await asyncio.wait_for(session.watch(), 5)
        client.gate.set()
