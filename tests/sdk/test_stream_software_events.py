"""Software events through ``client.stream.subscribe(software_events=…)`` against a real
server: typed frames, the site filter, and the state's live resubscription."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from fleetyard import Client, PushOptions
from fleetyard.protocol.stream import (
    SoftwareEvent,
    SoftwareEventFrame,
    SoftwareEventsSubscription,
)
from fleetyard.sdk import StreamEvent
from fleetyard.sdk._stream_state import StreamState, software_events_spec
from fleetyard.server.settings import Settings
from tests.conftest import ADMIN_KEY
from tests.server.stream.conftest import STREAM_SETTINGS
from tests.support.live import LiveServer


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(settings.model_copy(update=STREAM_SETTINGS))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _next_software_event(events: Iterable[StreamEvent]) -> SoftwareEvent:
    for event in events:
        if isinstance(event, SoftwareEventFrame):
            return event.event
    raise AssertionError("the subscription ended without a software.event frame")


def _push(client: Client, root: Path, app_id: str, site_id: str) -> str:
    """Push a one-file tree as a new version of ``app_id`` (made in the site): its id."""
    root.mkdir()
    (root / "run.sh").write_text(f"echo {app_id}\n")
    return client.apps.push(root, app_id, PushOptions(site_id=site_id, concurrency=1)).version_id


def test_sync_subscribe_yields_typed_software_events_and_filters_by_site(
    live: LiveServer, tmp_path: Path
) -> None:
    with Client(ADMIN_KEY, base_url=live.url) as client:
        site_a, site_b = client.sites.create("a").id, client.sites.create("b").id
        with (
            client.stream.subscribe(software_events=True, idle_timeout=10) as everything,
            client.stream.subscribe(software_events=site_b, idle_timeout=10) as only_b,
        ):
            version_a = _push(client, tmp_path / "a", "app_streama", site_a)
            version_b = _push(client, tmp_path / "b", "app_streamb", site_b)
            first = _next_software_event(everything)
            second = _next_software_event(everything)
            # Site a's version came first: a leak would be the first event of only_b.
            seen_by_b = _next_software_event(only_b)

    assert (first.type, first.app_id, first.site_id) == ("version.published", "app_streama", site_a)
    assert (first.version_id, first.number) == (version_a, 1)
    assert first.at is not None
    assert (second.app_id, second.version_id) == ("app_streamb", version_b)
    assert (seen_by_b.app_id, seen_by_b.site_id, seen_by_b.version_id) == (
        "app_streamb",
        site_b,
        version_b,
    )


def test_the_state_resubscribes_software_events_live_and_passes_them_through() -> None:
    state = StreamState([], software_events=software_events_spec("site_1"))
    assert json.loads(state.subscribe_frame())["software_events"] == {"site_id": "site_1"}
    state.receive('{"type": "subscribed", "id": "s1", "software_events": {"site_id": "site_1"}}')
    assert json.loads(state.subscribe_frame()) == {
        "type": "subscribe",
        "id": "s1",
        "channels": [],
        "aggregates": False,
        "software_events": {"site_id": "site_1"},
    }
    event = {"type": "rollout.failed", "app_id": "app_1", "site_id": "site_1"}
    event |= {"rollout_id": "rol_1", "state": "failed", "waves": 3}
    frame = state.receive(json.dumps({"type": "software.event", "sub": "s1", "event": event}))
    assert isinstance(frame, SoftwareEventFrame)
    assert (frame.event.type, frame.event.rollout_id, frame.event.state) == (
        "rollout.failed",
        "rol_1",
        "failed",
    )
    # Lenient: fields this version does not know are kept.
    assert (frame.event.model_extra or {})["waves"] == 3
    assert software_events_spec(False) is None
    assert software_events_spec(True) == SoftwareEventsSubscription()
    with pytest.raises(TypeError):
        software_events_spec(3)  # type: ignore[arg-type]
