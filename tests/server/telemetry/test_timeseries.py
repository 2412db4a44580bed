"""Timeseries over JSON field paths: raw points and bucket values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fleetyard.protocol.telemetry import ChannelCreate, TimeseriesQuery
from fleetyard.server.services.errors import Unprocessable
from fleetyard.server.services.telemetry.channels import create_channel
from fleetyard.server.services.telemetry.ingest import IngestWriter
from fleetyard.server.services.telemetry.publishing import Publish, publish_batch
from fleetyard.server.services.telemetry.timeseries import timeseries
from fleetyard.server.storage.database import Database
from tests.server.telemetry.conftest import Tenant

pytestmark = pytest.mark.anyio

HOUR = 3_600_000
T0 = 1_700_002_800_000  # 2023-11-14T23:00:00Z, on the hour


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@pytest.fixture
async def channel_id(db: Database, writer: IngestWriter, tenant: Tenant) -> str:
    channel, _ = await create_channel(
        db, tenant.principal, tenant.agent.id, ChannelCreate(name="t")
    )
    payloads = [
        (T0 + 10_000, {"temperature": 10, "battery": {"level": 90}}),
        (T0 + 20_000, {"temperature": 20.5, "battery": {"level": 80}}),
        (T0 + 5_000, {"temperature": 30}),  # earliest in time, published late
        (T0 + HOUR + 1, {"temperature": "n/a", "battery": {"level": 70}}),
        (T0 + HOUR + 2, {"temperature": True}),
        (T0 + 2 * HOUR, {"other": 1}),
        (T0 + 3 * HOUR, {"temperature": -4}),
    ]
    await publish_batch(
        writer,
        tenant.principal,
        [(channel.id, Publish(p, timestamp_ms=ts)) for ts, p in payloads],
    )
    return channel.id


async def test_raw_points(db: Database, tenant: Tenant, channel_id: str) -> None:
    query = TimeseriesQuery(
        fields=["temperature", "battery.level"], start=at(T0), end=at(T0 + 3 * HOUR)
    )
    result = await timeseries(db, tenant.principal, channel_id, query)
    assert [t.timestamp() * 1000 for t in result.timestamps] == [
        T0 + 5_000,
        T0 + 10_000,
        T0 + 20_000,
        T0 + HOUR + 1,
        T0 + HOUR + 2,
    ]
    assert result.series[0].values == [30.0, 10.0, 20.5, None, 1.0]
    assert result.series[1].values == [None, 90.0, 80.0, 70.0, None]


async def test_buckets(db: Database, tenant: Tenant, channel_id: str) -> None:
    query = TimeseriesQuery(
        fields=["temperature"],
        interval="1h",
        aggregates=["avg", "min", "max", "sum", "count", "first", "last"],
    )
    result = await timeseries(db, tenant.principal, channel_id, query)
    assert result.interval == "1h"
    # The bucket with only {"other": 1} has no temperature: it is left out.
    assert [t.timestamp() * 1000 for t in result.timestamps] == [T0, T0 + HOUR, T0 + 3 * HOUR]
    values = {s.aggregate.value: s.values for s in result.series if s.aggregate}
    assert values["avg"] == [pytest.approx(60.5 / 3), 1.0, -4.0]
    assert values["min"] == [10.0, 1.0, -4.0]
    assert values["max"] == [30.0, 1.0, -4.0]
    assert values["sum"] == [60.5, 1.0, -4.0]
    assert values["count"] == [3.0, 1.0, 1.0]
    assert values["first"] == [30.0, 1.0, -4.0]
    assert values["last"] == [20.5, 1.0, -4.0]


async def test_bucket_window_and_limits(db: Database, tenant: Tenant, channel_id: str) -> None:
    query = TimeseriesQuery(
        fields=["battery.level"], interval="30m", start=at(T0 + 15_000), end=at(T0 + 2 * HOUR)
    )
    result = await timeseries(db, tenant.principal, channel_id, query)
    assert [t.timestamp() * 1000 for t in result.timestamps] == [T0, T0 + HOUR]
    assert result.series[0].values == [80.0, 70.0]
    with pytest.raises(Unprocessable, match="buckets"):
        await timeseries(
            db,
            tenant.principal,
            channel_id,
            TimeseriesQuery(fields=["x"], interval="1s", start=at(T0), end=at(T0 + HOUR), limit=10),
        )
