"""Publishing: validate, then hand to the ingest writer; answer once durable.

Validation happens here, before anything is queued: the channel exists and
the caller may write it, the name is valid, the timestamp is sane, and the
payload matches the channel's JSON Schema. A batch is validated as a whole:
one bad item rejects it with an error per bad item (422), and nothing of it
is stored.

Publishing by ``(agent, name)`` creates a missing channel (kind from the
``#``/``!`` prefix), as devices expect; by id it must exist.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.telemetry import (
    CLIENT_MESSAGE_ID_MAX_LENGTH,
    Aggregate,
    ChannelNameError,
    PublishAck,
    parse_channel_name,
)
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import now_ms, to_datetime
from fleetyard.server.services.errors import Forbidden, NotFound, Unprocessable
from fleetyard.server.services.telemetry import access
from fleetyard.server.services.telemetry.channel_cache import by_id, by_name, cache_for
from fleetyard.server.services.telemetry.channels import (
    ChannelRef,
    Target,
    as_ref,
    ensure_channels,
    load_channel,
    not_found,
    writable_agents,
)
from fleetyard.server.services.telemetry.ingest import IngestItem, IngestResult, IngestWriter
from fleetyard.server.services.telemetry.models import aggregate_model
from fleetyard.server.services.telemetry.schema import validate
from fleetyard.server.storage.repositories.telemetry import channels as channel_repo
from fleetyard.server.storage.repositories.telemetry.channels import ChannelRecord

MAX_FUTURE_MS = 24 * 3_600_000

# Awaited right before a checked publish is queued for the writer. A caller that runs
# several publishes concurrently but needs them stored in its own order (an agent
# session: the aggregate is last-writer-wins) waits there for the previous one's
# turn; the writer takes requests in the order they are queued.
Turn = Callable[[], Awaitable[None]]
"""How far ahead of the server's clock a client timestamp may be (clock skew)."""


@dataclass(slots=True)
class Publish:
    """One message to publish: a JSON payload and the options of ``MessagePublish``.

    Built by the API from the wire model (or straight from parsed JSON on the
    lean hot route). ``timestamp_ms`` None means "now, on the server".
    """

    payload: Any
    timestamp_ms: int | None = None
    client_message_id: str | None = None
    save_log: bool = True
    log_aggregate: bool = False
    override_aggregate: bool = False


def payload_problems(
    channel: ChannelRecord | None, message: Publish, now: int
) -> list[tuple[str, str]]:
    """``(field, message)`` pairs for everything wrong with ``message`` in ``channel``
    (None: a channel about to be created, which has no JSON Schema yet)."""
    problems: list[tuple[str, str]] = []
    ts = message.timestamp_ms
    if ts is not None and not 0 <= ts <= now + MAX_FUTURE_MS:
        problems.append(("timestamp", "must be after 1970 and at most 24 h ahead of the server"))
    cmid = message.client_message_id
    if cmid is not None and not 0 < len(cmid) <= CLIENT_MESSAGE_ID_MAX_LENGTH:
        problems.append(("client_message_id", "1 to 200 characters"))
    if channel is not None and channel.json_schema is not None:
        errors = validate(message.payload, channel.json_schema)
        problems.extend(("payload", error) for error in errors)
    return problems


def _item(principal: Principal, channel: ChannelRecord, message: Publish, now: int) -> IngestItem:
    return IngestItem(
        org_id=principal.org_id,
        channel_pk=channel.pk,
        channel_id=channel.id,
        payload=message.payload,
        ts=now if message.timestamp_ms is None else message.timestamp_ms,
        client_message_id=message.client_message_id,
        save_log=message.save_log,
        log_aggregate=message.log_aggregate,
        override_aggregate=message.override_aggregate,
    )


def ack(result: IngestResult) -> PublishAck:
    return PublishAck(
        channel_id=result.channel_id,
        seq=result.seq,
        ts=to_datetime(result.ts),
        duplicate=result.duplicate,
        aggregate_version=result.aggregate_version,
    )


def invalid_payload(problems: list[tuple[str, str]], prefix: list[str | int]) -> Unprocessable:
    return Unprocessable(
        "; ".join(f"{field}: {text}" for field, text in problems[:5]),
        code=ErrorCode.PAYLOAD_INVALID,
        errors=[
            {"loc": [*prefix, field], "message": text, "type": ErrorCode.PAYLOAD_INVALID.value}
            for field, text in problems
        ],
    )


async def _resolve_one(
    writer: IngestWriter, principal: Principal, ref: ChannelRef
) -> ChannelRecord:
    """The channel to publish one message to, from a few seconds of memory when possible
    (see :mod:`.channel_cache`); access is checked every time."""
    cache = cache_for(writer)
    org_id = principal.org_id
    key = (
        by_id(org_id, ref.channel_id)
        if ref.channel_id is not None
        else by_name(org_id, ref.agent_id or "", ref.name or "")
    )
    channel = cache.get(key)
    if channel is None and (pending := cache.pending.get(key)) is not None:
        # Another publish is reading this channel right now: when an entry expires,
        # every concurrent publisher to the channel misses at once, and their
        # lookups would cost the event loop more than a batch of publishes. Its
        # answer is checked for this caller below; if it failed (its caller may
        # hold less access than this one), this caller looks up for itself.
        channel = await asyncio.shield(pending)
    if channel is not None:
        _check_writable(principal, channel, ref)
        return channel
    generation = cache.generation()
    lookup: asyncio.Future[ChannelRecord | None] = asyncio.get_running_loop().create_future()
    cache.pending.setdefault(key, lookup)
    try:
        channel = await _look_up_one(writer, principal, ref)
        cache.put(channel, generation)
    finally:
        if cache.pending.get(key) is lookup:
            del cache.pending[key]
        lookup.set_result(channel)
    return channel


def _check_writable(principal: Principal, channel: ChannelRecord, ref: ChannelRef) -> None:
    """:func:`load_channel`'s rules on a remembered row: 404 unless readable, 403 unless
    writable."""
    site_id, agent_id = channel.site_id, channel.agent_id
    if access.can(principal, site_id=site_id, agent_id=agent_id, permission=access.WRITE):
        return
    read = access.channel_read_permission(channel.is_private)
    if not access.can(principal, site_id=site_id, agent_id=agent_id, permission=read):
        raise not_found(ref)
    access.require(principal, site_id=site_id, agent_id=agent_id, permission=access.WRITE)


async def _look_up_one(
    writer: IngestWriter, principal: Principal, ref: ChannelRef
) -> ChannelRecord:
    database = writer.database
    if ref.channel_id is None and ref.agent_id is not None and ref.name is not None:
        resolved = await _resolve_many(writer, principal, [ref])
        if resolved[0] is not None:
            return resolved[0]
    async with database.connect() as conn:
        return await load_channel(conn, principal, ref, access.WRITE)


async def publish(
    writer: IngestWriter, principal: Principal, target: Target, message: Publish
) -> PublishAck:
    """Publish one message; returns once it is durable (``write`` on the channel)."""
    return ack(await publish_result(writer, principal, target, message))


async def publish_result(
    writer: IngestWriter,
    principal: Principal,
    target: Target,
    message: Publish,
    *,
    turn: Turn | None = None,
) -> IngestResult:
    """:func:`publish`, answering what was stored; :func:`ack_json` makes it the reply.

    ``turn``, when given, is awaited after the checks and right before the
    message is queued for the writer (see :data:`Turn`).
    """
    channel = await _resolve_one(writer, principal, as_ref(target))
    now = now_ms()
    problems = payload_problems(channel, message, now)
    if problems:
        raise invalid_payload(problems, ["body"])
    if turn is not None:
        await turn()
    [result] = await writer.submit([_item(principal, channel, message, now)])
    return result


def ack_json(result: IngestResult) -> bytes:
    """``ack(result).model_dump_json()``, byte for byte, without building the model.

    On the single-publish hot path the model's construction, its timestamp
    serialiser (``strftime``) and the dump cost about a tenth of the request.
    ``isoformat`` renders the same RFC 3339 text for the years a publish can
    carry (1970 up to a day ahead). Kept equal by a test against the model.
    """
    ts = to_datetime(result.ts).isoformat(timespec="milliseconds").removesuffix("+00:00")
    seq = "null" if result.seq is None else int(result.seq)
    duplicate = "true" if result.duplicate else "false"
    return (
        f'{{"channel_id":{_json_string(result.channel_id)},"seq":{seq},"ts":"{ts}Z",'
        f'"duplicate":{duplicate},"aggregate_version":{int(result.aggregate_version)}}}'
    ).encode()


# The C string encoder behind json.dumps(..., ensure_ascii=False), as pydantic writes.
_json_string: Callable[[str], str] = json.encoder.encode_basestring


async def _resolve_many(
    writer: IngestWriter, principal: Principal, refs: Sequence[ChannelRef], *, create: bool = True
) -> list[ChannelRecord | None]:
    """Each ref's channel if the caller may write it (creating missing named ones unless
    ``create`` is false), else None."""
    ids = {r.channel_id for r in refs if r.channel_id is not None}
    names: dict[tuple[str, str], str] = {}
    for ref in refs:
        if ref.channel_id is None and ref.agent_id is not None and ref.name is not None:
            try:
                names[(ref.agent_id, ref.name)] = parse_channel_name(ref.name)[1]
            except ChannelNameError:
                continue
    async with writer.database.connect() as conn:
        found = await channel_repo.resolve(
            conn,
            org_id=principal.org_id,
            ids=ids,
            names={(agent, stored) for (agent, _), stored in names.items()},
        )
    by_id = {c.id: c for c in found}
    by_name = {(c.agent_id, c.name): c for c in found}
    missing = sorted({(a, s) for (a, _), s in names.items() if (a, s) not in by_name})
    if missing and create:
        by_name.update(await ensure_channels(writer.database, principal, missing))
    resolved: list[ChannelRecord | None] = []
    for ref in refs:
        if ref.channel_id is not None:
            channel = by_id.get(ref.channel_id)
        elif ref.agent_id is not None and (ref.agent_id, ref.name or "") in names:
            channel = by_name.get((ref.agent_id, names[(ref.agent_id, ref.name or "")]))
        else:
            channel = None
        if channel is not None and not access.can(
            principal, site_id=channel.site_id, agent_id=channel.agent_id, permission=access.WRITE
        ):
            if access.can(
                principal,
                site_id=channel.site_id,
                agent_id=channel.agent_id,
                permission=access.channel_read_permission(channel.is_private),
            ):
                raise Forbidden(
                    f"Publishing to channel {channel.id!r} needs site:{channel.site_id}:write."
                )
            channel = None
        resolved.append(channel)
    return resolved


async def publish_batch(
    writer: IngestWriter,
    principal: Principal,
    items: Sequence[tuple[Target, Publish]],
    *,
    turn: Turn | None = None,
) -> list[PublishAck]:
    """Publish many messages to many channels, all or nothing.

    Every item is checked first; any problem raises 422 ``payload_invalid``
    with one ``errors`` entry per problem (``loc`` = ``["body", "items", i,
    field]``) and stores nothing — not even the named channels it would have
    created. The accepted batch is committed as one request: every message or
    none. Acknowledgements come in item order. ``turn`` as in :func:`publish_result`.
    """
    refs = [as_ref(target) for target, _ in items]
    channels = await _resolve_many(writer, principal, refs, create=False)
    to_create = _missing_names(refs, channels)
    creatable = (
        await writable_agents(writer.database, principal, {a for a, _ in to_create.values()})
        if to_create
        else set()
    )
    now = now_ms()
    errors: list[dict[str, Any]] = []
    for index, (ref, channel, (_, message)) in enumerate(zip(refs, channels, items, strict=True)):
        where: list[str | int] = ["body", "items", index]
        if channel is None and to_create.get(index, ("", ""))[0] not in creatable:
            problem = "not_found"
            text = f"channel {ref.describe()} was not found"
            if ref.channel_id is None and ref.name is not None:
                try:
                    parse_channel_name(ref.name)
                except ChannelNameError as exc:
                    problem, text = ErrorCode.CHANNEL_NAME_INVALID.value, str(exc)
            errors.append({"loc": [*where, "channel"], "message": text, "type": problem})
            continue
        problems = payload_problems(channel, message, now)
        if problems:
            errors.extend(invalid_payload(problems, where).extra["errors"])
    if errors:
        raise Unprocessable(
            f"{len({tuple(e['loc'][:3]) for e in errors})} of {len(items)} items are invalid;"
            " nothing was stored.",
            code=ErrorCode.PAYLOAD_INVALID,
            errors=errors,
        )
    if to_create:
        created = await ensure_channels(writer.database, principal, sorted(set(to_create.values())))
        for index, key in to_create.items():
            channels[index] = created.get(key)
    staged: list[IngestItem] = []
    for channel, (_, message) in zip(channels, items, strict=True):
        if channel is None:  # its agent was deleted between the checks and now
            raise NotFound("An agent of this batch was deleted meanwhile; nothing was stored.")
        staged.append(_item(principal, channel, message, now))
    if turn is not None:
        await turn()
    return [ack(result) for result in await writer.submit(staged)]


def _missing_names(
    refs: Sequence[ChannelRef], channels: Sequence[ChannelRecord | None]
) -> dict[int, tuple[str, str]]:
    """Item index → ``(agent id, stored name)`` of the named channels that do not exist yet."""
    missing: dict[int, tuple[str, str]] = {}
    for index, (ref, channel) in enumerate(zip(refs, channels, strict=True)):
        if channel is None and ref.channel_id is None and ref.agent_id and ref.name:
            try:
                missing[index] = (ref.agent_id, parse_channel_name(ref.name)[1])
            except ChannelNameError:
                continue
    return missing


async def update_aggregate(
    writer: IngestWriter,
    principal: Principal,
    target: Target,
    data: Any,
    *,
    override: bool = False,
    if_version: int | None = None,
) -> Aggregate:
    """Merge ``data`` into the aggregate (or replace it with ``override``) without logging.

    ``if_version`` (from ``If-Match``) makes it conditional: 412
    ``version_stale`` with ``current_version`` when another write got there first.
    """
    async with writer.database.connect() as conn:
        channel = await load_channel(conn, principal, target, access.WRITE)
    now = now_ms()
    message = Publish(payload=data, save_log=False, override_aggregate=override)
    problems = payload_problems(channel, message, now)
    if problems:
        raise invalid_payload(problems, ["body"])
    [result] = await writer.submit(
        [_item(principal, channel, message, now)], expected_version=if_version
    )
    return aggregate_model(channel.id, result.aggregate, result.aggregate_version, now)
