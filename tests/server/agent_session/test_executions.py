"""Executions and device reports over the agent session (devices imported from a real setup)."""

from __future__ import annotations

import json
from typing import Any

import httpx2

from tests.server.agent_session.conftest import AgentWS, agent_token, open_session
from tests.server.helpers import ok
from tests.server.stream.conftest import World
from tests.support.fixtures import LOCAL_TAHOMA

SETUP = LOCAL_TAHOMA
SHUTTER = "io://1234-5678-3293/5770898"


def _gateway(world: World, http: httpx2.Client) -> tuple[str, str]:
    """A gateway agent with the devices of a real setup, and its per-agent token."""
    agent = world.agent("tahoma")
    setup = json.loads(SETUP.read_text())
    ok(http.post("/v1/devices/import", json={"gateway_id": agent, "setup": setup}), 201)
    return agent, agent_token(http, agent)


def _execute(http: httpx2.Client, gateway: str, closure: int = 50) -> str:
    body = {
        "label": "half",
        "gateway_id": gateway,
        "actions": [
            {"device_url": SHUTTER, "commands": [{"name": "setClosure", "parameters": [closure]}]}
        ],
    }
    execution_id: str = ok(http.post("/v1/executions", json=body), 201)["id"]
    return execution_id


def _update(ws: AgentWS, ref: str, execution_id: str, **fields: Any) -> dict[str, Any]:
    ws.send(type="execution.update", ref=ref, execution_id=execution_id, **fields)
    return ws.recv_skipping_heartbeats()


def test_an_execution_is_started_on_the_agent_and_its_updates_are_recorded(
    world: World, http: httpx2.Client
) -> None:
    gateway, token = _gateway(world, http)
    with open_session(world.live, token) as ws:
        ws.hello()
        execution_id = _execute(http, gateway)
        order = ws.expect("execution.start")["execution"]
        assert order["id"] == execution_id
        assert order["actions"] == [
            {"device_url": SHUTTER, "commands": [{"name": "setClosure", "parameters": [50]}]}
        ]
        assert _update(ws, "u1", execution_id, state="transmitted") == {
            "type": "ack",
            "ref": "u1",
            "results": None,
        }
        assert _update(ws, "u2", execution_id, state="in_progress")["ref"] == "u2"
        done = _update(
            ws,
            "u3",
            execution_id,
            action_index=0,
            command_index=0,
            command_state="completed",
            state="completed",
        )
        assert (done["type"], done["ref"]) == ("ack", "u3")
        # A resend after a reconnect is acknowledged again and changes nothing.
        assert _update(ws, "u3", execution_id, state="completed")["type"] == "ack"
        unknown = _update(ws, "u4", "exe_nothing", state="completed")
        assert (unknown["type"], unknown["ref"], unknown["code"]) == ("error", "u4", "not_found")
    execution = ok(http.get(f"/v1/executions/{execution_id}"))
    assert execution["state"] == "completed"
    assert [t["state"] for t in execution["history"]][-3:] == [
        "transmitted",
        "in_progress",
        "completed",
    ]


def test_executions_created_while_offline_are_started_on_connect(
    world: World, http: httpx2.Client
) -> None:
    gateway, token = _gateway(world, http)
    first = _execute(http, gateway, 10)
    with open_session(world.live, token) as ws:
        ws.hello()
        assert ws.expect("execution.start")["execution"]["id"] == first
        assert _update(ws, "t", first, state="transmitted")["type"] == "ack"
    # Transmitted but not started: a reconnect sends it again.
    with open_session(world.live, token) as ws:
        ws.hello()
        assert ws.expect("execution.start")["execution"]["id"] == first
        assert _update(ws, "f", first, state="failed", failure_type="CMDCANCELLED")["type"] == "ack"
    with open_session(world.live, token) as ws:
        ws.hello()
        second = _execute(http, gateway, 20)
        # Nothing left from before: the next frame is the new execution.
        assert ws.expect("execution.start")["execution"]["id"] == second
    assert ok(http.get(f"/v1/executions/{first}"))["state"] == "failed"


def test_cancel_is_forwarded_to_the_agent(world: World, http: httpx2.Client) -> None:
    gateway, token = _gateway(world, http)
    with open_session(world.live, token) as ws:
        ws.hello()
        execution_id = _execute(http, gateway)
        ws.expect("execution.start")
        ok(http.post(f"/v1/executions/{execution_id}/cancel"))
        assert ws.expect("execution.cancel")["execution_id"] == execution_id


def test_device_states_and_availability_are_applied(world: World, http: httpx2.Client) -> None:
    gateway, token = _gateway(world, http)
    [device] = ok(http.get("/v1/devices", params={"gateway_id": gateway, "device_url": SHUTTER}))[
        "items"
    ]
    with open_session(world.live, token) as ws:
        ws.hello()
        ws.send(
            type="device.states",
            ref="d1",
            device_url=SHUTTER,
            states=[{"name": "core:ClosureState", "type": 1, "value": 42}],
        )
        assert ws.expect("ack")["ref"] == "d1"
        ws.send(type="device.available", ref="d2", device_url=SHUTTER, available=False)
        assert ws.expect("ack")["ref"] == "d2"
        ws.send(
            type="device.states",
            ref="d3",
            device_url="io://nowhere/1",
            states=[{"name": "core:ClosureState", "type": 1, "value": 1}],
        )
        missing = ws.expect("error")
        assert (missing["ref"], missing["code"], missing["status"]) == (
            "d3",
            "no_such_device",
            404,
        )
    states = {s["name"]: s["value"] for s in ok(http.get(f"/v1/devices/{device['id']}/states"))}
    assert states["core:ClosureState"] == 42
    assert ok(http.get(f"/v1/devices/{device['id']}"))["available"] is False
