"""Staging a batch of publish requests in memory, between locking and writing.

The ingest writer locks the batch's channel rows and reads their state, then
these functions decide, without any I/O, what every request becomes: which
messages are resends of stored ones, the seqs and merged aggregates of the
others, the rows to insert and the channels to save, and what to tell the
listeners once the batch has committed. Both database paths of
:class:`~fleetyard.server.services.telemetry.ingest.IngestWriter` share them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fleetyard.server.services.errors import NotFound, PreconditionFailed, ServiceError
from fleetyard.server.services.telemetry.batches import (
    CommittedAggregate,
    CommittedBatch,
    IngestItem,
    IngestResult,
)
from fleetyard.server.services.telemetry.merge import apply_publish
from fleetyard.server.storage.repositories.telemetry import ingest as repo


@dataclass(slots=True)
class Request:
    """One caller's atomic request, queued for the writer."""

    items: Sequence[IngestItem]
    future: asyncio.Future[list[IngestResult]]
    expected_version: int | None = None


@dataclass(slots=True)
class Outcome:
    """A written batch: each request's answer, in order, and what committed."""

    results: list[list[IngestResult] | ServiceError] = field(default_factory=list)
    committed: CommittedBatch = field(default_factory=lambda: CommittedBatch([], {}, []))


def wanted(batch: list[Request], states: dict[int, repo.ChannelState]) -> set[tuple[int, str]]:
    """The ``(channel_pk, client_message_id)`` pairs to look up as possible resends."""
    return {
        (item.channel_pk, item.client_message_id)
        for request in batch
        for item in request.items
        if item.client_message_id is not None
        and (item.save_log or item.log_aggregate)
        and item.channel_pk in states
    }


def committed(
    batch: list[Request],
    states: dict[int, repo.ChannelState],
    rows: list[tuple[Any, ...]],
    changed: set[int],
    now: int,
) -> CommittedBatch:
    """What the listeners are told once the batch committed: rows and new aggregates."""
    ids = {item.channel_pk: item.channel_id for request in batch for item in request.items}
    return CommittedBatch(
        rows,
        ids,
        [
            CommittedAggregate(
                org_id=states[pk].org_id,
                channel_id=ids[pk],
                data=states[pk].aggregate,
                version=states[pk].aggregate_version,
                updated_at=now,
            )
            for pk in sorted(changed)
        ],
    )


def stage(
    request: Request,
    states: dict[int, repo.ChannelState],
    seen: dict[tuple[int, str], tuple[int, int]],
    rows: list[tuple[Any, ...]],
    changed: set[int],
    now: int,
) -> list[IngestResult] | ServiceError:
    """Stage one request into the batch, or say why it cannot be (nothing staged then)."""
    for item in request.items:
        state = states.get(item.channel_pk)
        if state is None or state.org_id != item.org_id:
            return NotFound(f"Channel {item.channel_id!r} was not found.")
    if request.expected_version is not None:
        state = states[request.items[0].channel_pk]
        if state.aggregate_version != request.expected_version:
            return PreconditionFailed(
                f"The aggregate is at version {state.aggregate_version}, "
                f"not {request.expected_version}.",
                current_version=state.aggregate_version,
            )
    results: list[IngestResult] = []
    for item in request.items:
        state = states[item.channel_pk]
        logged = item.save_log or item.log_aggregate
        key = (item.channel_pk, item.client_message_id) if item.client_message_id else None
        if logged and key is not None and key in seen:
            stored_seq, stored_ts = seen[key]
            results.append(
                IngestResult(
                    item.channel_id,
                    stored_seq,
                    stored_ts,
                    True,
                    state.aggregate_version,
                    state.aggregate,
                )
            )
            continue
        state.aggregate = apply_publish(
            state.aggregate, item.payload, override=item.override_aggregate
        )
        # Every accepted publish is a new aggregate version, so If-Match
        # sees writes that land in the same batch as its own.
        state.aggregate_version += 1
        changed.add(item.channel_pk)
        seq: int | None = None
        if logged:
            state.last_seq += 1
            seq = state.last_seq
            # In repo.MESSAGE_COLUMNS order.
            rows.append(
                (
                    item.channel_pk,
                    seq,
                    item.org_id,
                    item.ts,
                    now,
                    state.aggregate if item.log_aggregate else item.payload,
                    item.client_message_id,
                )
            )
            if key is not None:
                seen[key] = (seq, item.ts)
        results.append(
            IngestResult(
                item.channel_id,
                seq,
                item.ts,
                False,
                state.aggregate_version,
                state.aggregate,
            )
        )
    return results
