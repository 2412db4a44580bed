"""The HTTP routes: status codes, problem codes, Retry-After, and another organisation's 404s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa

from fleetyard.protocol.ids import new_id
from fleetyard.server.settings import Settings
from fleetyard.server.storage.device_tables import devices
from tests.server.conftest import ClientFor
from tests.server.executions.conftest import (
    AWNING,
    AWNING_2,
    AWNING_3,
    PERGOLA,
    setup_devices,
    stored_definition,
)
from tests.server.helpers import create_other_org, execute, make_key, make_site, ok, problem


@pytest.fixture
def settings(database_url: str, tmp_path: Any) -> Settings:
    from tests.conftest import ADMIN_KEY

    return Settings(
        dev=True,
        data_dir=tmp_path / "data",
        database_url=database_url,
        bootstrap_api_key=ADMIN_KEY,
        execution_limit_per_gateway=2,
    )


def gateway_with_devices(http: httpx2.Client, database_url: str) -> dict[str, str]:
    site = make_site(http, "home")
    agent = ok(
        http.post("/v1/agents", json={"site_id": site["id"], "name": "tahoma", "kind": "gateway"}),
        201,
    )
    rows = [
        {
            "id": new_id("dev"),
            "org_id": site["org_id"],
            "site_id": site["id"],
            "agent_id": agent["id"],
            "device_url": raw["deviceURL"],
            "label": raw.get("label") or "",
            "controllable_name": raw.get("controllableName") or "",
            "definition": stored_definition(raw["definition"]),
            "states": [],
            "attributes": [],
            "created_at": 1,
            "updated_at": 1,
        }
        for raw in setup_devices()
    ]
    execute(database_url, sa.insert(devices).values(rows))
    return {"site_id": site["id"], "agent_id": agent["id"]}


def group(url: str = AWNING, *commands: tuple[str, list[Any]], **extra: Any) -> dict[str, Any]:
    return {
        "label": "test",
        "actions": [
            {
                "device_url": url,
                "commands": [{"name": n, "parameters": p} for n, p in commands]
                or [{"name": "setClosure", "parameters": [30]}],
            }
        ],
        **extra,
    }


def test_execute_follow_and_cancel(http: httpx2.Client, database_url: str) -> None:
    gateway = gateway_with_devices(http, database_url)
    started = ok(http.post("/v1/executions", json=group()), 201)
    assert (started["state"], started["gateway_id"]) == ("initialized", gateway["agent_id"])
    seen = ok(http.get(f"/v1/executions/{started['id']}"))
    command = seen["actions"][0]["commands"][0]
    assert (command["name"], command["parameters"], command["state"]) == (
        "setClosure",
        [30],
        "pending",
    )
    assert seen["history"][0]["state"] == "initialized"
    current = ok(http.get("/v1/executions/current", params={"gateway_id": gateway["agent_id"]}))
    assert [e["id"] for e in current["items"]] == [started["id"]]
    cancelled = ok(http.post(f"/v1/executions/{started['id']}/cancel"))
    assert cancelled["state"] == "cancelled"
    problem(http.post(f"/v1/executions/{started['id']}/cancel"), 409, "execution_finished")
    history = ok(http.get("/v1/executions", params={"state": "cancelled", "device_url": AWNING}))
    assert [e["id"] for e in history["items"]] == [started["id"]]
    since = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert ok(http.get("/v1/executions", params={"start": since}))["items"] == []
    problem(http.get("/v1/executions/exe_unknown"), 404, "not_found")


def test_validation_failures_are_problems_with_codes(
    http: httpx2.Client, database_url: str
) -> None:
    gateway_with_devices(http, database_url)
    body = problem(
        http.post("/v1/executions", json=group("io://1234-5678-3293/nope")), 404, "no_such_device"
    )
    assert body["errors"][0]["loc"] == ["body", "actions", 0, "device_url"]
    problem(http.post("/v1/executions", json=group(PERGOLA, ("fly", []))), 422, "no_such_command")
    body = problem(
        http.post("/v1/executions", json=group(AWNING, ("setClosure", ["half"]))),
        422,
        "invalid_parameters",
    )
    assert body["errors"][0]["loc"] == ["body", "actions", 0, "commands", 0, "parameters"]
    twice = group()
    twice["actions"].append(twice["actions"][0])
    problem(http.post("/v1/executions", json=twice), 400, "duplicate_action_on_device")
    problem(http.post("/v1/executions", json={"actions": []}), 422, "validation_failed")
    assert ok(http.get("/v1/executions"))["items"] == []


def test_a_full_gateway_is_429_with_retry_after_unless_queued(
    http: httpx2.Client, database_url: str
) -> None:
    gateway_with_devices(http, database_url)
    ok(http.post("/v1/executions", json=group(AWNING)), 201)
    ok(http.post("/v1/executions", json=group(AWNING_2)), 201)
    full = http.post("/v1/executions", json=group(AWNING_3))
    problem(full, 429, "exec_queue_full")
    assert int(full.headers["retry-after"]) >= 1
    queued = ok(http.post("/v1/executions", json=group(AWNING_3, queue=True)), 201)
    assert queued["state"] == "queued"


def test_scenes_and_schedules(http: httpx2.Client, database_url: str) -> None:
    gateway = gateway_with_devices(http, database_url)
    scene = ok(http.post("/v1/action-groups", json=group()), 201)
    assert scene["gateway_id"] == gateway["agent_id"]
    assert ok(http.get(f"/v1/action-groups/{scene['id']}")) == scene
    listed = ok(http.get("/v1/action-groups", params={"site_id": gateway["site_id"]}))
    assert [s["id"] for s in listed["items"]] == [scene["id"]]
    renamed = ok(http.patch(f"/v1/action-groups/{scene['id']}", json={"label": "Renamed"}))
    assert renamed["label"] == "Renamed"
    started = ok(http.post(f"/v1/action-groups/{scene['id']}/execute"), 201)
    assert ok(http.get(f"/v1/executions/{started['id']}"))["action_group_id"] == scene["id"]
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    schedule = ok(http.post(f"/v1/action-groups/{scene['id']}/schedules", json={"at": later}), 201)
    assert (schedule["state"], schedule["queue"]) == ("pending", True)
    assert ok(http.get(f"/v1/schedules/{schedule['id']}")) == schedule
    pending = ok(http.get("/v1/schedules", params={"scene_id": scene["id"], "state": "pending"}))
    assert [s["id"] for s in pending["items"]] == [schedule["id"]]
    assert ok(http.post(f"/v1/schedules/{schedule['id']}/cancel"))["state"] == "cancelled"
    problem(http.post(f"/v1/schedules/{schedule['id']}/cancel"), 409, "conflict")
    assert ok(http.delete(f"/v1/action-groups/{scene['id']}"))["deleted"] is True
    problem(http.get(f"/v1/action-groups/{scene['id']}"), 404, "not_found")


def test_another_organisation_gets_404_on_every_route(
    http: httpx2.Client, client_for: ClientFor, database_url: str
) -> None:
    gateway_with_devices(http, database_url)
    execution = ok(http.post("/v1/executions", json=group()), 201)
    scene = ok(http.post("/v1/action-groups", json=group(AWNING_2)), 201)
    at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    schedule = ok(http.post(f"/v1/action-groups/{scene['id']}/schedules", json={"at": at}), 201)
    foreign = client_for(create_other_org(database_url)["key"])

    for method, path, body in [
        ("GET", f"/v1/executions/{execution['id']}", None),
        ("POST", f"/v1/executions/{execution['id']}/cancel", None),
        ("GET", f"/v1/action-groups/{scene['id']}", None),
        ("PATCH", f"/v1/action-groups/{scene['id']}", {"label": "mine"}),
        ("DELETE", f"/v1/action-groups/{scene['id']}", None),
        ("POST", f"/v1/action-groups/{scene['id']}/execute", {}),
        ("POST", f"/v1/action-groups/{scene['id']}/schedules", {"at": at}),
        ("GET", f"/v1/schedules/{schedule['id']}", None),
        ("POST", f"/v1/schedules/{schedule['id']}/cancel", None),
    ]:
        response = foreign.request(method, path, json=body)
        assert response.status_code == 404, f"{method} {path}: {response.text}"
    # The same device URL means nothing in another organisation.
    problem(foreign.post("/v1/executions", json=group()), 404, "no_such_device")
    problem(foreign.post("/v1/action-groups", json=group()), 404, "no_such_device")
    for path in ("/v1/executions", "/v1/executions/current", "/v1/action-groups", "/v1/schedules"):
        assert ok(foreign.get(path))["items"] == [], path
    # Nothing changed here.
    assert ok(http.get(f"/v1/executions/{execution['id']}"))["state"] == "initialized"
    assert ok(http.get(f"/v1/schedules/{schedule['id']}"))["state"] == "pending"


def test_scopes_decide_who_reads_and_who_runs(
    http: httpx2.Client, client_for: ClientFor, database_url: str
) -> None:
    gateway = gateway_with_devices(http, database_url)
    execution = ok(http.post("/v1/executions", json=group()), 201)
    reader = client_for(make_key(http, [f"site:{gateway['site_id']}:read"])["secret"])
    agent_writer = client_for(make_key(http, [f"agent:{gateway['agent_id']}:write"])["secret"])
    assert ok(reader.get(f"/v1/executions/{execution['id']}"))["id"] == execution["id"]
    problem(reader.post("/v1/executions", json=group(AWNING_2)), 403, "scope_insufficient")
    problem(reader.post(f"/v1/executions/{execution['id']}/cancel"), 403, "scope_insufficient")
    ok(agent_writer.post("/v1/executions", json=group(AWNING_2)), 201)
