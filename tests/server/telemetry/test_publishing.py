"""Publishing through the ingest writer: seqs, aggregates, dedup, validation, back-pressure."""

from __future__ import annotations

import asyncio

import pytest

from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.telemetry import ChannelCreate
from fleetyard.server.services.errors import (
    NotFound,
    Overloaded,
    PreconditionFailed,
    ServiceError,
    Unavailable,
    Unprocessable,
)
from fleetyard.server.services.telemetry.channels import (
    ChannelRef,
    create_channel,
    delete_channel,
    get_aggregate,
    get_channel,
)
from fleetyard.server.services.telemetry.ingest import (
    CommittedBatch,
    IngestItem,
    IngestResult,
    IngestWriter,
)
from fleetyard.server.services.telemetry.messages import list_messages
from fleetyard.server.services.telemetry.publishing import (
    Publish,
    ack,
    ack_json,
    publish,
    publish_batch,
    update_aggregate,
)
from fleetyard.server.storage.database import Database
from tests.server.telemetry.conftest import Tenant

pytestmark = pytest.mark.anyio


async def _seqs(db: Database, tenant: Tenant, channel_id: str) -> list[int]:
    page = await list_messages(db, tenant.principal, channel_id, limit=10_000, newest_first=False)
    return [m.seq for m in page.items]


async def test_concurrent_publishers_get_gap_free_seqs(
    db: Database, writer: IngestWriter, tenant: Tenant
) -> None:
    channel, _ = await create_channel(
        db, tenant.principal, tenant.agent.id, ChannelCreate(name="t")
    )

    async def publisher(worker: int) -> list[int]:
        acks = []
        for i in range(50):
            ack = await publish(
                writer, tenant.principal, channel.id, Publish({"w": worker, "i": i})
            )
            acks.append(ack.seq)
        return [s for s in acks if s is not None]

    results = await asyncio.gather(*(publisher(w) for w in range(20)))
    acked = sorted(s for r in results for s in r)
    assert acked == list(range(1, 1001))
    assert await _seqs(db, tenant, channel.id) == list(range(1, 1001))
    assert (await get_channel(db, tenant.principal, channel.id)).last_seq == 1000
    for r in results:  # each publisher's own messages are in order
        assert r == sorted(r)


async def test_aggregate_merges_deletes_with_null_and_overrides(
    db: Database, writer: IngestWriter, tenant: Tenant
) -> None:
    ref = ChannelRef.named(tenant.agent.id, "state")
    p = tenant.principal
    await publish(writer, p, ref, Publish({"a": 1, "b": {"x": 1, "y": 2}}))
    await publish(writer, p, ref, Publish({"b": {"y": None, "z": 3}, "c": [1]}))
    aggregate = await get_aggregate(db, p, ref)
    assert aggregate.data == {"a": 1, "b": {"x": 1, "z": 3}, "c": [1]}
    assert aggregate.version == 2
    assert aggregate.updated_at is not None
    await publish(writer, p, ref, Publish({"only": True}, override_aggregate=True))
    assert (await get_aggregate(db, p, ref)).data == {"only": True}
    # The log keeps what was published, not the aggregate.
    page = await list_messages(db, p, ref, newest_first=False)
    assert [m.payload for m in page.items][1] == {"b": {"y": None, "z": 3}, "c": [1]}


async def test_save_log_and_log_aggregate(
    db: Database, writer: IngestWriter, tenant: Tenant
) -> None:
    ref = ChannelRef.named(tenant.agent.id, "state")
    p = tenant.principal
    silent = await publish(writer, p, ref, Publish({"a": 1}, save_log=False))
    assert silent.seq is None
    assert silent.aggregate_version == 1
    logged = await publish(writer, p, ref, Publish({"b": 2}, save_log=False, log_aggregate=True))
    assert logged.seq == 1
    [message] = (await list_messages(db, p, ref)).items
    assert message.payload == {"a": 1, "b": 2}


async def test_dedup_by_client_message_id_within_and_across_batches(
    db: Database, writer: IngestWriter, tenant: Tenant
) -> None:
    p = tenant.principal
    ref = ChannelRef.named(tenant.agent.id, "t")
    acks = await publish_batch(
        writer,
        p,
        [
            (ref, Publish({"v": 1}, client_message_id="m1")),
            (ref, Publish({"v": 2}, client_message_id="m2")),
            (ref, Publish({"v": 1}, client_message_id="m1")),
        ],
    )
    assert [(a.seq, a.duplicate) for a in acks] == [(1, False), (2, False), (1, True)]
    again = await publish(writer, p, ref, Publish({"v": 1}, client_message_id="m1"))
    assert (again.seq, again.duplicate) == (1, True)
    assert again.ts == acks[0].ts
    # The same id in another channel is another message.
    other = await publish(
        writer, p, ChannelRef.named(tenant.agent.id, "u"), Publish(1, client_message_id="m1")
    )
    assert (other.seq, other.duplicate) == (1, False)
    assert await _seqs(db, tenant, (await get_channel(db, p, ref)).id) == [1, 2]
    # A duplicate does not touch the aggregate again.
    assert (await get_aggregate(db, p, ref)).version == 2


async def test_concurrent_resends_are_stored_once(
    db: Database, writer: IngestWriter, tenant: Tenant
) -> None:
    ref = ChannelRef.named(tenant.agent.id, "t")
    await publish(writer, tenant.principal, ref, Publish(0))
    acks = await asyncio.gather(
        *(
            publish(writer, tenant.principal, ref, Publish({"v": 1}, client_message_id="same"))
            for _ in range(10)
        )
    )
    assert {a.seq for a in acks} == {2}
    assert sum(not a.duplicate for a in acks) == 1


async def test_bad_names_and_payloads_store_nothing(
    db: Database, writer: IngestWriter, tenant: Tenant
) -> None:
    p = tenant.principal
    schema = {"type": "object", "properties": {"t": {"type": "number"}}, "required": ["t"]}
    channel, _ = await create_channel(
        db, p, tenant.agent.id, ChannelCreate(name="typed", json_schema=schema)
    )
    with pytest.raises(Unprocessable) as bad:
        await publish(writer, p, channel.id, Publish({"t": "warm"}))
    assert bad.value.code is ErrorCode.PAYLOAD_INVALID
    assert bad.value.extra["errors"][0]["loc"] == ["body", "payload"]
    with pytest.raises(Unprocessable) as named:
        await publish(writer, p, ChannelRef.named(tenant.agent.id, "a/b"), Publish(1))
    assert named.value.code is ErrorCode.CHANNEL_NAME_INVALID
    with pytest.raises(Unprocessable) as batch:
        await publish_batch(
            writer,
            p,
            [
                (channel.id, Publish({"t": 1})),
                (channel.id, Publish({"x": 1})),
                (ChannelRef.named(tenant.agent.id, "bad/name"), Publish(1)),
                (ChannelRef.by_id("ch_missing"), Publish(1)),
                (channel.id, Publish({"t": 2}, timestamp_ms=2**50)),
            ],
        )
    assert batch.value.code is ErrorCode.PAYLOAD_INVALID
    locs = [e["loc"][:3] for e in batch.value.extra["errors"]]
    assert sorted({tuple(x) for x in locs}) == [
        ("body", "items", 1),
        ("body", "items", 2),
        ("body", "items", 3),
        ("body", "items", 4),
    ]
    types = {e["loc"][2]: e["type"] for e in batch.value.extra["errors"]}
    assert types[2] == "channel_name_invalid"
    assert types[3] == "not_found"
    assert await _seqs(db, tenant, channel.id) == []
    assert (await get_aggregate(db, p, channel.id)).version == 0
    with pytest.raises(Unprocessable) as schema_error:
        await create_channel(
            db, p, tenant.agent.id, ChannelCreate(name="x", json_schema={"$ref": "#"})
        )
    assert schema_error.value.code is ErrorCode.JSON_SCHEMA_INVALID


async def test_aggregate_patch_with_if_match(
    db: Database, writer: IngestWriter, tenant: Tenant
) -> None:
    p = tenant.principal
    ref = ChannelRef.named(tenant.agent.id, "config")
    await publish(writer, p, ref, Publish({"mode": "auto"}))
    updated = await update_aggregate(writer, p, ref, {"speed": 3}, if_version=1)
    assert updated.data == {"mode": "auto", "speed": 3}
    assert updated.version == 2
    with pytest.raises(PreconditionFailed) as stale:
        await update_aggregate(writer, p, ref, {"speed": 4}, if_version=1)
    assert stale.value.extra["current_version"] == 2
    replaced = await update_aggregate(writer, p, ref, {"x": 1}, override=True)
    assert replaced.data == {"x": 1}
    assert await _seqs(db, tenant, (await get_channel(db, p, ref)).id) == [1]


async def test_full_queue_is_overloaded_and_stop_drains(db: Database, tenant: Tenant) -> None:
    channel, _ = await create_channel(
        db, tenant.principal, tenant.agent.id, ChannelCreate(name="t")
    )
    writer = IngestWriter(db, max_pending=3, retry_after_seconds=2)
    with pytest.raises(Unavailable):  # not started yet
        await publish(writer, tenant.principal, channel.id, Publish(1))
    await writer.start()
    item = IngestItem(tenant.org_id, 0, channel.id, 1, 1)
    # Queue directly, without yielding to the writer task, so the queue cannot drain.
    pk = (await get_channel(db, tenant.principal, channel.id)).id
    assert pk == channel.id
    from fleetyard.server.storage.repositories.telemetry import channels as repo

    async with db.connect() as conn:
        record = await repo.get(conn, channel.id, org_id=tenant.org_id)
    assert record is not None
    item.channel_pk = record.pk
    first = asyncio.ensure_future(writer.submit([item, item]))
    second = asyncio.ensure_future(writer.submit([item]))
    third = asyncio.ensure_future(writer.submit([item]))
    done = await asyncio.gather(first, second, third, return_exceptions=True)
    overloaded = [r for r in done if isinstance(r, Overloaded)]
    assert len(overloaded) == 1
    assert overloaded[0].status == 503
    assert overloaded[0].headers == {"Retry-After": "2"}
    assert overloaded[0].code is ErrorCode.OVERLOADED
    # A request larger than the queue still goes through when the queue is empty.
    await writer.submit([item] * 5)
    # stop() stores what is queued before ending.
    pending = [asyncio.ensure_future(writer.submit([item])) for _ in range(2)]
    await asyncio.sleep(0)
    await writer.stop()
    assert all(not isinstance(r, BaseException) for r in await asyncio.gather(*pending))
    assert await _seqs(db, tenant, channel.id) == list(range(1, 11))
    with pytest.raises(Unavailable):
        await writer.submit([item])


async def test_deleted_channel_fails_only_its_request(
    db: Database, writer: IngestWriter, tenant: Tenant
) -> None:
    p = tenant.principal
    doomed, _ = await create_channel(db, p, tenant.agent.id, ChannelCreate(name="doomed"))
    kept, _ = await create_channel(db, p, tenant.agent.id, ChannelCreate(name="kept"))
    from fleetyard.server.storage.repositories.telemetry import channels as repo

    async with db.connect() as conn:
        records = await repo.resolve(conn, org_id=tenant.org_id, ids=[doomed.id, kept.id])
    pks = {r.id: r.pk for r in records}
    await delete_channel(writer, p, doomed.id)
    results = await asyncio.gather(
        writer.submit([IngestItem(tenant.org_id, pks[doomed.id], doomed.id, 1, 1)]),
        writer.submit([IngestItem(tenant.org_id, pks[kept.id], kept.id, 1, 1)]),
        return_exceptions=True,
    )
    assert isinstance(results[0], NotFound)
    assert not isinstance(results[1], BaseException)
    with pytest.raises(NotFound):
        await get_channel(db, p, doomed.id)


async def test_listeners_hear_committed_batches(
    db: Database, writer: IngestWriter, tenant: Tenant
) -> None:
    heard: list[CommittedBatch] = []
    writer.add_listener(heard.append)

    async def broken(_: object) -> None:
        raise RuntimeError("a listener bug must not fail publishes")

    writer.add_listener(broken)
    ref = ChannelRef.named(tenant.agent.id, "t")
    await publish(writer, tenant.principal, ref, Publish({"a": 1}))
    assert len(heard) == 1
    assert [m.seq for m in heard[0].messages] == [1]
    assert heard[0].aggregates[0].data == {"a": 1}


async def test_other_organisations_cannot_publish_or_read(
    db: Database, writer: IngestWriter, tenant: Tenant, other: Tenant
) -> None:
    channel, _ = await create_channel(
        db, tenant.principal, tenant.agent.id, ChannelCreate(name="t")
    )
    for attempt in (
        publish(writer, other.principal, channel.id, Publish(1)),
        publish(writer, other.principal, ChannelRef.named(tenant.agent.id, "t"), Publish(1)),
        publish(writer, other.principal, ChannelRef.named(tenant.agent.id, "new"), Publish(1)),
        get_channel(db, other.principal, channel.id),
        get_aggregate(db, other.principal, channel.id),
        list_messages(db, other.principal, channel.id),
        update_aggregate(writer, other.principal, channel.id, {"a": 1}),
        delete_channel(writer, other.principal, channel.id),
    ):
        with pytest.raises(ServiceError) as caught:
            await attempt
        assert caught.value.status == 404
    with pytest.raises(Unprocessable):
        await publish_batch(writer, other.principal, [(channel.id, Publish(1))])
    assert await _seqs(db, tenant, channel.id) == []


@pytest.mark.parametrize(
    "result",
    [
        IngestResult("ch_abc", 5, 1_764_000_000_123, False, 7, {"t": 1}),
        IngestResult("ch_x", None, 0, True, 1, None),
        IngestResult("ch_ü", 1, 4_102_444_800_000, False, 2, 1),
    ],
)
def test_ack_json_is_the_models_json(result: IngestResult) -> None:
    # The hot route writes the acknowledgement by hand; it must stay the model's bytes.
    assert ack_json(result) == ack(result).model_dump_json().encode()
