"""``client.agents`` and ``client.channels`` against the real app in-process (both databases).

The request-shape tests (test_telemetry.py) pin the SDK to the contract as
written; these check that the server implementing it agrees.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx2
import pytest

from fleetyard import AsyncClient, Client, NotFoundError, PreconditionFailedError
from fleetyard.protocol.telemetry import ChannelKind
from tests.conftest import ADMIN_KEY
from tests.support.asgi import PortalASGITransport

BASE = "http://fleetyard.test"


@pytest.fixture
def admin(app_transport: PortalASGITransport) -> Iterator[Client]:
    with Client(api_key=ADMIN_KEY, base_url=BASE, transport=app_transport) as client:
        yield client


@pytest.fixture
async def async_admin(async_app_transport: httpx2.ASGITransport) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(
        api_key=ADMIN_KEY, base_url=BASE, transport=async_app_transport
    ) as client:
        yield client


def test_agents_crud_filters_and_token(admin: Client) -> None:
    site = admin.sites.create("Depot")
    pump = admin.agents.create(site.id, "pump-7", labels={"line": "3"}, metadata={"fw": "1.2"})
    gateway = admin.agents.create(site.id, "gw-1", kind="gateway")

    assert admin.agents.get(pump.id).labels == {"line": "3"}
    assert [a.id for a in admin.agents.list(labels={"line": "3"})] == [pump.id]
    assert [a.id for a in admin.agents.list(kind="gateway")] == [gateway.id]
    assert {a.id for a in admin.agents.list(site_id=site.id, limit=1)} == {pump.id, gateway.id}
    assert list(admin.agents.list(online=True)) == []

    renamed = admin.agents.update(pump.id, name="pump-8", labels={})
    assert (renamed.name, renamed.labels, renamed.metadata) == ("pump-8", {}, {"fw": "1.2"})

    key = admin.agents.token(pump.id, name="firmware")
    assert key.scopes == [f"agent:{pump.id}:write"]
    assert key.secret

    assert admin.agents.delete(gateway.id).deleted is True
    with pytest.raises(NotFoundError):
        admin.agents.get(gateway.id)


def test_channels_publish_read_and_aggregate(admin: Client) -> None:
    site = admin.sites.create("Depot")
    agent = admin.agents.create(site.id, "pump-7")

    status = admin.channels.create(agent.id, "status")
    again = admin.with_raw_response.channels.create(agent.id, "status")
    assert (again.status_code, again.parse().id) == (200, status.id)
    processor = admin.create_channel("#my-processor", agent.id)
    task = admin.channels.create(agent.id, "reboot", kind="task")
    assert (processor.kind, processor.name) == (ChannelKind.PROCESSOR, "#my-processor")
    assert (task.kind, task.name) == (ChannelKind.TASK, "!reboot")
    assert admin.channels.get_by_name(agent.id, "#my-processor").id == processor.id
    assert [c.name for c in admin.channels.list(agent.id, kind="processor")] == ["#my-processor"]

    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(5):
        admin.channels.publish(
            (agent.id, "status"),
            {"t": 20 + n, "n": n},
            timestamp=start + timedelta(minutes=n),
            client_message_id=f"m{n}",
        )
    duplicate = admin.channels.publish(status.id, {"t": 0}, client_message_id="m4")
    assert duplicate.duplicate is True
    batch = admin.channels.publish_batch(
        [
            {
                "channel_id": status.id,
                "payload": {"t": 30},
                "timestamp": start + timedelta(hours=1),
            },
            {"agent_id": agent.id, "channel": "#my-processor", "payload": "hello"},
        ]
    )
    assert [ack.seq for ack in batch.items] == [6, 1]

    newest = [m.seq for m in admin.channels.messages(status.id, limit=2)]
    assert newest == [6, 5, 4, 3, 2, 1]
    window = admin.channels.messages(
        status.id, start=start + timedelta(minutes=1), end=start + timedelta(minutes=3), order="asc"
    )
    assert [m.payload for m in window] == [{"t": 21, "n": 1}, {"t": 22, "n": 2}]
    assert admin.channels.message(status.id, 2).payload == {"t": 21, "n": 1}
    assert admin.channels.update_message(status.id, 2, {"t": -1}).payload == {"t": -1}
    assert admin.channels.delete_message(status.id, 2).deleted is True

    current = admin.channels.aggregate(status.id)
    assert current.data == {"t": 30, "n": 4}
    merged = admin.channels.update_aggregate(
        status.id, {"n": None, "mode": "eco"}, if_version=current.version
    )
    assert merged.data == {"t": 30, "mode": "eco"}
    with pytest.raises(PreconditionFailedError) as stale:
        admin.channels.replace_aggregate(status.id, {"x": 1}, if_version=current.version)
    assert stale.value.code == "version_stale"
    assert stale.value.problem is not None
    assert (stale.value.problem.model_extra or {}).get("current_version") == merged.version
    assert admin.channels.replace_aggregate(status.id, None).data is None

    latest = list(admin.channels.latest("status", site_id=site.id))
    assert [(row.agent_id, row.message and row.message.seq) for row in latest] == [(agent.id, 6)]

    series = admin.channels.timeseries(
        status.id, "t", start=start, end=start + timedelta(minutes=5), interval="5m",
        aggregates=["avg", "max", "count"],
    )  # fmt: skip
    # seqs 1, 3, 4, 5 are left in the window (2 was deleted): t = 20, 22, 23, 24.
    assert [(s.field, s.aggregate, s.values) for s in series.series] == [
        ("t", "avg", [22.25]),
        ("t", "max", [24.0]),
        ("t", "count", [4.0]),
    ]
    assert len(series.timestamps) == 1

    updated = admin.channels.update(status.id, retention={"max_messages": 100}, is_private=True)
    assert (updated.retention.max_messages, updated.is_private) == (100, True)
    assert admin.channels.update(status.id, retention=None).retention.max_messages is None
    assert admin.channels.delete(task.id).deleted is True


@pytest.mark.anyio
async def test_the_async_twin(async_admin: AsyncClient) -> None:
    site = await async_admin.sites.create("Depot")
    agent = await async_admin.agents.create(site.id, "pump-7")
    ack = await async_admin.channels.publish((agent.id, "!reboot"), {"at": "now"})
    channel = await async_admin.channels.get_by_name(agent.id, "!reboot")
    assert (channel.id, channel.kind) == (ack.channel_id, ChannelKind.TASK)
    seqs = [m.seq async for m in async_admin.channels.messages(channel.id)]
    assert seqs == [ack.seq]
    assert (await async_admin.channels.aggregate(channel.id)).data == {"at": "now"}
