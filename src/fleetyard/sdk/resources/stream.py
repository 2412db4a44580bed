"""Live events: ``client.stream.subscribe(...)`` over the ``/v1/stream`` WebSocket."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from fleetyard.sdk._stream import AsyncStreamSubscription, ReconnectCallback, StreamSubscription
from fleetyard.sdk._stream_state import (
    ChannelTarget,
    DeviceEventsTarget,
    PresenceTarget,
    ReconnectPolicy,
    SoftwareEventsTarget,
    StreamState,
    channel_specs,
    device_events_spec,
    presence_spec,
    software_events_spec,
)

if TYPE_CHECKING:
    from fleetyard.sdk._client import AsyncClient, Client

__all__ = ["AsyncStream", "Stream"]

DEFAULT_RECONNECT = ReconnectPolicy()


def _state(
    channels: Iterable[ChannelTarget],
    aggregates: bool,
    presence: PresenceTarget | None,
    after: int | Mapping[str, int] | None,
    device_events: DeviceEventsTarget,
    software_events: SoftwareEventsTarget = False,
) -> StreamState:
    return StreamState(
        channel_specs(channels, after),
        aggregates=aggregates,
        presence=presence_spec(presence),
        device_events=device_events_spec(device_events),
        software_events=software_events_spec(software_events),
    )


class Stream:
    """Real-time events of channels, presence, devices and software, for a
    :class:`~fleetyard.Client`.

    Example::

        with client.stream.subscribe([("agt_01…", "status")]) as events:
            for event in events:
                print(event.seq, event.message.payload)
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    def subscribe(
        self,
        channels: Iterable[ChannelTarget] = (),
        *,
        aggregates: bool = False,
        presence: PresenceTarget | None = None,
        device_events: DeviceEventsTarget = False,
        software_events: SoftwareEventsTarget = False,
        after: int | Mapping[str, int] | None = None,
        idle_timeout: float | None = None,
        reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
        on_reconnect: ReconnectCallback | None = None,
    ) -> StreamSubscription:
        """Follow channels (by id or ``(agent_id, name)``), presence, device and/or software
        events; iterate the events.

        Events are :class:`~fleetyard.protocol.stream.MessageCreatedEvent`
        (``message.created``, in ``seq`` order per channel),
        :class:`~fleetyard.protocol.stream.AggregateUpdatedEvent` (with
        ``aggregates=True``),
        :class:`~fleetyard.protocol.stream.AgentPresenceEvent` (``agent.online``
        / ``agent.offline``, with ``presence="site_…"`` or
        ``{"agent_ids": [...]}``) and
        :class:`~fleetyard.protocol.stream.DeviceEventFrame` (``device.event``,
        the :class:`~fleetyard.protocol.devices.DeviceEvent` in ``.event``; with
        ``device_events=True`` for every site you may read, or
        ``device_events="site_…"`` for one) and
        :class:`~fleetyard.protocol.stream.SoftwareEventFrame` (``software.event``,
        the :class:`~fleetyard.protocol.stream.SoftwareEvent` in ``.event``:
        ``version.published``, ``rollout.failed``…; with ``software_events=True``
        for every app you may read, or ``software_events="site_…"`` for one site's).

        Without ``after`` a channel starts from the moment the ``with`` line
        returns; ``after=41`` (or ``{"ch_…": 41}``) first replays the stored
        messages after seq 41. The connection is kept: when it drops it is
        re-opened (``reconnect``; ``on_reconnect(attempt, delay, error)`` is
        told) and every channel resumes after the last event you got, so you
        see no gap (within retention) and no duplicate. ``idle_timeout``
        ends the iteration after that many seconds without an event (server
        heartbeats keep the connection alive but do not count as events).
        A channel that does not exist raises ``NotFoundError``.

        Device events resume the same way, after the last event delivered.
        Presence and software events are live only: after a reconnect they
        continue from then on, and what happened while the connection was
        down is not seen.

        Example::

            with client.stream.subscribe(["ch_01…"], after=0, idle_timeout=5) as events:
                for event in events:
                    print(event.seq, event.message.payload)

            with client.stream.subscribe(device_events="site_01…") as events:
                for event in events:
                    if event.type == "device.event":
                        print(event.event.type, event.event.device_url, event.event.states)

            with client.stream.subscribe(software_events=True) as events:
                for event in events:
                    if event.type == "software.event":
                        print(event.event.type, event.event.app_id, event.event.version_id)
        """
        return StreamSubscription(
            self._client,
            _state(channels, aggregates, presence, after, device_events, software_events),
            idle_timeout=idle_timeout,
            reconnect=reconnect,
            on_reconnect=on_reconnect,
        )


class AsyncStream:
    """Real-time events for an :class:`~fleetyard.AsyncClient`.

    Example::

        async with client.stream.subscribe(["ch_01…"]) as events:
            async for event in events:
                print(event.type)
    """

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def subscribe(
        self,
        channels: Iterable[ChannelTarget] = (),
        *,
        aggregates: bool = False,
        presence: PresenceTarget | None = None,
        device_events: DeviceEventsTarget = False,
        software_events: SoftwareEventsTarget = False,
        after: int | Mapping[str, int] | None = None,
        idle_timeout: float | None = None,
        reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
        on_reconnect: ReconnectCallback | None = None,
    ) -> AsyncStreamSubscription:
        """Follow channels, presence, device and/or software events; ``async for`` the events
        (see :meth:`Stream.subscribe`).

        Example::

            async with client.stream.subscribe([("agt_01…", "status")], after=0) as events:
                async for event in events:
                    print(event.seq)
        """
        return AsyncStreamSubscription(
            self._client,
            _state(channels, aggregates, presence, after, device_events, software_events),
            idle_timeout=idle_timeout,
            reconnect=reconnect,
            on_reconnect=on_reconnect,
        )
