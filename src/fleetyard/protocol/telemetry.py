"""Telemetry on the wire: agents, channels, messages, aggregates, timeseries, stream events.

An *agent* is a machine in a site; it publishes JSON *messages* into named
*channels*. Each channel keeps an append-only log (messages numbered by a
per-channel ``seq``: 1, 2, 3… in commit order) and an *aggregate*: the merge
of everything published to it (JSON Merge Patch, RFC 7396).

Channel names follow one rule, checked here so the SDK and CLI fail early:
any printable character except ``/``, 1 to 200 characters. A leading ``#``
makes a processor, a leading ``!`` a task; the prefix stays part of the
stored name (``#my-processor`` is both how you write it and how you look it
up) and the kind is stored beside it.

Example::

    kind, name = parse_channel_name("#alarms")   # (ChannelKind.PROCESSOR, "#alarms")
    parse_interval("5m")                          # 300000 (milliseconds)

The routes that carry these models are listed in ``docs/telemetry.md`` and
``docs/openapi.json``.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import Field, JsonValue, field_validator, model_validator

from fleetyard.protocol.common import RequestModel, ResponseModel, Timestamp
from fleetyard.protocol.identity import Text

AGENT_ID_PREFIX = "agt"
CHANNEL_ID_PREFIX = "ch"

CHANNEL_NAME_MAX_LENGTH = 200
PROCESSOR_PREFIX = "#"
TASK_PREFIX = "!"
CLIENT_MESSAGE_ID_MAX_LENGTH = 200
BATCH_MAX_ITEMS = 10_000
"""Most items one batch publish may carry."""

TIMESERIES_MAX_FIELDS = 16
FIELD_PATH_MAX_DEPTH = 8
_FIELD_SEGMENT = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,62}$")
LABEL_VALUE_MAX_LENGTH = 200


class AgentKind(StrEnum):
    """What an agent is; informational, it changes no behaviour."""

    DEVICE = "device"
    GATEWAY = "gateway"
    MACHINE = "machine"
    SERVICE = "service"


class ChannelKind(StrEnum):
    """A plain ``channel``, a ``processor`` (name starts with ``#``) or a ``task`` (``!``)."""

    CHANNEL = "channel"
    PROCESSOR = "processor"
    TASK = "task"


_PREFIX_OF_KIND = {ChannelKind.PROCESSOR: PROCESSOR_PREFIX, ChannelKind.TASK: TASK_PREFIX}


class ChannelNameError(ValueError):
    """A channel name that breaks the naming rule."""


def parse_channel_name(name: str, kind: ChannelKind | None = None) -> tuple[ChannelKind, str]:
    """Check a channel name and return its kind and the name as stored.

    The prefix decides the kind; a ``kind`` given without the prefix adds it,
    so ``("my-processor", PROCESSOR)`` and ``"#my-processor"`` name the same
    channel. A kind that contradicts the prefix is an error.

    >>> parse_channel_name("!reboot")
    (<ChannelKind.TASK: 'task'>, '!reboot')
    >>> parse_channel_name("alarms", ChannelKind.PROCESSOR)
    (<ChannelKind.PROCESSOR: 'processor'>, '#alarms')
    """
    if not isinstance(name, str) or not name:
        raise ChannelNameError("a channel name must not be empty")
    implied = ChannelKind.CHANNEL
    if name[0] == PROCESSOR_PREFIX:
        implied = ChannelKind.PROCESSOR
    elif name[0] == TASK_PREFIX:
        implied = ChannelKind.TASK
    if kind is not None and kind is not ChannelKind.CHANNEL and implied is ChannelKind.CHANNEL:
        name = _PREFIX_OF_KIND[kind] + name
        implied = kind
    if kind is not None and kind is not implied:
        raise ChannelNameError(f"the name {name!r} makes a {implied.value}, not a {kind.value}")
    base = name if implied is ChannelKind.CHANNEL else name[1:]
    if not base:
        raise ChannelNameError(f"{name!r} is only a prefix: add a name after it")
    if len(name) > CHANNEL_NAME_MAX_LENGTH:
        raise ChannelNameError(f"a channel name has at most {CHANNEL_NAME_MAX_LENGTH} characters")
    if "/" in name:
        # Names appear in URL paths (/agents/{id}/channels/{name}).
        raise ChannelNameError("a channel name must not contain '/'")
    if not name.isprintable():
        raise ChannelNameError("a channel name must contain only printable characters")
    return implied, name


def parse_field_path(path: str) -> list[str]:
    """Split a JSON field path (``battery.level``) into object keys.

    Segments are letters, digits, ``_`` and ``-``; arrays are not indexed.

    >>> parse_field_path("battery.level")
    ['battery', 'level']
    """
    segments = path.split(".")
    if len(segments) > FIELD_PATH_MAX_DEPTH or not all(_FIELD_SEGMENT.match(s) for s in segments):
        raise ValueError(
            f"{path!r} is not a field path: dot-separated keys of letters, digits, '_' or '-'"
            f" (at most {FIELD_PATH_MAX_DEPTH} deep)"
        )
    return segments


_INTERVAL = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_interval(text: str) -> int:
    """A duration like ``500ms``, ``30s``, ``5m``, ``1h``, ``1d``, ``1w`` in milliseconds.

    >>> parse_interval("5m")
    300000
    """
    match = _INTERVAL.match(text)
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration like 30s, 5m, 1h or 1d")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def format_interval(ms: int) -> str:
    """The shortest exact spelling of a duration: ``format_interval(300000) == "5m"``."""
    for unit in ("w", "d", "h", "m", "s"):
        if ms % _UNIT_MS[unit] == 0:
            return f"{ms // _UNIT_MS[unit]}{unit}"
    return f"{ms}ms"


def _check_labels(value: dict[str, str]) -> dict[str, str]:
    if len(value) > 64:
        raise ValueError("at most 64 labels")
    for key, label in value.items():
        if not _LABEL_KEY.match(key):
            raise ValueError(f"label key {key!r}: letters, digits, '_', '.', '-', '/' (max 63)")
        if len(label) > LABEL_VALUE_MAX_LENGTH:
            raise ValueError(f"label {key!r}: at most {LABEL_VALUE_MAX_LENGTH} characters")
    return value


# --- agents --------------------------------------------------------------------------


class Agent(ResponseModel):
    """A machine, device, gateway or service that publishes telemetry.

    Example::

        agent = client.agents.create(site_id=site.id, name="pump-7", labels={"line": "3"})
    """

    id: str
    org_id: str
    site_id: str
    name: str
    kind: AgentKind
    labels: dict[str, str] = {}
    metadata: dict[str, JsonValue] = {}
    online: bool = False
    last_seen: Timestamp | None = None
    created_at: Timestamp
    updated_at: Timestamp


class AgentCreate(RequestModel):
    """Create an agent in a site. ``name`` is unique in the organisation."""

    site_id: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    kind: AgentKind = AgentKind.DEVICE
    labels: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, JsonValue] = Field(default_factory=dict)

    _labels = field_validator("labels")(_check_labels)


class AgentUpdate(RequestModel):
    """Change an agent; absent fields stay. ``labels`` and ``metadata`` are replaced whole."""

    site_id: str | None = Field(default=None, min_length=1, max_length=40)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: AgentKind | None = None
    labels: dict[str, str] | None = None
    metadata: dict[str, JsonValue] | None = None

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else _check_labels(value)


class AgentTokenCreate(RequestModel):
    """Issue a per-agent credential: an API key whose only scope is ``agent:<id>:write``.

    It publishes to and reads that agent's channels, nothing else. The
    secret is shown once, in the answer (an ``ApiKeyCreated``).

    Example::

        key = client.agents.token(agent.id, name="pump-7 firmware")
    """

    name: Text | None = Field(default=None, min_length=1, max_length=200)
    expires_at: Timestamp | None = None


# --- channels ------------------------------------------------------------------------


class Retention(RequestModel):
    """How long a channel's log keeps messages; either limit, both, or neither (forever).

    ``max_age_seconds`` counts from each message's own time (``ts``), so a
    message published today with last year's timestamp expires at once
    under a 30-day policy.
    """

    max_age_seconds: int | None = Field(default=None, ge=1, le=100 * 365 * 86_400)
    max_messages: int | None = Field(default=None, ge=1, le=10**12)


class ChannelRetention(ResponseModel):
    """A channel's retention as the server reports it (see :class:`Retention`)."""

    max_age_seconds: int | None = None
    max_messages: int | None = None


class Channel(ResponseModel):
    """A named stream of one agent: its log position and aggregate version.

    ``last_seq`` is the seq of the newest message ever logged (0 when none);
    seqs are per channel, start at 1 and have no gaps in commit order.
    """

    id: str
    org_id: str
    agent_id: str
    name: str
    kind: ChannelKind
    is_private: bool = False
    retention: ChannelRetention = Field(default_factory=ChannelRetention)
    json_schema: dict[str, JsonValue] | None = None
    last_seq: int = 0
    aggregate_version: int = 0
    aggregate_updated_at: Timestamp | None = None
    created_at: Timestamp
    updated_at: Timestamp


class ChannelCreate(RequestModel):
    """Create (or get, when it exists) the channel ``name`` of an agent.

    ``"#name"`` makes a processor and ``"!name"`` a task; ``kind`` may be
    given instead of the prefix.

    Example::

        client.channels.create(agent.id, "#my-processor")
    """

    name: str = Field(min_length=1, max_length=CHANNEL_NAME_MAX_LENGTH)
    kind: ChannelKind | None = None
    is_private: bool = False
    retention: Retention | None = None
    json_schema: dict[str, JsonValue] | None = None


class ChannelUpdate(RequestModel):
    """Change a channel; absent fields stay, ``null`` clears ``retention`` or ``json_schema``."""

    is_private: bool | None = None
    retention: Retention | None = None
    json_schema: dict[str, JsonValue] | None = None


class Aggregate(ResponseModel):
    """The merged state of a channel. ``version`` grows with every change (the ETag)."""

    channel_id: str
    data: JsonValue = None
    version: int = 0
    updated_at: Timestamp | None = None


# --- messages and publishing ---------------------------------------------------------


class Message(ResponseModel):
    """One logged message. ``seq`` is its id: per channel, monotonic, usable as a cursor.

    ``ts`` is the message's own time (the client's, or the server's when none
    was given); ``received_at`` is when the server stored it.
    """

    channel_id: str
    seq: int
    ts: Timestamp
    received_at: Timestamp
    payload: JsonValue = None
    client_message_id: str | None = None


class MessagePublish(RequestModel):
    """Publish one message.

    ``payload`` is any JSON value. It is merged into the aggregate (RFC 7396,
    or replaces it with ``override_aggregate``) and appended to the log when
    ``save_log`` is true. ``log_aggregate`` logs the resulting aggregate
    instead of the payload (and logs even when ``save_log`` is false).
    ``client_message_id`` makes a resend harmless: the first message with that
    id in the channel is acknowledged again (``duplicate: true``), not stored
    twice. It applies to logged messages.

    Example::

        client.channels.publish((agent.id, "status"), {"temperature": 21.5})
    """

    payload: JsonValue
    timestamp: Timestamp | None = None
    client_message_id: str | None = Field(
        default=None, min_length=1, max_length=CLIENT_MESSAGE_ID_MAX_LENGTH
    )
    save_log: bool = True
    log_aggregate: bool = False
    override_aggregate: bool = False


class BatchPublishItem(MessagePublish):
    """One item of a batch: the channel by ``channel_id``, or by ``agent_id`` + ``channel`` name."""

    channel_id: str | None = None
    agent_id: str | None = None
    channel: str | None = Field(default=None, min_length=1, max_length=CHANNEL_NAME_MAX_LENGTH)

    @model_validator(mode="after")
    def _one_target(self) -> BatchPublishItem:
        by_name = self.agent_id is not None or self.channel is not None
        if self.channel_id is not None and by_name:
            raise ValueError("give channel_id or agent_id + channel, not both")
        if self.channel_id is None and (self.agent_id is None or self.channel is None):
            raise ValueError("give channel_id, or agent_id and channel")
        return self


class BatchPublish(RequestModel):
    """Many messages to many channels. Validated all-or-nothing: one bad item
    rejects the whole batch with an error per bad item, and nothing is stored."""

    items: list[BatchPublishItem] = Field(min_length=1, max_length=BATCH_MAX_ITEMS)


class PublishAck(ResponseModel):
    """A durable publish. ``seq`` is None when nothing was logged (``save_log`` false)."""

    channel_id: str
    seq: int | None = None
    ts: Timestamp
    duplicate: bool = False
    aggregate_version: int


class BatchPublishAck(ResponseModel):
    """Acknowledgements of a batch, in the order of its items."""

    items: list[PublishAck]


class MessageUpdate(RequestModel):
    """Replace the payload of a logged message (the aggregate is not recomputed)."""

    payload: JsonValue


class ChannelLatest(ResponseModel):
    """One agent's channel of a given name: its aggregate and newest logged message."""

    agent_id: str
    channel_id: str
    name: str
    aggregate: Aggregate
    message: Message | None = None


# --- timeseries ----------------------------------------------------------------------


class TimeseriesAggregate(StrEnum):
    """How the values of one bucket are combined; ``first``/``last`` follow message time."""

    AVG = "avg"
    MIN = "min"
    MAX = "max"
    SUM = "sum"
    COUNT = "count"
    FIRST = "first"
    LAST = "last"


class TimeseriesQuery(RequestModel):
    """Numbers at JSON field paths over a window, raw or in buckets of ``interval``.

    The window is ``start <= ts < end`` (either may be open). Buckets are
    aligned to multiples of ``interval`` since the epoch (UTC), so ``1h``
    buckets start on the hour; buckets without data are left out. Booleans
    count as 1/0; other non-numbers are skipped.

    Example::

        client.channels.timeseries(ch.id, fields=["temperature"], interval="5m",
                                   aggregates=["avg", "max"], start=yesterday)
    """

    fields: list[str] = Field(min_length=1, max_length=TIMESERIES_MAX_FIELDS)
    start: Timestamp | None = None
    end: Timestamp | None = None
    interval: str | None = None
    aggregates: list[TimeseriesAggregate] = Field(
        default_factory=lambda: [TimeseriesAggregate.AVG], min_length=1
    )
    limit: int = Field(default=10_000, ge=1, le=100_000)

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: list[str]) -> list[str]:
        for path in value:
            parse_field_path(path)
        return value

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value is not None:
            parse_interval(value)
        return value


class TimeseriesSeries(ResponseModel):
    """Values of one field (and aggregate, when bucketed), parallel to ``timestamps``."""

    field: str
    aggregate: TimeseriesAggregate | None = None
    values: list[float | None]


class Timeseries(ResponseModel):
    """Columnar timeseries: one shared ``timestamps`` axis and one value list per series.

    Raw: one point per message that has at least one of the fields.
    Bucketed: one point per bucket start that has data.
    """

    channel_id: str
    start: Timestamp | None = None
    end: Timestamp | None = None
    interval: str | None = None
    timestamps: list[Timestamp]
    series: list[TimeseriesSeries]


# --- real-time stream ----------------------------------------------------------------

# The stream models live in protocol/stream.py; these names stay importable from here.
_STREAM_NAMES = frozenset(
    {
        "AgentPresenceEvent",
        "AggregateUpdatedEvent",
        "ChannelSubscription",
        "MessageCreatedEvent",
        "StreamEvent",
        "StreamEventType",
        "StreamSubscribe",
        "StreamUnsubscribe",
    }
)


def __getattr__(name: str) -> Any:
    # Lazy: protocol.stream imports this module (for Message).
    if name in _STREAM_NAMES:
        from fleetyard.protocol import stream

        return getattr(stream, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
