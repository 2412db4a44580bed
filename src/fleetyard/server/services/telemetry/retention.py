"""Retention: delete what each channel's policy expires.

Meant for the jobs runner (periodically, e.g. every minute). Deletes go
through the ingest writer in chunks, so a channel with millions of expired
messages never holds the write lock for long and ingest keeps flowing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.services.clock import now_ms
from fleetyard.server.services.telemetry.ingest import IngestWriter
from fleetyard.server.storage.repositories.telemetry import channels as channel_repo
from fleetyard.server.storage.repositories.telemetry import messages as repo
from fleetyard.server.storage.repositories.telemetry.channels import RetentionPolicy

CHUNK = 10_000

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionReport:
    channels: int
    deleted: int


async def apply_retention(
    writer: IngestWriter, *, at_ms: int | None = None, chunk: int = CHUNK
) -> RetentionReport:
    """Apply every channel's retention once, across organisations (a system job).

    By age: messages with ``ts < now - max_age`` go. By count: all but the
    ``max_messages`` newest (by seq) go. Both apply when both are set.
    """
    now = now_ms() if at_ms is None else at_ms
    async with writer.database.connect() as conn:
        policies = await channel_repo.retention_policies(conn)
    deleted = 0
    for policy in policies:
        deleted += await _apply(writer, policy, now, chunk)
    return RetentionReport(channels=len(policies), deleted=deleted)


async def _apply(writer: IngestWriter, policy: RetentionPolicy, now: int, chunk: int) -> int:
    org_id, pk = policy.org_id, policy.channel_pk
    total = 0
    if policy.max_age_ms is not None:
        cutoff = now - policy.max_age_ms

        async def by_age(conn: AsyncConnection) -> int:
            return await repo.delete_older_than(
                conn, pk, org_id=org_id, before_ts=cutoff, limit=chunk
            )

        while (count := await writer.run(by_age)) > 0:
            total += count
    if policy.max_messages is not None:
        keep = policy.max_messages

        async def by_count(conn: AsyncConnection) -> int:
            last_doomed = await repo.seq_beyond_newest(conn, pk, org_id=org_id, keep=keep)
            if last_doomed is None:
                return 0
            return await repo.delete_up_to_seq(
                conn, pk, org_id=org_id, max_seq=last_doomed, limit=chunk
            )

        while (count := await writer.run(by_count)) > 0:
            total += count
    return total


async def run_periodically(writer: IngestWriter, *, interval_seconds: float) -> None:
    """Apply retention every ``interval_seconds`` until cancelled (the app lifespan's task).

    A failed round is logged and the next one runs on schedule; cancelling
    stops it between rounds or inside one (a chunk already handed to the
    writer still commits: each chunk is its own transaction).
    """
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            report = await apply_retention(writer)
        except Exception:
            log.exception("retention round failed")
            continue
        if report.deleted:
            log.info(
                "retention removed %d messages from %d channels", report.deleted, report.channels
            )
