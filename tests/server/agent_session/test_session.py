"""``/v1/agents/session`` end to end: authentication, hello, presence, publishing, errors."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx2
import pytest
from httpx2.websockets import WebSocketDisconnect

from fleetyard.protocol.stream import CLOSE_UNAUTHENTICATED
from fleetyard.server.services.telemetry import publishing
from fleetyard.server.settings import Settings
from tests.conftest import ADMIN_KEY
from tests.server.agent_session.conftest import AgentWS, agent_token, message, open_session
from tests.server.helpers import create_other_org, ok
from tests.server.stream.conftest import World, make_key, open_ws


def _refused(ws: AgentWS, code: str, status: int) -> None:
    error = ws.recv()
    assert (error["type"], error["code"], error["status"]) == ("error", code, status), error
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.recv()
    assert closed.value.code == CLOSE_UNAUTHENTICATED


def test_a_per_agent_token_implies_its_agent(world: World, http: httpx2.Client) -> None:
    agent = world.agent("gw-1")
    token = agent_token(http, agent)
    with open_session(world.live, token) as ws:
        welcome = ws.hello(commands=["ping"])
        assert welcome["agent_id"] == agent
        assert welcome["site_id"] == world.site_id
        assert welcome["heartbeat_seconds"] == 5.0
        assert welcome["server_time"].endswith("Z")
        assert ok(http.get(f"/v1/agents/{agent}"))["online"] is True
        # A repeated hello is answered again and changes nothing.
        assert ws.hello()["agent_id"] == agent


def test_another_credential_names_the_agent(world: World, http: httpx2.Client) -> None:
    agent = world.agent("gw-1")
    with open_session(world.live, ADMIN_KEY, agent_id=agent) as ws:
        assert ws.hello()["agent_id"] == agent
    site_writer = make_key(world.live, f"site:{world.site_id}:write")
    with open_session(world.live, site_writer, agent_id=agent) as ws:
        assert ws.hello()["agent_id"] == agent


@pytest.mark.parametrize(
    ("case", "code", "status"),
    [
        ("no header", "unauthenticated", 401),
        ("unknown key", "unauthenticated", 401),
        ("admin without agent_id", "bad_request", 400),
        ("token for another agent", "not_found", 404),
        ("read-only key", "scope_insufficient", 403),
        ("unknown agent", "not_found", 404),
        ("another organisation", "not_found", 404),
    ],
)
def test_refused_credentials_get_an_error_then_4401(
    world: World,
    http: httpx2.Client,
    settings: Settings,
    case: str,
    code: str,
    status: int,
) -> None:
    agent = world.agent("gw-1")
    other = world.agent("gw-2")
    token: str | None
    agent_id: str | None = None
    if case == "no header":
        token = None
    elif case == "unknown key":
        token = "fy_test_" + "z" * 40
    elif case == "admin without agent_id":
        token = ADMIN_KEY
    elif case == "token for another agent":
        token, agent_id = agent_token(http, agent), other
    elif case == "read-only key":
        token, agent_id = make_key(world.live, f"site:{world.site_id}:read"), agent
    elif case == "unknown agent":
        token, agent_id = ADMIN_KEY, "agt_doesnotexist"
    else:
        token, agent_id = create_other_org(settings.resolved_database_url)["key"], agent
    with open_session(world.live, token, agent_id=agent_id) as ws:
        _refused(ws, code, status)
    assert ok(http.get(f"/v1/agents/{agent}"))["online"] is False


def test_presence_is_announced_on_connect_and_on_close(world: World, http: httpx2.Client) -> None:
    agent = world.agent("gw-1")
    token = agent_token(http, agent)
    with open_ws(world.live) as stream:
        stream.recv()  # connected
        stream.send(type="subscribe", id="p", presence={"agent_ids": [agent]})
        assert stream.recv_skipping_heartbeats()["type"] == "subscribed"
        with open_session(world.live, token) as ws:
            ws.hello()
            online = stream.recv_skipping_heartbeats()
            assert (online["type"], online["agent_id"]) == ("agent.online", agent)
        offline = stream.recv_skipping_heartbeats()
        assert (offline["type"], offline["agent_id"]) == ("agent.offline", agent)
    assert ok(http.get(f"/v1/agents/{agent}"))["online"] is False


def test_a_second_session_keeps_the_agent_online_when_the_first_closes(
    world: World, http: httpx2.Client
) -> None:
    agent = world.agent("gw-1")
    token = agent_token(http, agent)
    with open_session(world.live, token) as second:
        second.hello()
        with open_session(world.live, token) as first:
            first.hello()
        # The first close is done once the server answers on the second session again.
        second.hello()
        assert ok(http.get(f"/v1/agents/{agent}"))["online"] is True


def _messages(http: httpx2.Client, agent: str, name: str) -> list[dict[str, Any]]:
    channel = ok(http.get(f"/v1/agents/{agent}/channels/{name}"))["id"]
    page = ok(http.get(f"/v1/channels/{channel}/messages", params={"limit": 100}))
    items: list[dict[str, Any]] = page["items"]
    return items


def test_publish_is_acked_with_seqs_and_resends_are_deduplicated(
    world: World, http: httpx2.Client
) -> None:
    agent = world.agent("gw-1")
    token = agent_token(http, agent)
    with open_session(world.live, token) as ws:
        ws.hello()
        ack = ws.publish("p1", message("status", {"t": 20}, "m1"))
        assert ack == {"type": "ack", "ref": "p1", "results": [{"seq": 1, "deduplicated": False}]}
        again = ws.publish("p1", message("status", {"t": 20}, "m1"))
        assert again["results"] == [{"seq": 1, "deduplicated": True}]
        batch = ws.publish(
            "p2",
            message("status", {"t": 21}, "m2"),
            message("status", {"t": 20}, "m1"),
            message("#alarms", {"level": 1}, "a1"),
        )
        assert batch["ref"] == "p2"
        assert batch["results"] == [
            {"seq": 2, "deduplicated": False},
            {"seq": 1, "deduplicated": True},
            {"seq": 1, "deduplicated": False},
        ]
    stored = _messages(http, agent, "status")
    assert sorted(m["payload"]["t"] for m in stored) == [20, 21]
    assert [m["payload"] for m in _messages(http, agent, "%23alarms")] == [{"level": 1}]


def test_many_frames_in_flight_are_all_acked_in_channel_order(
    world: World, http: httpx2.Client
) -> None:
    agent = world.agent("gw-1")
    token = agent_token(http, agent)
    with open_session(world.live, token) as ws:
        ws.hello()
        for n in range(50):
            ws.send(type="publish", ref=f"r{n}", messages=[message("load", {"n": n}, f"c{n}")])
        acks = {}
        for _ in range(50):
            frame = ws.expect("ack")
            acks[frame["ref"]] = frame["results"][0]["seq"]
    assert [acks[f"r{n}"] for n in range(50)] == list(range(1, 51))


def test_frames_whose_lookups_finish_out_of_order_are_stored_in_frame_order(
    world: World, http: httpx2.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each frame's channel lookup takes less time than the one before, so the
    # lookups finish in reverse; the writer must still get the frames in order.
    lookup = publishing._resolve_one
    calls = itertools.count()

    async def slower_first(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.003 * (20 - min(next(calls), 20)))
        return await lookup(*args, **kwargs)

    monkeypatch.setattr(publishing, "_resolve_one", slower_first)
    agent = world.agent("gw-1")
    token = agent_token(http, agent)
    with open_session(world.live, token) as ws:
        ws.hello()
        for n in range(20):
            ws.send(type="publish", ref=f"r{n}", messages=[message("order", {"n": n}, f"o{n}")])
        acks = {}
        for _ in range(20):
            frame = ws.expect("ack")
            acks[frame["ref"]] = frame["results"][0]["seq"]
    assert [acks[f"r{n}"] for n in range(20)] == list(range(1, 21))
    channel = ok(http.get(f"/v1/agents/{agent}/channels/order"))["id"]
    aggregate = ok(http.get(f"/v1/channels/{channel}/aggregate"))
    assert aggregate["data"] == {"n": 19}


def test_bad_frames_get_error_frames_and_the_session_goes_on(
    world: World, http: httpx2.Client
) -> None:
    agent = world.agent("gw-1")
    token = agent_token(http, agent)
    with open_session(world.live, token) as ws:
        ws.send(type="publish", ref="early", messages=[message("status", 1, "e1")])
        early = ws.expect("error")
        assert (early["ref"], early["code"], early["status"]) == ("early", "bad_request", 400)
        ws.hello()
        ws.session.send_text("{not json")
        assert ws.expect("error")["code"] == "invalid_json"
        ws.session.send_text(
            '{"type": "publish", "ref": "nan", "messages": [{"channel": "a",'
            ' "payload": NaN, "client_message_id": "x"}]}'
        )
        nan = ws.expect("error")
        assert (nan["code"], nan["ref"]) == ("invalid_json", "nan")
        ws.send(type="publish", ref="v1", messages=[{"channel": "status"}])
        invalid = ws.expect("error")
        assert (invalid["ref"], invalid["code"], invalid["status"]) == (
            "v1",
            "validation_failed",
            422,
        )
        assert invalid["errors"]
        ws.send(type="teleport", ref="t1")
        assert ws.expect("error")["code"] == "validation_failed"
        bad_name = ws.publish("n1", message("bad/name", 1, "n1"))
        assert (bad_name["ref"], bad_name["code"]) == ("n1", "channel_name_invalid")
        future = ws.publish("f1", message("status", 1, "f1", timestamp="2999-01-01T00:00:00Z"))
        assert (future["ref"], future["code"], future["status"]) == ("f1", "payload_invalid", 422)
        bad_batch = ws.publish(
            "b1",
            message("status", 1, "b1"),
            message("status", 2, "b2", timestamp="2999-01-01T00:00:00Z"),
        )
        assert (bad_batch["ref"], bad_batch["code"]) == ("b1", "payload_invalid")
        ws.send(type="command.result", ref="c1", command_id="cmd_nothing", state="completed")
        unknown = ws.expect("error")
        assert (unknown["ref"], unknown["code"], unknown["status"]) == ("c1", "not_found", 404)
        # Still alive: a good publish goes through.
        assert ws.publish("ok", message("status", 1, "ok1"))["type"] == "ack"
    # Nothing of the refused batch was stored.
    assert [m["payload"] for m in _messages(http, agent, "status")] == [1]


def test_heartbeats_refresh_last_seen(world: World, http: httpx2.Client) -> None:
    agent = world.agent("gw-1")
    token = agent_token(http, agent)
    with open_session(world.live, token) as ws:
        ws.hello()
        first = ok(http.get(f"/v1/agents/{agent}"))["last_seen"]
        ws.send(type="heartbeat")
        # Throttled: within touch_seconds nothing is written, and the session answers on.
        assert ws.publish("p", message("status", 1, "h1"))["type"] == "ack"
        assert ok(http.get(f"/v1/agents/{agent}"))["last_seen"] == first
