"""Real-time streams on the wire: WebSocket ``/v1/stream`` and SSE ``/v1/events``.

WebSocket: authenticate with ``Authorization: Bearer …`` on the upgrade, or
(browsers) with a first message ``{"type": "auth", "token": "…"}``. The
server answers ``connected``, then the client subscribes::

    → {"type": "subscribe", "id": "s1",
       "channels": [{"channel_id": "ch_…", "after": 41},
                    {"agent_id": "agt_…", "name": "status"}],
       "aggregates": true, "presence": {"site_id": "site_…"}, "device_events": {},
       "software_events": {"site_id": "site_…"}}
    ← {"type": "subscribed", "id": "s1", "channels": [{"channel_id": "ch_…", "seq": 41, …}, …]}
    ← {"type": "message.created", "sub": "s1", "channel_id": "ch_…", "seq": 42, "message": {…}}
    ← {"type": "aggregate.updated", "sub": "s1", "channel_id": "ch_…", "version": 7, "data": {…}}
    ← {"type": "agent.online", "sub": "s1", "agent_id": "agt_…", "at": "…"}
    ← {"type": "device.event", "sub": "s1", "event": {"seq": 12, "type": "device.state_changed", …}}
    ← {"type": "software.event", "sub": "s1", "event": {"type": "version.published",
       "app_id": "app_…", "site_id": "site_…", "version_id": "ver_…", "number": 3, "at": "…"}}
    ← {"type": "heartbeat", "at": "…"}
    → {"type": "unsubscribe", "id": "s1"}

Positions: a channel's messages are numbered by ``seq`` (1, 2, 3… in commit
order, per channel) and its aggregate by ``version``. ``after`` resumes a
channel: the server first replays every stored message with a greater seq
(within the channel's retention), then continues live, with no gap and no
duplicate. Without ``after`` a channel starts live from "now"; the
``subscribed`` answer says where (``seq``), so a client that reconnects with
``after`` = the last seq it saw loses nothing. ``aggregate_after`` does the
same for the aggregate: the current one is sent when its version is newer.
Aggregate versions may skip (updates that commit together are merged);
device events resume the same way with ``device_events.after`` (an event
``seq``); presence and software events are live only.

Errors are ``{"type": "error", "code": …, "detail": …, "status": …}`` with
the codes of the HTTP API (``not_found``, ``scope_insufficient``,
``validation_failed``…) and, when it concerns a subscribe, its ``id``. A
subscribe is all-or-nothing. The server closes the socket with
:data:`CLOSE_UNAUTHENTICATED` when credentials are missing, invalid or
expired, :data:`CLOSE_TRY_AGAIN` when the client reads too slowly and
:data:`CLOSE_SERVICE_RESTART` when it stops; after the latter two a client
reconnects and resumes.

Example::

    subscribe = StreamSubscribe(id="s1", channels=[ChannelSubscription(channel_id="ch_1")])
    websocket.send_text(subscribe.model_dump_json(exclude_none=True))
    event = parse_server_message(websocket.receive_text())
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, JsonValue, TypeAdapter, model_validator

from fleetyard.protocol.common import RequestModel, ResponseModel, Timestamp
from fleetyard.protocol.devices import DeviceEvent
from fleetyard.protocol.telemetry import CHANNEL_NAME_MAX_LENGTH, Message

__all__ = [
    "CLOSE_INTERNAL_ERROR",
    "CLOSE_NORMAL",
    "CLOSE_SERVICE_RESTART",
    "CLOSE_TRY_AGAIN",
    "CLOSE_UNAUTHENTICATED",
    "MAX_CHANNELS_PER_SUBSCRIBE",
    "MAX_SUBSCRIPTIONS",
    "AgentPresenceEvent",
    "AggregateUpdatedEvent",
    "ChannelSubscription",
    "ClientMessage",
    "DeviceEventFrame",
    "DeviceEventsSubscription",
    "MessageCreatedEvent",
    "PresenceSubscription",
    "ServerMessage",
    "ServerMessageModel",
    "SoftwareEvent",
    "SoftwareEventFrame",
    "SoftwareEventsSubscription",
    "StreamAuth",
    "StreamConnected",
    "StreamError",
    "StreamEvent",
    "StreamEventType",
    "StreamHeartbeat",
    "StreamSubscribe",
    "StreamSubscribed",
    "StreamUnsubscribe",
    "StreamUnsubscribed",
    "SubscribedChannel",
    "parse_server_message",
]

CLOSE_NORMAL = 1000
CLOSE_INTERNAL_ERROR = 1011
CLOSE_SERVICE_RESTART = 1012
"""The server is stopping: reconnect (to it or another replica) and resume."""
CLOSE_TRY_AGAIN = 1013
"""The client fell too far behind (or the server is overloaded): reconnect and resume."""
CLOSE_UNAUTHENTICATED = 4401
"""Missing, invalid or expired credentials; an ``error`` message with the code precedes it."""

MAX_SUBSCRIPTIONS = 100
"""Subscriptions one connection may hold at once."""
MAX_CHANNELS_PER_SUBSCRIBE = 1000
MAX_PRESENCE_AGENTS = 1000
SUBSCRIPTION_ID_MAX_LENGTH = 64


class StreamEventType(StrEnum):
    """Kinds of events on ``/v1/stream`` (WebSocket) and ``/v1/events`` (SSE)."""

    MESSAGE_CREATED = "message.created"
    AGGREGATE_UPDATED = "aggregate.updated"
    AGENT_ONLINE = "agent.online"
    AGENT_OFFLINE = "agent.offline"
    DEVICE_EVENT = "device.event"
    SOFTWARE_EVENT = "software.event"


# --- client → server -----------------------------------------------------------------


class StreamAuth(RequestModel):
    """The first message, when the upgrade carried no ``Authorization`` header (browsers)."""

    type: Literal["auth"] = "auth"
    token: str = Field(min_length=1, max_length=4096)


class ChannelSubscription(RequestModel):
    """A channel to follow: by ``channel_id``, or by ``agent_id`` + ``name``.

    ``after`` replays stored messages with a greater seq first (resume);
    ``aggregate_after`` sends the current aggregate when its version is greater.

    Example::

        ChannelSubscription(agent_id="agt_01…", name="status", after=41)
    """

    channel_id: str | None = Field(default=None, min_length=1, max_length=64)
    agent_id: str | None = Field(default=None, min_length=1, max_length=64)
    name: str | None = Field(default=None, min_length=1, max_length=CHANNEL_NAME_MAX_LENGTH)
    after: int | None = Field(default=None, ge=0)
    aggregate_after: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_target(self) -> ChannelSubscription:
        by_name = self.agent_id is not None or self.name is not None
        if self.channel_id is not None and by_name:
            raise ValueError("give channel_id or agent_id + name, not both")
        if self.channel_id is None and (self.agent_id is None or self.name is None):
            raise ValueError("give channel_id, or agent_id and name")
        return self


class PresenceSubscription(RequestModel):
    """Whose presence to follow: every agent of a site, or the agents named.

    Example::

        PresenceSubscription(site_id="site_01…")
    """

    site_id: str | None = Field(default=None, min_length=1, max_length=64)
    agent_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, min_length=1, max_length=MAX_PRESENCE_AGENTS
    )

    @model_validator(mode="after")
    def _one_target(self) -> PresenceSubscription:
        if (self.site_id is None) == (self.agent_ids is None):
            raise ValueError("give site_id or agent_ids")
        return self


class DeviceEventsSubscription(RequestModel):
    """Follow device and execution events: those of every site the caller may read, or
    of one site. With ``after`` (an event ``seq``), the stored events after it are
    sent first (within the retention), then live ones, none twice.

    The ``subscribed`` answer echoes this with ``after`` set to where the
    subscription starts; a client that reconnects sends the last ``seq`` it got.

    Example::

        DeviceEventsSubscription(site_id="site_01…", after=1041)
    """

    site_id: str | None = Field(default=None, min_length=1, max_length=64)
    after: int | None = Field(default=None, ge=0)


class SoftwareEventsSubscription(RequestModel):
    """Follow software-delivery events (live): versions published or rolled back,
    rollouts started, completed, failed or cancelled, machines that failed to deploy;
    those of every app the caller may read, or of one site's apps.

    Example::

        SoftwareEventsSubscription(site_id="site_01…")
    """

    site_id: str | None = Field(default=None, min_length=1, max_length=64)


class StreamSubscribe(RequestModel):
    """Follow channels (their messages, and aggregates with ``aggregates``) and/or presence.

    ``id`` is the client's name for this subscription: events carry it as
    ``sub``, and ``unsubscribe`` takes it.

    Example::

        StreamSubscribe(id="s1", channels=[ChannelSubscription(channel_id="ch_01…")])
    """

    type: Literal["subscribe"] = "subscribe"
    id: str = Field(min_length=1, max_length=SUBSCRIPTION_ID_MAX_LENGTH)
    channels: list[ChannelSubscription] = Field(
        default_factory=list, max_length=MAX_CHANNELS_PER_SUBSCRIBE
    )
    aggregates: bool = False
    presence: PresenceSubscription | None = None
    device_events: DeviceEventsSubscription | None = None
    software_events: SoftwareEventsSubscription | None = None

    @model_validator(mode="after")
    def _something(self) -> StreamSubscribe:
        if (
            not self.channels
            and self.presence is None
            and self.device_events is None
            and self.software_events is None
        ):
            raise ValueError(
                "subscribe to at least one channel, to presence, to device events"
                " or to software events"
            )
        return self


class StreamUnsubscribe(RequestModel):
    """Stop the subscription ``id``."""

    type: Literal["unsubscribe"] = "unsubscribe"
    id: str = Field(min_length=1, max_length=SUBSCRIPTION_ID_MAX_LENGTH)


ClientMessage = Annotated[
    StreamAuth | StreamSubscribe | StreamUnsubscribe, Field(discriminator="type")
]
"""Anything a client sends, told apart by ``type``."""


# --- server → client -----------------------------------------------------------------


class StreamConnected(ResponseModel):
    """Sent once authenticated. A connection silent for ~2 heartbeats is dead."""

    type: Literal["connected"] = "connected"
    org_id: str
    heartbeat_seconds: float


class SubscribedChannel(ResponseModel):
    """One channel of a subscription and where it starts.

    ``seq``: messages after it follow (the ``after`` asked for, or the
    channel's last seq when following from now). ``aggregate_version``: the
    version the subscription starts from, in the same way.
    """

    channel_id: str
    agent_id: str
    name: str
    seq: int
    aggregate_version: int


class StreamSubscribed(ResponseModel):
    """A subscribe succeeded; replayed and live events follow."""

    type: Literal["subscribed"] = "subscribed"
    id: str
    channels: list[SubscribedChannel] = Field(default_factory=list)
    aggregates: bool = False
    presence: PresenceSubscription | None = None
    device_events: DeviceEventsSubscription | None = None
    software_events: SoftwareEventsSubscription | None = None


class StreamUnsubscribed(ResponseModel):
    type: Literal["unsubscribed"] = "unsubscribed"
    id: str


class MessageCreatedEvent(ResponseModel):
    """A message was stored in a channel. ``seq`` is its position: resume after it.

    Example::

        if event.type == "message.created":
            print(event.seq, event.message.payload)
    """

    type: Literal["message.created"] = "message.created"
    sub: str
    channel_id: str
    agent_id: str
    name: str
    seq: int
    message: Message


class AggregateUpdatedEvent(ResponseModel):
    """A channel's aggregate changed; ``data`` is the whole new value, ``version`` its position.

    Example::

        if event.type == "aggregate.updated":
            state = event.data
    """

    type: Literal["aggregate.updated"] = "aggregate.updated"
    sub: str
    channel_id: str
    agent_id: str
    name: str
    version: int
    data: JsonValue = None
    updated_at: Timestamp | None = None


class AgentPresenceEvent(ResponseModel):
    """An agent came online (heartbeat after silence) or went offline (no heartbeat in time).

    Example::

        if event.type == "agent.offline":
            print(event.agent_id, "last seen", event.last_seen)
    """

    type: Literal["agent.online", "agent.offline"]
    sub: str
    agent_id: str
    site_id: str
    at: Timestamp
    last_seen: Timestamp | None = None


class DeviceEventFrame(ResponseModel):
    """A device or execution event (``event.seq`` orders them per organisation).

    Example::

        if frame.type == "device.event" and frame.event.type == "device.state_changed":
            print(frame.event.device_url, frame.event.states)
    """

    type: Literal["device.event"] = "device.event"
    sub: str
    event: DeviceEvent


class SoftwareEvent(ResponseModel):
    """One software-delivery event, as the server announces it (lenient: fields this
    version does not know are kept).

    ``type`` is ``version.published``, ``version.rolled_back``, ``rollout.started``,
    ``rollout.completed``, ``rollout.failed``, ``rollout.cancelled`` or
    ``machine.deploy_failed``. Version events carry ``version_id`` and ``number``;
    rollout events ``rollout_id``, ``version_id`` and ``state``; a machine's failure
    ``agent_id`` and ``error``.
    """

    type: str
    app_id: str
    site_id: str
    at: Timestamp | None = None
    version_id: str | None = None
    number: int | None = None
    rollout_id: str | None = None
    state: str | None = None
    agent_id: str | None = None
    error: str | None = None


class SoftwareEventFrame(ResponseModel):
    """A software-delivery event of an app the subscriber may read.

    Example::

        if frame.type == "software.event" and frame.event.type == "version.published":
            print(frame.event.app_id, frame.event.number)
    """

    type: Literal["software.event"] = "software.event"
    sub: str
    event: SoftwareEvent


class StreamHeartbeat(ResponseModel):
    """Sent periodically so both sides know the connection is alive."""

    type: Literal["heartbeat"] = "heartbeat"
    at: Timestamp | None = None


class StreamError(ResponseModel):
    """Something the client sent was refused. ``id`` names the subscription it was about."""

    type: Literal["error"] = "error"
    code: str
    detail: str | None = None
    status: int | None = None
    id: str | None = None
    errors: list[dict[str, Any]] | None = None


StreamEvent = Annotated[
    MessageCreatedEvent
    | AggregateUpdatedEvent
    | AgentPresenceEvent
    | DeviceEventFrame
    | SoftwareEventFrame,
    Field(discriminator="type"),
]
"""Any stream event, told apart by ``type``."""

ServerMessageModel = (
    MessageCreatedEvent
    | AggregateUpdatedEvent
    | AgentPresenceEvent
    | DeviceEventFrame
    | SoftwareEventFrame
    | StreamConnected
    | StreamSubscribed
    | StreamUnsubscribed
    | StreamHeartbeat
    | StreamError
)
"""Anything the server sends on ``/v1/stream``, as a plain union (for annotations)."""

ServerMessage = Annotated[ServerMessageModel, Field(discriminator="type")]
"""Anything the server sends on ``/v1/stream``."""

_SERVER_MESSAGE: TypeAdapter[Any] = TypeAdapter(ServerMessage)
_KNOWN_TYPES = frozenset(
    {
        "message.created",
        "aggregate.updated",
        "agent.online",
        "agent.offline",
        "device.event",
        "software.event",
        "connected",
        "subscribed",
        "unsubscribed",
        "heartbeat",
        "error",
    }
)


def parse_server_message(text: str | bytes) -> ServerMessageModel | None:
    """One server frame as its model; ``None`` for a ``type`` this version does not know.

    Unknown types are skipped rather than fatal, so an older client survives a
    newer server that sends more kinds of events.

    >>> parse_server_message('{"type": "heartbeat"}').type
    'heartbeat'
    >>> parse_server_message('{"type": "from.the.future"}') is None
    True
    """
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("type") not in _KNOWN_TYPES:
        return None
    message: ServerMessageModel = _SERVER_MESSAGE.validate_python(data)
    return message
