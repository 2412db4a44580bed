"""``/v1/stream`` end to end: a real server on a loopback port, raw WebSocket frames."""

from __future__ import annotations

import threading

import pytest
from httpx2.websockets import WebSocketDisconnect

from fleetyard.protocol.stream import CLOSE_UNAUTHENTICATED
from fleetyard.server.api.routes import stream as stream_route
from fleetyard.server.settings import Settings
from tests.server.helpers import create_other_org
from tests.server.stream.conftest import WS, World, make_key, open_ws


def _drain(ws: WS) -> None:
    while True:
        ws.recv()


def _subscribe(ws: WS, sub_id: str = "s1", **body: object) -> dict[str, object]:
    ws.send(type="subscribe", id=sub_id, **body)
    return ws.recv_skipping_heartbeats()


def test_connect_subscribe_by_id_and_by_name_and_receive_live_events(world: World) -> None:
    agent = world.agent("pump-1")
    status = world.channel(agent, "status")
    alarms = world.channel(agent, "#alarms")
    with open_ws(world.live) as ws:
        connected = ws.recv()
        assert connected["type"] == "connected"
        assert connected["org_id"] == world.principal.org_id
        assert connected["heartbeat_seconds"] == 0.5
        subscribed = _subscribe(
            ws,
            channels=[{"channel_id": status}, {"agent_id": agent, "name": "#alarms"}],
            aggregates=True,
        )
        assert subscribed["type"] == "subscribed"
        assert [(c["channel_id"], c["name"], c["seq"]) for c in subscribed["channels"]] == [  # type: ignore[attr-defined]
            (status, "status", 0),
            (alarms, "#alarms", 0),
        ]
        world.publish(status, {"t": 21.5})
        world.publish(alarms, {"level": "high"})
        events = ws.events(4)
    by_type = {(e["type"], e["channel_id"]): e for e in events}
    message = by_type[("message.created", status)]
    assert message["sub"] == "s1"
    assert message["agent_id"] == agent
    assert message["name"] == "status"
    assert message["seq"] == 1
    assert message["message"]["payload"] == {"t": 21.5}
    assert message["message"]["ts"].endswith("Z")
    aggregate = by_type[("aggregate.updated", alarms)]
    assert (aggregate["version"], aggregate["data"]) == (1, {"level": "high"})


def test_heartbeats_keep_coming_while_idle(world: World) -> None:
    with open_ws(world.live) as ws:
        ws.recv()  # connected
        assert ws.recv(timeout=5)["type"] == "heartbeat"
        assert ws.recv(timeout=5)["type"] == "heartbeat"


def test_resume_after_a_disconnect_delivers_exactly_what_was_missed(world: World) -> None:
    agent = world.agent("pump-1")
    channel = world.channel(agent, "status")
    world.publish(channel, *({"n": n} for n in range(1, 21)))
    with open_ws(world.live) as ws:
        ws.recv()
        _subscribe(ws, channels=[{"channel_id": channel, "after": 0}])
        first = ws.events(10)
    seen = [e["seq"] for e in first]
    assert seen == list(range(1, 11))
    # Gone mid-way; the channel moves on meanwhile.
    world.publish(channel, *({"n": n} for n in range(21, 31)))
    with open_ws(world.live) as ws:
        ws.recv()
        subscribed = _subscribe(ws, channels=[{"channel_id": channel, "after": seen[-1]}])
        assert subscribed["channels"][0]["seq"] == 10  # type: ignore[index]
        rest = ws.events(20)
        world.publish(channel, {"n": 31})
        rest += ws.events(1)
    assert [e["seq"] for e in rest] == list(range(11, 32))
    assert [e["message"]["payload"]["n"] for e in rest] == list(range(11, 32))


def test_a_position_past_the_channels_end_starts_at_the_end(world: World) -> None:
    agent = world.agent("pump-1")
    short, long = world.channel(agent, "short"), world.channel(agent, "long")
    world.publish(short, *({"n": n} for n in range(1, 4)))
    world.publish(long, *({"n": n} for n in range(1, 71)))
    with open_ws(world.live) as ws:
        ws.recv()
        # One `after` for both (as SSE's and the SDK's `after` do): 70 is past the short one's end.
        subscribed = _subscribe(
            ws,
            channels=[{"channel_id": short, "after": 70}, {"channel_id": long, "after": 70}],
            aggregates=True,
        )
        positions = {c["channel_id"]: c["seq"] for c in subscribed["channels"]}  # type: ignore[union-attr]
        assert positions == {short: 3, long: 70}
        world.publish(short, {"n": 4})
        [event] = [e for e in ws.events(2) if e["type"] == "message.created"]
    assert (event["channel_id"], event["seq"], event["message"]["payload"]) == (short, 4, {"n": 4})


def test_unsubscribe_stops_the_events(world: World) -> None:
    agent = world.agent("pump-1")
    channel = world.channel(agent, "status")
    with open_ws(world.live) as ws:
        ws.recv()
        _subscribe(ws, channels=[{"channel_id": channel}])
        ws.send(type="unsubscribe", id="s1")
        assert ws.recv_skipping_heartbeats() == {"type": "unsubscribed", "id": "s1"}
        world.publish(channel, {"n": 1})
        # Only heartbeats from here on.
        assert {ws.recv()["type"] for _ in range(3)} == {"heartbeat"}


def test_authentication_by_first_message(world: World) -> None:
    with open_ws(world.live, token=None) as ws:
        from tests.conftest import ADMIN_KEY

        ws.send(type="auth", token=ADMIN_KEY)
        assert ws.recv()["type"] == "connected"


@pytest.mark.parametrize("how", ["header", "message"])
def test_bad_credentials_get_an_error_frame_then_4401(world: World, how: str) -> None:
    token = "fy_test_" + "z" * 40
    with open_ws(world.live, token=token if how == "header" else None) as ws:
        if how == "message":
            ws.send(type="auth", token=token)
        error = ws.recv()
        assert (error["type"], error["code"], error["status"]) == ("error", "unauthenticated", 401)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.recv()
    assert closed.value.code == CLOSE_UNAUTHENTICATED


def test_no_credentials_in_time_is_4401(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_route, "AUTH_TIMEOUT_SECONDS", 0.2)
    with open_ws(world.live, token=None) as ws:
        assert ws.recv()["code"] == "unauthenticated"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.recv()
    assert closed.value.code == CLOSE_UNAUTHENTICATED


def test_scopes_and_other_organisations_on_subscribe(world: World, settings: Settings) -> None:
    agent = world.agent("pump-1")
    channel = world.channel(agent, "status")
    secret = world.channel(agent, "secret", private=True)
    other_site = world.site("elsewhere")
    far_agent = world.agent("far", site_id=other_site)
    far = world.channel(far_agent, "status")
    reader = make_key(world.live, f"site:{world.site_id}:read")
    them = create_other_org(settings.resolved_database_url)
    with open_ws(world.live, reader) as ws:
        ws.recv()
        for target in (far, secret, "ch_doesnotexist"):
            error = _subscribe(ws, channels=[{"channel_id": target}])
            assert (error["type"], error["code"], error["status"], error["id"]) == (
                "error",
                "not_found",
                404,
                "s1",
            )
        error = _subscribe(ws, presence={"site_id": other_site})
        assert (error["code"], error["status"]) == ("scope_insufficient", 403)
        assert _subscribe(ws, channels=[{"channel_id": channel}])["type"] == "subscribed"
    # Another organisation's admin cannot even learn the channel exists.
    with open_ws(world.live, them["key"]) as ws:
        ws.recv()
        error = _subscribe(ws, channels=[{"channel_id": channel}])
        assert (error["code"], error["status"]) == ("not_found", 404)
        error = _subscribe(ws, "s2", channels=[{"agent_id": agent, "name": "status"}])
        assert error["code"] == "not_found"
        error = _subscribe(ws, "s3", presence={"site_id": world.site_id})
        assert error["code"] == "not_found"
        error = _subscribe(ws, "s4", presence={"agent_ids": [agent]})
        assert error["code"] == "not_found"


def test_malformed_subscribe_is_a_validation_error(world: World) -> None:
    with open_ws(world.live) as ws:
        ws.recv()
        error = _subscribe(ws, channels=[{"agent_id": "agt_1"}])
        assert (error["code"], error["status"]) == ("validation_failed", 422)
        assert error["errors"]
        error = _subscribe(ws, channels=[{"agent_id": "agt_1", "name": "a/b"}])
        assert error["code"] == "channel_name_invalid"


def test_stopping_the_server_closes_streams_with_1012(world: World) -> None:
    agent = world.agent("pump-1")
    channel = world.channel(agent, "status")
    with open_ws(world.live) as ws:
        ws.recv()
        _subscribe(ws, channels=[{"channel_id": channel}])
        stopper = threading.Thread(target=world.live.stop)
        stopper.start()
        with pytest.raises(WebSocketDisconnect) as closed:
            _drain(ws)
        stopper.join(30)
    assert closed.value.code == 1012
    assert not stopper.is_alive()
