"""Device events on ``/v1/stream``: the ``device_events`` subscription, filtered by access."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from fleetyard.protocol.stream import DeviceEventFrame, parse_server_message
from fleetyard.server.settings import Settings
from tests.conftest import ADMIN_KEY
from tests.server.devices.conftest import load_setup
from tests.server.stream.conftest import STREAM_SETTINGS, WS, make_key, open_ws
from tests.support.live import LiveServer

AWNING = "io://1234-5678-3293/3541212"


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    live = LiveServer(settings.model_copy(update=STREAM_SETTINGS))
    live.start()
    try:
        yield live
    finally:
        live.stop()


def _api(server: LiveServer, method: str, path: str, token: str = ADMIN_KEY, **kw: Any) -> Any:
    response = httpx2.request(
        method, f"{server.url}{path}", headers={"Authorization": f"Bearer {token}"}, **kw
    )
    assert response.status_code < 300, response.text
    return response.json()


def _gateway(server: LiveServer, name: str) -> tuple[str, str]:
    """A new site with a gateway holding setup_local_tahoma.json: (site id, device id)."""
    site = _api(server, "POST", "/v1/sites", json={"name": name})
    gateway = _api(
        server, "POST", "/v1/agents", json={"site_id": site["id"], "name": name, "kind": "gateway"}
    )
    setup = load_setup("setup_local_tahoma.json")
    _api(server, "POST", "/v1/devices/import", json={"gateway_id": gateway["id"], "setup": setup})
    page = _api(server, "GET", "/v1/devices", params={"device_url": AWNING})
    device = next(d for d in page["items"] if d["gateway_id"] == gateway["id"])
    return site["id"], device["id"]


def _report(server: LiveServer, device_id: str, value: int) -> None:
    body = {"states": [{"name": "core:ClosureState", "type": 1, "value": value}]}
    _api(server, "POST", f"/v1/devices/{device_id}/states", json=body)


def _subscribe(ws: WS, **body: Any) -> dict[str, Any]:
    assert ws.recv()["type"] == "connected"
    ws.send(type="subscribe", id="dev", **body)
    return ws.recv_skipping_heartbeats()


def test_device_events_reach_subscribers_who_may_read_them(server: LiveServer) -> None:
    site_a, device_a = _gateway(server, "a")
    site_b, device_b = _gateway(server, "b")
    reader_b = make_key(server, f"site:{site_b}:read")
    with (
        open_ws(server) as everything,
        open_ws(server) as only_a,
        open_ws(server, reader_b) as reader,
    ):
        subscribed = _subscribe(everything, device_events={})
        assert subscribed["type"] == "subscribed"
        assert subscribed["device_events"] == {"after": 0}  # where it starts: no event yet
        assert _subscribe(only_a, device_events={"site_id": site_a})["type"] == "subscribed"
        assert _subscribe(reader, device_events={})["type"] == "subscribed"
        _report(server, device_a, 10)
        _report(server, device_b, 20)
        seen = everything.events(2)
        assert [(f["type"], f["sub"]) for f in seen] == [("device.event", "dev")] * 2
        assert [f["event"]["device_id"] for f in seen] == [device_a, device_b]
        first = seen[0]["event"]
        assert first["type"] == "device.state_changed"
        assert first["states"] == [{"name": "core:ClosureState", "type": 1, "value": 10}]
        # Narrowed to site a: only a's event; b's reader: only b's (a's is never sent).
        assert only_a.recv_skipping_heartbeats()["event"]["device_id"] == device_a
        frame = reader.recv_skipping_heartbeats()
        assert frame["event"]["device_id"] == device_b
        parsed = parse_server_message(json.dumps(frame))
        assert isinstance(parsed, DeviceEventFrame)
        assert parsed.event.seq == seen[1]["event"]["seq"]


def test_device_events_subscription_checks_the_site(server: LiveServer) -> None:
    site_a, _ = _gateway(server, "a")
    site_b = _api(server, "POST", "/v1/sites", json={"name": "b"})["id"]
    reader_b = make_key(server, f"site:{site_b}:read")
    with open_ws(server, reader_b) as ws:
        error = _subscribe(ws, device_events={"site_id": site_a})
        assert (error["type"], error["code"], error["id"]) == ("error", "scope_insufficient", "dev")
    with open_ws(server) as ws:
        error = _subscribe(ws, device_events={"site_id": "site_nope"})
        assert (error["type"], error["code"]) == ("error", "not_found")


def test_a_subscription_with_after_gets_the_stored_events_first_then_live_ones(
    server: LiveServer,
) -> None:
    site_a, device_a = _gateway(server, "a")
    site_b, device_b = _gateway(server, "b")
    reader_a = make_key(server, f"site:{site_a}:read")
    with open_ws(server) as first:
        start = _subscribe(first, device_events={})["device_events"]["after"]
        for value in (1, 2, 3):
            _report(server, device_a, value)
            _report(server, device_b, value + 10)
        live = [frame["event"] for frame in first.events(6)]
    seqs = [event["seq"] for event in live]
    # Resuming after the second event: the four after it, from storage, in order, as sent live.
    with open_ws(server) as again:
        resumed = _subscribe(again, device_events={"after": seqs[1]})
        assert resumed["device_events"] == {"after": seqs[1]}
        replayed = [frame["event"] for frame in again.events(4)]
        assert replayed == live[2:]
        _report(server, device_a, 4)  # then live, nothing twice
        [after] = again.events(1)
        assert after["event"]["seq"] == seqs[-1] + 1
    # A position past the end starts at the end: the next event is not taken as seen.
    with open_ws(server) as ahead:
        assert _subscribe(ahead, device_events={"after": 10_000})["device_events"] == {
            "after": seqs[-1] + 1
        }
        _report(server, device_a, 5)
        [fifth] = ahead.events(1)
        assert fifth["event"]["seq"] == seqs[-1] + 2
    # A reader of one site gets that site's stored events only; a site filter narrows too.
    with open_ws(server, reader_a) as reader, open_ws(server) as only_b:
        _subscribe(reader, device_events={"after": start})
        assert [f["event"]["states"][0]["value"] for f in reader.events(4)] == [1, 2, 3, 4]
        _subscribe(only_b, device_events={"after": start, "site_id": site_b})
        assert [f["event"]["states"][0]["value"] for f in only_b.events(3)] == [11, 12, 13]
