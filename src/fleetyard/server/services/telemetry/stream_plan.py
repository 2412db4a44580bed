"""What a stream subscription is made of, and the checks that come before it.

:func:`resolve_channels`, :func:`check_presence`, :func:`check_device_events`
and :func:`check_software_events` decide what a caller may follow (the HTTP
rules: a channel it may not read is 404, a site without ``site:<id>:read`` is
403); :func:`build_sub` lays out a checked :class:`Plan` as feeds and bus
topics for the session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.scopes import Scope
from fleetyard.protocol.stream import (
    ChannelSubscription,
    DeviceEventsSubscription,
    PresenceSubscription,
    SoftwareEventsSubscription,
    StreamEventType,
    StreamSubscribe,
)
from fleetyard.server.services.auth import Principal, insufficient
from fleetyard.server.services.devices.events import device_events_topic
from fleetyard.server.services.errors import NotFound, ServiceError, Unprocessable
from fleetyard.server.services.software import access as software_access
from fleetyard.server.services.software._common import software_topic
from fleetyard.server.services.telemetry import access
from fleetyard.server.services.telemetry import events as ev
from fleetyard.server.services.telemetry.agents import load_agent
from fleetyard.server.services.telemetry.channels import checked_name
from fleetyard.server.storage.repositories.telemetry import agents as agents_repo
from fleetyard.server.storage.repositories.telemetry import channels as channel_repo
from fleetyard.server.storage.repositories.telemetry.channels import ChannelRecord

__all__ = [
    "Feed",
    "Plan",
    "Start",
    "Sub",
    "build_sub",
    "check_device_events",
    "check_presence",
    "check_software_events",
    "error_frame",
    "invalid_message",
    "resolve_channels",
    "software_only",
]


@dataclass(slots=True, eq=False)
class Feed:
    """One channel of one subscription and how far it has been delivered."""

    channel_id: str
    pk: int
    agent_id: str
    name: str
    seq: int = 0
    version: int = 0
    message_prefix: str = ""
    aggregate_prefix: str = ""


@dataclass(slots=True, eq=False)
class Sub:
    """One subscription of a connection: its channels (feeds), presence, and bus topics."""

    id: str
    feeds: dict[str, Feed]
    aggregates: bool
    presence: PresenceSubscription | None
    presence_prefixes: dict[str, str] = field(default_factory=dict)
    # Last announced state per agent: what a catch-up after lagging compares with.
    presence_known: dict[str, bool] = field(default_factory=dict)
    topics: list[tuple[str, Feed | None]] = field(default_factory=list)
    # Device events: which site, if one, and the frame opening; the last event seq
    # sent (where a catch-up resumes), and up to where a replay read from storage
    # (live events up to it are duplicates).
    device_events: DeviceEventsSubscription | None = None
    device_prefix: str = ""
    device_seen: int = 0
    device_replayed: int = 0
    # Software events (live only): which site, if one, and the frame opening.
    software_events: SoftwareEventsSubscription | None = None
    software_prefix: str = ""


@dataclass(frozen=True, slots=True)
class Start:
    """Where one channel of a plan starts: ``None`` means "from now"."""

    record: ChannelRecord
    after: int | None
    aggregate_after: int | None


@dataclass(frozen=True, slots=True)
class Plan:
    """A checked subscribe, ready for :meth:`StreamSession.activate`."""

    request: StreamSubscribe
    channels: list[Start]


def error_frame(error: ServiceError, sub_id: str | None = None) -> str:
    """``{"type":"error",…}`` for a refused request: the problem's code, detail and status."""
    body: dict[str, Any] = {
        "type": "error",
        "code": str(error.code),
        "detail": error.detail or error.title,
        "status": error.status,
    }
    if sub_id is not None:
        body["id"] = sub_id
    body.update(error.extra)
    return ev.dumps(body)


async def resolve_channels(
    conn: AsyncConnection, principal: Principal, specs: list[ChannelSubscription]
) -> list[ChannelRecord]:
    """The channels a subscribe names, each readable by ``principal``; 404 for any other."""
    org_id = principal.org_id
    names: list[tuple[str, str]] = []
    for spec in specs:
        if spec.channel_id is None:
            assert spec.agent_id is not None
            assert spec.name is not None
            names.append((spec.agent_id, checked_name(spec.name)[1]))
    ids = [spec.channel_id for spec in specs if spec.channel_id is not None]
    found = await channel_repo.resolve(conn, org_id=org_id, ids=ids, names=names)
    by_id = {record.id: record for record in found}
    by_name = {(record.agent_id, record.name): record for record in found}
    records: list[ChannelRecord] = []
    pending_names = iter(names)
    for spec in specs:
        if spec.channel_id is not None:
            record = by_id.get(spec.channel_id)
            described = repr(spec.channel_id)
        else:
            key = next(pending_names)
            record = by_name.get(key)
            described = f"{key[1]!r} of {key[0]!r}"
        readable = record is not None and access.can(
            principal,
            site_id=record.site_id,
            agent_id=record.agent_id,
            permission=access.channel_read_permission(record.is_private),
        )
        if record is None or not readable:
            # What a caller may not read, it may not learn exists either.
            raise NotFound(f"Channel {described} was not found.")
        records.append(record)
    return records


async def check_presence(
    conn: AsyncConnection, principal: Principal, presence: PresenceSubscription
) -> None:
    """``site:<id>:read`` (403) on an existing site (404), or read access to each agent."""
    org_id = principal.org_id
    if presence.site_id is not None:
        site_id = presence.site_id
        if not access.can(principal, site_id=site_id, agent_id=None, permission=access.READ):
            raise insufficient([Scope("site", site_id, access.READ)])
        if not await agents_repo.site_exists(conn, site_id, org_id=org_id):
            raise NotFound(f"Site {site_id!r} was not found.")
    for agent_id in presence.agent_ids or ():
        await load_agent(conn, principal, agent_id, access.READ)


async def check_device_events(
    conn: AsyncConnection, principal: Principal, subscription: DeviceEventsSubscription
) -> None:
    """For one site: ``site:<id>:read`` (403) on an existing site (404). Without a site,
    each event is filtered by what the caller may read as it is delivered."""
    site_id = subscription.site_id
    if site_id is None:
        return
    if not access.can(principal, site_id=site_id, agent_id=None, permission=access.READ):
        raise insufficient([Scope("site", site_id, access.READ)])
    if not await agents_repo.site_exists(conn, site_id, org_id=principal.org_id):
        raise NotFound(f"Site {site_id!r} was not found.")


def software_only(request: StreamSubscribe) -> bool:
    """Whether a subscribe follows software events and nothing else (no telemetry)."""
    return (
        request.software_events is not None
        and not request.channels
        and request.presence is None
        and request.device_events is None
    )


async def check_software_events(
    conn: AsyncConnection, principal: Principal, subscription: SoftwareEventsSubscription
) -> None:
    """For one site: ``site:<id>:read`` or read on some app (403), an existing site (404).

    Each event is then filtered as it is delivered: the caller sees an app's events
    when it may read the app's site or the app itself.
    """
    site_id = subscription.site_id
    if site_id is None:
        software_access.require_somewhere(principal, software_access.READ)
        return
    if not software_access.can(
        principal, site_id=site_id, app_id=None, permission=software_access.READ
    ):
        # App scopes name no site: they may still cover some of this site's apps.
        _, apps = software_access.visible(principal)
        if not apps:
            raise insufficient([Scope("site", site_id, software_access.READ)])
    if not await agents_repo.site_exists(conn, site_id, org_id=principal.org_id):
        raise NotFound(f"Site {site_id!r} was not found.")


def build_sub(plan: Plan, *, org_id: str | None = None) -> Sub:
    """The subscription a plan describes: its feeds, frame prefixes and bus topics.

    ``org_id`` (the caller's) is needed when the plan follows device or software events.
    """
    request = plan.request
    sub = Sub(request.id, {}, request.aggregates, request.presence)
    if request.device_events is not None:
        assert org_id is not None
        sub.device_events = request.device_events
        sub.device_prefix = ev.prefix(type=StreamEventType.DEVICE_EVENT.value, sub=sub.id)
        sub.topics.append((device_events_topic(org_id), None))
    if request.software_events is not None:
        assert org_id is not None
        sub.software_events = request.software_events
        sub.software_prefix = ev.prefix(type=StreamEventType.SOFTWARE_EVENT.value, sub=sub.id)
        sub.topics.append((software_topic(org_id), None))
    for start in plan.channels:
        record = start.record
        feed = Feed(record.id, record.pk, record.agent_id, record.name)
        feed.message_prefix = ev.prefix(
            type=ev.MESSAGE_CREATED, sub=sub.id, agent_id=feed.agent_id, name=feed.name
        )
        feed.aggregate_prefix = ev.prefix(
            type=ev.AGGREGATE_UPDATED, sub=sub.id, agent_id=feed.agent_id, name=feed.name
        )
        sub.feeds[feed.channel_id] = feed
        sub.topics.append((ev.messages_topic(feed.channel_id), feed))
        if sub.aggregates:
            sub.topics.append((ev.aggregate_topic(feed.channel_id), feed))
    presence = request.presence
    if presence is not None:
        for kind in (ev.AGENT_ONLINE, ev.AGENT_OFFLINE):
            sub.presence_prefixes[kind] = ev.prefix(type=kind, sub=sub.id)
        if presence.site_id is not None:
            sub.topics.append((ev.site_presence_topic(presence.site_id), None))
        for agent_id in presence.agent_ids or ():
            sub.topics.append((ev.agent_presence_topic(agent_id), None))

    return sub


def invalid_message(exc: ValidationError) -> ServiceError:
    """422 ``validation_failed`` for a client frame that does not parse."""
    errors = [
        {
            "loc": [str(part) for part in error["loc"]],
            "message": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors()
    ]
    detail = "; ".join(f"{'.'.join(e['loc'])}: {e['message']}" for e in errors[:5])
    return Unprocessable(detail or "The message is not valid.", errors=errors)
