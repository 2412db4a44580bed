"""``publish`` frames: messages to the session agent's own channels, by name.

The same service functions as ``POST /v1/agents/{id}/channels/{name}/messages``
(one message) and ``POST /v1/messages/batch`` (several, all or nothing):
channels are created on first use, payloads are checked against the
channel's schema, and the answer comes once the ingest writer has committed.

A frame of several messages whose channels were all looked up within the
last seconds (the publishing channel cache) skips the batch service's
lookup: the same checks run on the remembered rows (write access, payload
problems, all or nothing) and the items go straight to the writer. An agent
streaming batches to a handful of channels then costs the database only its
share of a group commit, as single publishes do.
"""

from __future__ import annotations

from typing import Any

from fleetyard.protocol.agent_session import Publish as PublishFrame
from fleetyard.protocol.agent_session import PublishResult, SessionMessage
from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.telemetry import ChannelNameError, parse_channel_name
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import now_ms, to_ms
from fleetyard.server.services.errors import Unprocessable
from fleetyard.server.services.telemetry import access, publishing
from fleetyard.server.services.telemetry.channel_cache import by_name, cache_for
from fleetyard.server.services.telemetry.channels import ChannelRef, Target
from fleetyard.server.services.telemetry.ingest import IngestItem, IngestWriter
from fleetyard.server.services.telemetry.publishing import Publish, Turn
from fleetyard.server.storage.repositories.telemetry import channels as channel_repo
from fleetyard.server.storage.repositories.telemetry.channels import ChannelRecord


def _message(message: SessionMessage) -> Publish:
    return Publish(
        payload=message.payload,
        timestamp_ms=None if message.timestamp is None else to_ms(message.timestamp),
        client_message_id=message.client_message_id,
        save_log=message.save_log,
        log_aggregate=message.log_aggregate,
        override_aggregate=message.override_aggregate,
    )


async def publish_frame(
    writer: IngestWriter,
    principal: Principal,
    agent_id: str,
    frame: PublishFrame,
    *,
    turn: Turn | None = None,
) -> list[PublishResult]:
    """Store a frame's messages (all or nothing); one result per message, in order.

    ``turn`` is awaited once the frame is checked, right before it is queued
    for the writer (see :data:`~fleetyard.server.services.telemetry.publishing.Turn`).
    Raises the publishing service's errors: 422 ``payload_invalid`` (with
    ``errors``), ``channel_name_invalid``, 503 ``overloaded``…
    """
    if len(frame.messages) == 1:
        [message] = frame.messages
        result = await publishing.publish_result(
            writer,
            principal,
            ChannelRef.named(agent_id, message.channel),
            _message(message),
            turn=turn,
        )
        return [PublishResult(seq=result.seq, deduplicated=result.duplicate)]
    remembered = _remembered(writer, principal, agent_id, frame.messages)
    if remembered is not None:
        return await _submit(writer, principal, frame.messages, remembered, turn)
    items: list[tuple[Target, Publish]] = [
        (ChannelRef.named(agent_id, message.channel), _message(message))
        for message in frame.messages
    ]
    acks = await publishing.publish_batch(writer, principal, items, turn=turn)
    await _remember(writer, principal, {ack.channel_id for ack in acks})
    return [PublishResult(seq=ack.seq, deduplicated=ack.duplicate) for ack in acks]


def _remembered(
    writer: IngestWriter, principal: Principal, agent_id: str, messages: list[SessionMessage]
) -> dict[str, ChannelRecord] | None:
    """Each channel name's remembered, writable row; None when any is missing (look up)."""
    cache = cache_for(writer)
    found: dict[str, ChannelRecord] = {}
    for message in messages:
        name = message.channel
        if name in found:
            continue
        try:
            stored = parse_channel_name(name)[1]
        except ChannelNameError:
            return None  # the batch service reports it, with its index
        record = cache.get(by_name(principal.org_id, agent_id, stored))
        if record is None or not access.can(
            principal, site_id=record.site_id, agent_id=record.agent_id, permission=access.WRITE
        ):
            return None
        found[name] = record
    return found


async def _submit(
    writer: IngestWriter,
    principal: Principal,
    messages: list[SessionMessage],
    channels: dict[str, ChannelRecord],
    turn: Turn | None,
) -> list[PublishResult]:
    now = now_ms()
    staged: list[IngestItem] = []
    errors: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        channel = channels[message.channel]
        publish = _message(message)
        problems = publishing.payload_problems(channel, publish, now)
        if problems:
            where: list[str | int] = ["messages", index]
            errors.extend(publishing.invalid_payload(problems, where).extra["errors"])
            continue
        staged.append(
            IngestItem(
                org_id=principal.org_id,
                channel_pk=channel.pk,
                channel_id=channel.id,
                payload=publish.payload,
                ts=now if publish.timestamp_ms is None else publish.timestamp_ms,
                client_message_id=publish.client_message_id,
                save_log=publish.save_log,
                log_aggregate=publish.log_aggregate,
                override_aggregate=publish.override_aggregate,
            )
        )
    if errors:
        bad = len({tuple(e["loc"][:2]) for e in errors})
        raise Unprocessable(
            f"{bad} of {len(messages)} messages are invalid; nothing was stored.",
            code=ErrorCode.PAYLOAD_INVALID,
            errors=errors,
        )
    if turn is not None:
        await turn()
    results = await writer.submit(staged)
    return [PublishResult(seq=r.seq, deduplicated=r.duplicate) for r in results]


async def _remember(writer: IngestWriter, principal: Principal, channel_ids: set[str]) -> None:
    """Put the channels a batch just used into the cache, for the frames that follow."""
    cache = cache_for(writer)
    generation = cache.generation()
    async with writer.database.connect() as conn:
        records = await channel_repo.resolve(conn, org_id=principal.org_id, ids=channel_ids)
    for record in records:
        cache.put(record, generation)
