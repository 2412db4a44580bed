"""Retention removes what each channel's policy expires, and nothing else."""

from __future__ import annotations

import pytest

from fleetyard.protocol.telemetry import ChannelCreate, ChannelUpdate, Retention
from fleetyard.server.services.clock import now_ms
from fleetyard.server.services.telemetry.channels import create_channel, update_channel
from fleetyard.server.services.telemetry.ingest import IngestWriter
from fleetyard.server.services.telemetry.messages import list_messages
from fleetyard.server.services.telemetry.publishing import Publish, publish_batch
from fleetyard.server.services.telemetry.retention import apply_retention
from fleetyard.server.storage.database import Database
from tests.server.telemetry.conftest import Tenant

pytestmark = pytest.mark.anyio

# Client timestamps may not lie far ahead of the server clock, so "now" is real now.
NOW = now_ms()
DAY = 86_400_000


async def _seqs(db: Database, tenant: Tenant, channel_id: str) -> list[int]:
    page = await list_messages(db, tenant.principal, channel_id, limit=1000, newest_first=False)
    return [m.seq for m in page.items]


async def test_retention_by_age_and_by_count(
    db: Database, writer: IngestWriter, tenant: Tenant, other: Tenant
) -> None:
    p = tenant.principal
    by_age, _ = await create_channel(
        db,
        p,
        tenant.agent.id,
        ChannelCreate(name="age", retention=Retention(max_age_seconds=86_400)),
    )
    by_count, _ = await create_channel(
        db, p, tenant.agent.id, ChannelCreate(name="count", retention=Retention(max_messages=3))
    )
    forever, _ = await create_channel(db, p, tenant.agent.id, ChannelCreate(name="forever"))
    other_channel, _ = await create_channel(
        db,
        other.principal,
        other.agent.id,
        ChannelCreate(name="age", retention=Retention(max_messages=1)),
    )
    # Ages 3, 2, 1.5, 0.5 and 0 days; the seq order is not the time order.
    times = [NOW - 3 * DAY, NOW, NOW - 2 * DAY, NOW - DAY // 2, NOW - 3 * DAY // 2]
    for channel in (by_age, by_count, forever):
        await publish_batch(
            writer, p, [(channel.id, Publish(i, timestamp_ms=t)) for i, t in enumerate(times)]
        )
    await publish_batch(writer, other.principal, [(other_channel.id, Publish(i)) for i in range(2)])

    report = await apply_retention(writer, at_ms=NOW, chunk=2)
    assert report.channels == 3
    assert report.deleted == 3 + 2 + 1
    assert await _seqs(db, tenant, by_age.id) == [2, 4]
    assert await _seqs(db, tenant, by_count.id) == [3, 4, 5]
    assert await _seqs(db, tenant, forever.id) == [1, 2, 3, 4, 5]
    page = await list_messages(db, other.principal, other_channel.id)
    assert [m.seq for m in page.items] == [2]
    assert (await apply_retention(writer, at_ms=NOW)).deleted == 0

    # Clearing the policy stops retention for that channel.
    await update_channel(db, p, by_count.id, ChannelUpdate(retention=None))
    assert (await apply_retention(writer, at_ms=NOW)).channels == 2
