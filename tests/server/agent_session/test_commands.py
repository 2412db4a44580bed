"""Agent commands: HTTP create/list/get, delivery over the session, results and timeouts."""

from __future__ import annotations

import httpx2
import sqlalchemy as sa

from fleetyard.server.settings import Settings
from fleetyard.server.storage.device_tables import agent_commands
from tests.server.agent_session.conftest import agent_token, open_session
from tests.server.helpers import create_other_org, execute, ok, problem
from tests.server.stream.conftest import World, make_key


def test_a_command_is_dispatched_to_the_connected_agent_and_completed(
    world: World, http: httpx2.Client
) -> None:
    agent = world.agent("gw-1")
    token = agent_token(http, agent)
    with open_session(world.live, token) as ws:
        ws.hello(commands=["ping"])
        created = ok(
            http.post(f"/v1/agents/{agent}/commands", json={"name": "ping", "args": {"n": 1}}), 201
        )
        assert (created["state"], created["agent_id"], created["args"]) == (
            "pending",
            agent,
            {"n": 1},
        )
        dispatched = ws.expect("command.dispatch")["command"]
        assert (dispatched["id"], dispatched["name"]) == (created["id"], "ping")
        # The session marks it sent right after forwarding it; a hello round trip orders us after.
        ws.hello()
        assert ok(http.get(f"/v1/agents/{agent}/commands/{created['id']}"))["state"] == "sent"
        ws.send(
            type="command.result",
            ref="c1",
            command_id=created["id"],
            state="completed",
            result={"pong": True},
        )
        assert ws.expect("ack") == {"type": "ack", "ref": "c1", "results": None}
        # A resend is acknowledged again and changes nothing.
        ws.send(type="command.result", ref="c2", command_id=created["id"], state="failed")
        assert ws.expect("ack")["ref"] == "c2"
    done = ok(http.get(f"/v1/agents/{agent}/commands/{created['id']}"))
    assert (done["state"], done["result"], done["error"]) == ("completed", {"pong": True}, None)
    assert done["finished_at"] is not None


def test_a_command_not_enabled_is_recorded_as_failed(world: World, http: httpx2.Client) -> None:
    agent = world.agent("gw-1")
    token = agent_token(http, agent)
    with open_session(world.live, token) as ws:
        ws.hello(commands=[])
        created = ok(http.post(f"/v1/agents/{agent}/commands", json={"name": "reboot"}), 201)
        ws.expect("command.dispatch")
        ws.send(
            type="command.result",
            ref="r",
            command_id=created["id"],
            state="failed",
            error="command_not_enabled: reboot",
        )
        ws.expect("ack")
    failed = ok(http.get(f"/v1/agents/{agent}/commands/{created['id']}"))
    assert (failed["state"], failed["error"]) == ("failed", "command_not_enabled: reboot")


def test_commands_queued_while_offline_are_delivered_on_connect(
    world: World, http: httpx2.Client
) -> None:
    agent = world.agent("gw-1")
    token = agent_token(http, agent)
    first = ok(http.post(f"/v1/agents/{agent}/commands", json={"name": "ping"}), 201)
    second = ok(http.post(f"/v1/agents/{agent}/commands", json={"name": "shell"}), 201)
    with open_session(world.live, token) as ws:
        ws.hello()
        got = [ws.expect("command.dispatch")["command"]["id"] for _ in range(2)]
        order = sorted([first["id"], second["id"]])  # oldest first (ids sort by creation)
        assert got == order
        ws.hello()
    # Sent but unanswered: a reconnect delivers them again (the agent ignores duplicates).
    with open_session(world.live, token) as ws:
        ws.hello()
        again = [ws.expect("command.dispatch")["command"] for _ in range(2)]
        assert [c["id"] for c in again] == order
    listed = ok(http.get(f"/v1/agents/{agent}/commands"))
    assert [c["id"] for c in listed["items"]] == order[::-1]  # newest first
    assert {c["state"] for c in listed["items"]} == {"sent"}


def test_unfinished_commands_past_their_timeout_fail_with_timeout(
    world: World, http: httpx2.Client, settings: Settings
) -> None:
    agent = world.agent("gw-1")
    created = ok(
        http.post(f"/v1/agents/{agent}/commands", json={"name": "ping", "timeout_seconds": 60}),
        201,
    )
    assert ok(http.get(f"/v1/agents/{agent}/commands/{created['id']}"))["state"] == "pending"
    execute(
        settings.resolved_database_url,
        sa.update(agent_commands)
        .where(agent_commands.c.id == created["id"])
        .values(expires_at=agent_commands.c.created_at),
    )
    timed_out = ok(http.get(f"/v1/agents/{agent}/commands/{created['id']}"))
    assert (timed_out["state"], timed_out["error"]) == ("failed", "timeout")
    # A timed-out command is not delivered, and a late result changes nothing.
    token = agent_token(http, agent)
    with open_session(world.live, token) as ws:
        ws.hello()
        ws.send(type="command.result", ref="late", command_id=created["id"], state="completed")
        assert ws.expect("ack")["ref"] == "late"
    assert ok(http.get(f"/v1/agents/{agent}/commands/{created['id']}"))["error"] == "timeout"


def test_command_access_rules(world: World, http: httpx2.Client, settings: Settings) -> None:
    agent = world.agent("gw-1")
    created = ok(http.post(f"/v1/agents/{agent}/commands", json={"name": "ping"}), 201)
    writer = httpx2.Client(
        base_url=world.live.url,
        headers={"Authorization": f"Bearer {make_key(world.live, f'site:{world.site_id}:write')}"},
    )
    with writer:
        problem(
            writer.post(f"/v1/agents/{agent}/commands", json={"name": "ping"}),
            403,
            "scope_insufficient",
        )
        assert ok(writer.get(f"/v1/agents/{agent}/commands"))["items"][0]["id"] == created["id"]
    device = httpx2.Client(
        base_url=world.live.url, headers={"Authorization": f"Bearer {agent_token(http, agent)}"}
    )
    with device:
        assert ok(device.get(f"/v1/agents/{agent}/commands/{created['id']}"))["name"] == "ping"
        problem(
            device.post(f"/v1/agents/{agent}/commands", json={"name": "ping"}),
            403,
            "scope_insufficient",
        )
    other = create_other_org(settings.resolved_database_url)
    stranger = httpx2.Client(
        base_url=world.live.url, headers={"Authorization": f"Bearer {other['key']}"}
    )
    with stranger:
        problem(stranger.get(f"/v1/agents/{agent}/commands/{created['id']}"), 404, "not_found")
        problem(stranger.get(f"/v1/agents/{agent}/commands"), 404, "not_found")
        problem(
            stranger.post(f"/v1/agents/{agent}/commands", json={"name": "ping"}), 404, "not_found"
        )
    problem(http.get(f"/v1/agents/{agent}/commands/cmd_nothing"), 404, "not_found")
    problem(
        http.post(f"/v1/agents/{agent}/commands", json={"name": "Bad Name!"}),
        422,
        "validation_failed",
    )


def test_command_lists_page_newest_first(world: World, http: httpx2.Client) -> None:
    agent = world.agent("gw-1")
    ids = [
        ok(http.post(f"/v1/agents/{agent}/commands", json={"name": "ping"}), 201)["id"]
        for _ in range(5)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = ok(http.get(f"/v1/agents/{agent}/commands", params=params))
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
