"""The I/O-free core of ``client.stream.subscribe``: positions, resubscription, deduplication.

Both subscription drivers (blocking and async) own a :class:`StreamState`
and only move frames: they send :meth:`StreamState.subscribe_frame` after
every (re)connect and feed every received frame to
:meth:`StreamState.receive`, which answers the event to hand to the caller
(or ``None``). The state remembers, per channel, the last ``seq`` and
aggregate ``version`` delivered, so a reconnect asks the server to resume
exactly there and anything seen already is dropped: the caller never sees a
gap (within retention) or a duplicate.

Device events resume too: the state remembers the last event ``seq`` (or,
before the first event, where the server said the subscription started) and
a reconnect asks for the stored events after it, within the server's event
retention. Presence and software events are live only: after a reconnect
they continue from the new connection's "now", and what happened while it
was down is not seen.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import httpx2

from fleetyard.protocol.errors import PROBLEM_CONTENT_TYPE, Problem
from fleetyard.protocol.stream import (
    AgentPresenceEvent,
    AggregateUpdatedEvent,
    ChannelSubscription,
    DeviceEventFrame,
    DeviceEventsSubscription,
    MessageCreatedEvent,
    PresenceSubscription,
    SoftwareEventFrame,
    SoftwareEventsSubscription,
    StreamConnected,
    StreamError,
    StreamSubscribe,
    StreamSubscribed,
    parse_server_message,
)
from fleetyard.sdk._exceptions import APIStatusError, error_from_response

__all__ = [
    "ChannelTarget",
    "DeviceEventsTarget",
    "PresenceTarget",
    "ReconnectPolicy",
    "SoftwareEventsTarget",
    "StreamEvent",
    "StreamState",
    "channel_specs",
    "device_events_spec",
    "presence_spec",
    "software_events_spec",
]

StreamEvent: TypeAlias = (
    MessageCreatedEvent
    | AggregateUpdatedEvent
    | AgentPresenceEvent
    | DeviceEventFrame
    | SoftwareEventFrame
)
"""What iterating a subscription yields; tell them apart by ``event.type``
(``"device.event"``: a :class:`~fleetyard.protocol.stream.DeviceEventFrame`,
the :class:`~fleetyard.protocol.devices.DeviceEvent` in ``.event``;
``"software.event"``: a :class:`~fleetyard.protocol.stream.SoftwareEventFrame`,
the :class:`~fleetyard.protocol.stream.SoftwareEvent` in ``.event``)."""

ChannelTarget: TypeAlias = str | tuple[str, str] | ChannelSubscription
"""A channel to follow: its id (``"ch_…"``), ``(agent_id, name)``, or a full
:class:`~fleetyard.protocol.stream.ChannelSubscription`."""

PresenceTarget: TypeAlias = PresenceSubscription | Mapping[str, Any] | str
"""Whose presence to follow: a site id (``"site_…"``), ``{"site_id": …}``,
``{"agent_ids": […]}`` or a :class:`~fleetyard.protocol.stream.PresenceSubscription`."""

DeviceEventsTarget: TypeAlias = bool | str | DeviceEventsSubscription
"""Which device events to follow: ``True`` (every site the caller may read), a site id
(``"site_…"``) or a :class:`~fleetyard.protocol.stream.DeviceEventsSubscription`;
``False`` for none."""

SoftwareEventsTarget: TypeAlias = bool | str | SoftwareEventsSubscription
"""Which software events to follow: ``True`` (every app the caller may read), a site id
(``"site_…"``) or a :class:`~fleetyard.protocol.stream.SoftwareEventsSubscription`;
``False`` for none."""

SUBSCRIPTION_ID = "s1"
DEFAULT_HEARTBEAT_SECONDS = 15.0
LIVENESS_HEARTBEATS = 3
"""A connection silent for this many server heartbeats is taken for dead."""
MAX_MESSAGE_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """How a subscription reconnects after it lost its connection.

    Waits grow from ``base_delay`` by doubling up to ``max_delay``, each drawn
    from its upper half at random (many clients do not come back in
    lockstep). ``max_attempts`` failed attempts in a row give up (``None``:
    never; the first connection always gives up after ``max_attempts`` or 3).

    Example::

        client.stream.subscribe(["ch_…"], reconnect=ReconnectPolicy(max_delay=30.0))
    """

    base_delay: float = 0.25
    max_delay: float = 10.0
    max_attempts: int | None = None

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before reconnect attempt ``attempt`` (1-based).

        >>> ReconnectPolicy(base_delay=1.0, max_delay=8.0).delay(10, rand=lambda: 1.0)
        8.0
        """
        ceiling: float = min(self.base_delay * 2 ** (attempt - 1), self.max_delay)
        return ceiling * (0.5 + rand() / 2)


def channel_specs(
    channels: Iterable[ChannelTarget], after: int | Mapping[str, int] | None
) -> list[ChannelSubscription]:
    """Subscriptions from what a caller passed; ``after`` per channel id, or for every channel.

    >>> spec = channel_specs(["ch_1"], after=4)[0]
    >>> spec.channel_id, spec.after
    ('ch_1', 4)
    """
    if isinstance(channels, str):
        raise TypeError("channels must be a list of channel ids or (agent_id, name) pairs")
    specs: list[ChannelSubscription] = []
    for target in channels:
        if isinstance(target, ChannelSubscription):
            spec = target
        elif isinstance(target, str):
            spec = ChannelSubscription(channel_id=target)
        elif isinstance(target, tuple) and len(target) == 2:
            spec = ChannelSubscription(agent_id=target[0], name=target[1])
        else:
            raise TypeError(f"not a channel: {target!r} (use 'ch_…' or (agent_id, name))")
        if spec.after is None and after is not None:
            start = after if isinstance(after, int) else after.get(spec.channel_id or "")
            if start is not None:
                spec = spec.model_copy(update={"after": start})
        specs.append(spec)
    return specs


def presence_spec(presence: PresenceTarget | None) -> PresenceSubscription | None:
    """The presence subscription a caller means: a site id, a mapping, or the model.

    >>> presence_spec("site_1").site_id
    'site_1'
    """
    if presence is None or isinstance(presence, PresenceSubscription):
        return presence
    if isinstance(presence, str):
        return PresenceSubscription(site_id=presence)
    return PresenceSubscription.model_validate(dict(presence))


def device_events_spec(
    device_events: DeviceEventsTarget | None,
) -> DeviceEventsSubscription | None:
    """The device-events subscription a caller means: ``True``, a site id, or the model.

    >>> device_events_spec(True)
    DeviceEventsSubscription(site_id=None, after=None)
    >>> device_events_spec("site_1").site_id
    'site_1'
    >>> device_events_spec(False) is None
    True
    """
    if device_events is None or device_events is False:
        return None
    if device_events is True:
        return DeviceEventsSubscription()
    if isinstance(device_events, DeviceEventsSubscription):
        return device_events
    if isinstance(device_events, str):
        return DeviceEventsSubscription(site_id=device_events)
    raise TypeError(f"device_events must be True, a site id or a subscription: {device_events!r}")


def software_events_spec(
    software_events: SoftwareEventsTarget | None,
) -> SoftwareEventsSubscription | None:
    """The software-events subscription a caller means: ``True``, a site id, or the model.

    >>> software_events_spec(True)
    SoftwareEventsSubscription(site_id=None)
    >>> software_events_spec("site_1").site_id
    'site_1'
    >>> software_events_spec(False) is None
    True
    """
    if software_events is None or software_events is False:
        return None
    if software_events is True:
        return SoftwareEventsSubscription()
    if isinstance(software_events, SoftwareEventsSubscription):
        return software_events
    if isinstance(software_events, str):
        return SoftwareEventsSubscription(site_id=software_events)
    raise TypeError(
        f"software_events must be True, a site id or a subscription: {software_events!r}"
    )


@dataclass(slots=True)
class _Position:
    seq: int
    version: int


@dataclass
class StreamState:
    """Everything a subscription knows, without any I/O. See the module docstring.

    Example::

        state = StreamState(channel_specs(["ch_1"], after=None))
        websocket.send_text(state.subscribe_frame())
        event = state.receive(websocket.receive_text())   # an event, or None
    """

    channels: list[ChannelSubscription]
    aggregates: bool = False
    presence: PresenceSubscription | None = None
    device_events: DeviceEventsSubscription | None = None
    device_seq: int | None = None
    """The last device event ``seq`` delivered (or where the subscription started)."""
    software_events: SoftwareEventsSubscription | None = None
    """Live only: a reconnect resumes from the new connection's "now"."""
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    positions: dict[str, _Position] = field(default_factory=dict)
    subscribed: bool = False
    """Whether the server accepted the subscription at least once (channels resolved)."""
    acknowledgements: int = 0
    """How many ``subscribed`` answers arrived (one per successful connection)."""
    clock: Callable[[], float] = time.monotonic
    last_frame_at: float = 0.0

    def __post_init__(self) -> None:
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

    # -- what to send ------------------------------------------------------------------

    def subscribe_frame(self) -> str:
        """The ``subscribe`` to send on a fresh connection: resumes where delivery stopped."""
        if self.subscribed:
            # Resolved to ids the first time; from then on resume each channel exactly.
            channels = [
                ChannelSubscription(
                    channel_id=channel_id,
                    after=position.seq,
                    aggregate_after=position.version if self.aggregates else None,
                )
                for channel_id, position in self.positions.items()
            ]
        else:
            channels = self.channels
        device_events = self.device_events
        if device_events is not None and self.device_seq is not None:
            device_events = device_events.model_copy(update={"after": self.device_seq})
        frame = StreamSubscribe(
            id=SUBSCRIPTION_ID,
            channels=channels,
            aggregates=self.aggregates,
            presence=self.presence,
            device_events=device_events,
            software_events=self.software_events,
        )
        return frame.model_dump_json(exclude_none=True)

    # -- what arrived ------------------------------------------------------------------

    def connected(self) -> None:
        """A new connection is up: it is alive until proven otherwise."""
        self.last_frame_at = self.clock()

    def receive(self, text: str | bytes) -> StreamEvent | None:
        """Take one server frame; the event to deliver, or ``None`` (control, duplicate).

        An ``error`` frame raises the matching :class:`~fleetyard.APIStatusError`
        (``NotFoundError`` for a channel that is gone, ``AuthenticationError``…).
        """
        self.last_frame_at = self.clock()
        message = parse_server_message(text)
        if isinstance(message, MessageCreatedEvent):
            position = self.positions.get(message.channel_id)
            if position is not None:
                if message.seq <= position.seq:
                    return None  # delivered before a reconnect
                position.seq = message.seq
            return message
        if isinstance(message, AggregateUpdatedEvent):
            position = self.positions.get(message.channel_id)
            if position is not None:
                if message.version <= position.version:
                    return None
                position.version = message.version
            return message
        if isinstance(message, DeviceEventFrame):
            self.device_seq = max(self.device_seq or 0, message.event.seq)
            return message
        if isinstance(message, AgentPresenceEvent | SoftwareEventFrame):
            return message  # live only: nothing to resume, nothing replayed
        if isinstance(message, StreamSubscribed):
            self._adopt(message)
        elif isinstance(message, StreamConnected):
            self.heartbeat_seconds = message.heartbeat_seconds
        elif isinstance(message, StreamError):
            raise error_from_frame(message)
        return None

    def _adopt(self, message: StreamSubscribed) -> None:
        for channel in message.channels:
            known = self.positions.get(channel.channel_id)
            if known is None:
                self.positions[channel.channel_id] = _Position(
                    channel.seq, channel.aggregate_version
                )
            else:
                # A resubscribe starts where we asked; never move backwards.
                known.seq = max(known.seq, channel.seq)
                known.version = max(known.version, channel.aggregate_version)
        started = message.device_events.after if message.device_events is not None else None
        if started is not None and self.device_seq is None:
            self.device_seq = started
        self.subscribed = True
        self.acknowledgements += 1

    # -- time --------------------------------------------------------------------------

    @property
    def liveness_timeout(self) -> float:
        """Seconds without any frame (heartbeats count) after which the connection is dead."""
        return max(LIVENESS_HEARTBEATS * self.heartbeat_seconds, 1.0)

    def seconds_until_dead(self) -> float:
        return self.last_frame_at + self.liveness_timeout - self.clock()


def error_from_frame(frame: StreamError) -> APIStatusError:
    """The SDK exception an ``error`` frame stands for (the same tree as HTTP errors)."""
    status = frame.status or 400
    problem = Problem.build(
        status,
        frame.code,
        frame.code.replace("_", " ").capitalize(),
        frame.detail,
        errors=frame.errors,
        **(frame.model_extra or {}),
    )
    response = httpx2.Response(
        status,
        headers={"content-type": PROBLEM_CONTENT_TYPE},
        content=json.dumps(problem.model_dump(mode="json", exclude_none=True)).encode(),
    )
    return error_from_response(response)
