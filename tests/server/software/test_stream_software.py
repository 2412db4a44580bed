"""Software events on ``/v1/stream``: the ``software_events`` subscription, filtered by access."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from fleetyard.protocol.stream import SoftwareEventFrame, parse_server_message
from fleetyard.server.settings import Settings
from tests.conftest import ADMIN_KEY
from tests.server.helpers import make_site, ok
from tests.server.software.conftest import Setup
from tests.server.stream.conftest import STREAM_SETTINGS, WS, make_key, open_ws
from tests.support.live import LiveServer


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    live = LiveServer(settings.model_copy(update=STREAM_SETTINGS))
    live.start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as client:
        yield client


def _site(http: httpx2.Client, database_url: str, name: str) -> Setup:
    """A new site with an agent, and the helper that publishes into it."""
    site = make_site(http, name)
    body = {"site_id": site["id"], "name": f"{name}-1", "kind": "device"}
    agent = ok(http.post("/v1/agents", json=body), 201)
    return Setup(http, database_url, site["id"], agent["id"])


def _subscribe(ws: WS, **body: Any) -> dict[str, Any]:
    assert ws.recv()["type"] == "connected"
    ws.send(type="subscribe", id="sw", **body)
    return ws.recv_skipping_heartbeats()


def test_software_events_reach_subscribers_who_may_read_them(
    server: LiveServer, http: httpx2.Client, database_url: str
) -> None:
    a, b = _site(http, database_url, "a"), _site(http, database_url, "b")
    app_a, app_b = a.app(), b.app()
    reader_b = make_key(server, f"site:{b.site_id}:read")
    app_reader = make_key(server, f"app:{app_a['id']}:read")
    with (
        open_ws(server) as everything,
        open_ws(server) as only_b,
        open_ws(server, reader_b) as reader,
        open_ws(server, app_reader) as one_app,
    ):
        subscribed = _subscribe(everything, software_events={})
        assert (subscribed["type"], subscribed["software_events"]) == ("subscribed", {})
        filtered = _subscribe(only_b, software_events={"site_id": b.site_id})
        assert filtered["software_events"] == {"site_id": b.site_id}
        assert _subscribe(reader, software_events={})["type"] == "subscribed"
        assert _subscribe(one_app, software_events={})["type"] == "subscribed"

        version_a = a.publish(app_a["id"], {"run.sh": b"echo a"}, expected=None)
        version_b = b.publish(app_b["id"], {"run.sh": b"echo b"}, expected=None)

        seen = everything.events(2)
        assert [(f["type"], f["sub"]) for f in seen] == [("software.event", "sw")] * 2
        first = seen[0]["event"]
        assert first["type"] == "version.published"
        assert (first["app_id"], first["site_id"]) == (app_a["id"], a.site_id)
        assert (first["version_id"], first["number"]) == (version_a["id"], 1)
        assert "at" in first
        assert seen[1]["event"]["version_id"] == version_b["id"]
        # Site a's event came first: a leak would be the first frame of these two.
        assert only_b.recv_skipping_heartbeats()["event"]["app_id"] == app_b["id"]
        assert reader.recv_skipping_heartbeats()["event"]["app_id"] == app_b["id"]
        # An app scope alone reads that app's events.
        frame = one_app.recv_skipping_heartbeats()
        assert frame["event"]["version_id"] == version_a["id"]
        parsed = parse_server_message(json.dumps(frame))
        assert isinstance(parsed, SoftwareEventFrame)
        assert (parsed.event.type, parsed.event.site_id) == ("version.published", a.site_id)

        # A rollback is announced too (a second version first, to roll back from).
        a.publish(app_a["id"], {"run.sh": b"echo a2"}, expected=version_a["id"])
        assert everything.recv_skipping_heartbeats()["event"]["number"] == 2
        ok(http.post(f"/v1/apps/{app_a['id']}/rollback", json={}))
        rolled = everything.recv_skipping_heartbeats()["event"]
        assert (rolled["type"], rolled["version_id"], rolled["number"]) == (
            "version.rolled_back",
            version_a["id"],
            1,
        )
        # Nothing of site a's reaches the site b subscription: heartbeats only.
        assert [only_b.recv()["type"] for _ in range(3)] == ["heartbeat"] * 3


def test_software_events_subscription_checks_the_site(
    server: LiveServer, http: httpx2.Client, database_url: str
) -> None:
    a, b = _site(http, database_url, "a"), _site(http, database_url, "b")
    reader_b = make_key(server, f"site:{b.site_id}:read")
    with open_ws(server, reader_b) as ws:
        error = _subscribe(ws, software_events={"site_id": a.site_id})
        assert (error["type"], error["code"], error["id"]) == ("error", "scope_insufficient", "sw")
    with open_ws(server) as ws:
        error = _subscribe(ws, software_events={"site_id": "site_nope"})
        assert (error["type"], error["code"]) == ("error", "not_found")
