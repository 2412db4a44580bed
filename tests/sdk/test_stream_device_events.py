"""Device events through ``client.stream.subscribe(device_events=…)`` and
``client.events.stream()`` against a real server: both twins, typed events, the
site filter, and a live resume after the connection was cut."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterable, Iterator

import pytest

from fleetyard import AsyncClient, Client, ReconnectPolicy
from fleetyard.protocol.devices import DeviceEvent, DeviceEventType
from fleetyard.protocol.stream import DeviceEventFrame, DeviceEventsSubscription
from fleetyard.sdk import StreamEvent
from fleetyard.sdk._stream_state import StreamState, device_events_spec
from fleetyard.server.settings import Settings
from tests.conftest import ADMIN_KEY
from tests.server.stream.conftest import STREAM_SETTINGS
from tests.support.fixtures import LOCAL_TAHOMA
from tests.support.live import LiveServer, TcpProxy

AWNING = "io://1234-5678-3293/3541212"
CLOSURE = "core:ClosureState"
FAST = ReconnectPolicy(base_delay=0.05, max_delay=0.5)


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(settings.model_copy(update=STREAM_SETTINGS))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _closure(value: int) -> list[dict[str, object]]:
    return [{"name": CLOSURE, "type": 1, "value": value}]


def _gateway(client: Client, name: str) -> tuple[str, str]:
    """A new site whose gateway holds setup_local_tahoma.json: (site id, awning device id)."""
    site = client.sites.create(name)
    gateway = client.agents.create(site.id, name, kind="gateway")
    result = client.devices.import_setup(LOCAL_TAHOMA, gateway_id=gateway.id)
    assert result.created
    # The same setup is behind both gateways: the URL needs the gateway to be one device.
    return site.id, client.devices.get(AWNING, gateway_id=gateway.id).id


async def _async_gateway(client: AsyncClient, name: str) -> tuple[str, str]:
    site = await client.sites.create(name)
    gateway = await client.agents.create(site.id, name, kind="gateway")
    result = await client.devices.import_setup(LOCAL_TAHOMA, gateway_id=gateway.id)
    assert result.created
    return site.id, (await client.devices.get(AWNING, gateway_id=gateway.id)).id


def _is_state_change(event: StreamEvent) -> bool:
    return (
        isinstance(event, DeviceEventFrame)
        and event.event.type == DeviceEventType.DEVICE_STATE_CHANGED
    )


def _next_state_change(events: Iterable[StreamEvent]) -> DeviceEvent:
    for event in events:
        if _is_state_change(event):
            assert isinstance(event, DeviceEventFrame)
            return event.event
    raise AssertionError("the subscription ended without a device.state_changed event")


async def _anext_state_change(events: AsyncIterator[StreamEvent]) -> DeviceEvent:
    async for event in events:
        if _is_state_change(event):
            assert isinstance(event, DeviceEventFrame)
            return event.event
    raise AssertionError("the subscription ended without a device.state_changed event")


def _closure_of(event: DeviceEvent) -> object:
    assert event.states is not None
    return next(s.value for s in event.states if s.name == CLOSURE)


def test_sync_subscribe_yields_typed_device_events_and_filters_by_site(
    live: LiveServer,
) -> None:
    with Client(ADMIN_KEY, base_url=live.url) as client:
        site_a, device_a = _gateway(client, "a")
        site_b, device_b = _gateway(client, "b")
        with (
            client.stream.subscribe(device_events=True, idle_timeout=10) as everything,
            client.stream.subscribe(device_events=site_a, idle_timeout=10) as only_a,
            client.events.stream(site_id=site_b, idle_timeout=10) as only_b,
        ):
            client.devices.report_states(device_b, _closure(20))
            client.devices.report_states(device_a, _closure(10))

            first, second = _next_state_change(everything), _next_state_change(everything)
            # Site b's change came first: a leak would be the first event of only_a.
            seen_by_a = _next_state_change(only_a)
            seen_by_b = _next_state_change(only_b)

    assert (first.device_id, first.site_id, _closure_of(first)) == (device_b, site_b, 20)
    assert (second.device_id, second.site_id, _closure_of(second)) == (device_a, site_a, 10)
    assert first.device_url == AWNING
    assert second.seq > first.seq
    assert (seen_by_a.device_id, _closure_of(seen_by_a)) == (device_a, 10)
    assert (seen_by_b.device_id, _closure_of(seen_by_b)) == (device_b, 20)


@pytest.mark.anyio
async def test_async_subscribe_is_the_twin(live: LiveServer) -> None:
    async with AsyncClient(ADMIN_KEY, base_url=live.url) as client:
        site_a, device_a = await _async_gateway(client, "a")
        _, device_b = await _async_gateway(client, "b")
        async with (
            client.stream.subscribe(device_events=True, idle_timeout=10) as everything,
            client.events.stream(site_id=site_a, idle_timeout=10) as only_a,
        ):
            await client.devices.report_states(device_b, _closure(30))
            await client.devices.report_states(device_a, _closure(40))
            first = await _anext_state_change(everything)
            second = await _anext_state_change(everything)
            seen_by_a = await _anext_state_change(only_a)

    assert [(e.device_id, _closure_of(e)) for e in (first, second)] == [
        (device_b, 30),
        (device_a, 40),
    ]
    assert (seen_by_a.device_id, seen_by_a.site_id, _closure_of(seen_by_a)) == (
        device_a,
        site_a,
        40,
    )


def test_device_events_resume_after_a_cut_without_gap_or_duplicate(live: LiveServer) -> None:
    """What happened while the connection was down arrives after the reconnect, once."""
    proxy = TcpProxy(live.port)
    reconnects: list[int] = []
    last = 40

    def keep_reporting(device_id: str) -> None:
        with Client(ADMIN_KEY, base_url=live.url) as reporter:
            for value in range(1, last + 1):
                reporter.devices.report_states(device_id, _closure(value))
                threading.Event().wait(0.05)

    try:
        with Client(ADMIN_KEY, base_url=live.url) as client:
            _, device = _gateway(client, "a")
        with (
            Client(ADMIN_KEY, base_url=proxy.url) as client,
            client.events.stream(
                idle_timeout=10,
                reconnect=FAST,
                on_reconnect=lambda attempt, delay, error: reconnects.append(attempt),
            ) as events,
        ):
            reporter = threading.Thread(target=keep_reporting, args=(device,), daemon=True)
            reporter.start()
            try:
                first = _next_state_change(events)
                proxy.cut()  # events go on being recorded while the stream is down
                received = [first]
                while _closure_of(received[-1]) != last:
                    received.append(_next_state_change(events))
            finally:
                reporter.join(timeout=30)
    finally:
        proxy.close()
    assert reconnects
    values = [_closure_of(event) for event in received]
    assert values == list(range(values[0], last + 1))
    seqs = [event.seq for event in received]
    assert seqs == sorted(set(seqs))


def test_the_state_resubscribes_device_events_from_the_last_seq() -> None:
    state = StreamState([], device_events=device_events_spec("site_1"))
    assert json.loads(state.subscribe_frame())["device_events"] == {"site_id": "site_1"}
    state.receive(
        '{"type": "subscribed", "id": "s1", "device_events": {"site_id": "site_1", "after": 2}}'
    )
    # After a reconnect: from where the server said the subscription started.
    assert json.loads(state.subscribe_frame()) == {
        "type": "subscribe",
        "id": "s1",
        "channels": [],
        "aggregates": False,
        "device_events": {"site_id": "site_1", "after": 2},
    }
    event = {"seq": 3, "type": "device.state_changed", "at": "2026-11-24T12:00:00.000Z"}
    event |= {"gateway_id": "agt_1", "site_id": "site_1", "device_url": AWNING}
    frame = state.receive(json.dumps({"type": "device.event", "sub": "s1", "event": event}))
    assert isinstance(frame, DeviceEventFrame)
    assert (frame.event.seq, frame.event.device_url) == (3, AWNING)
    # …and after an event, from that event; a later subscribed answer does not move it back.
    state.receive(
        '{"type": "subscribed", "id": "s1", "device_events": {"site_id": "site_1", "after": 2}}'
    )
    assert json.loads(state.subscribe_frame())["device_events"] == {"site_id": "site_1", "after": 3}
    with pytest.raises(ValueError, match="device events"):
        StreamState([])
    assert device_events_spec(False) is None
    assert device_events_spec(True) == DeviceEventsSubscription()
