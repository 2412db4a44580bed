"""Reading, filtering, relabelling devices and reporting their states over HTTP."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.server.conftest import ClientFor
from tests.server.devices.conftest import (
    device_by_url,
    import_setup,
    load_setup,
    make_gateway,
)
from tests.server.helpers import create_other_org, make_key, make_site, ok, problem

AWNING = "io://1234-5678-3293/3541212"


def _urls(page: dict[str, Any]) -> list[str]:
    return [d["device_url"] for d in page["items"]]


def test_filters(http: httpx2.Client, gateway: dict[str, Any], tahoma: dict[str, Any]) -> None:
    setup = load_setup("setup_local_tahoma.json")["devices"]
    io_urls = sorted(d["deviceURL"] for d in setup if d["deviceURL"].startswith("io://"))
    by_protocol = ok(http.get("/v1/devices", params={"protocol": "io", "limit": 200}))
    assert sorted(_urls(by_protocol)) == io_urls
    assert ok(http.get("/v1/devices", params={"protocol": "zzz"}))["items"] == []
    assert len(ok(http.get("/v1/devices", params={"gateway_id": gateway["id"]}))["items"]) == 8
    assert len(ok(http.get("/v1/devices", params={"site_id": gateway["site_id"]}))["items"]) == 8
    other_site = make_site(http, "elsewhere")
    assert ok(http.get("/v1/devices", params={"site_id": other_site["id"]}))["items"] == []
    awning = device_by_url(http, AWNING)
    ui_class = awning["ui_class"]
    with_class = ok(http.get("/v1/devices", params={"ui_class": ui_class}))
    assert AWNING in _urls(with_class)
    assert all(d["ui_class"] == ui_class for d in with_class["items"])
    # Typed state filters: a string, an integer, a boolean.
    opened = ok(http.get("/v1/devices", params={"state": "core:OpenClosedState=open"}))
    assert AWNING in _urls(opened)
    assert all(
        any(s["name"] == "core:OpenClosedState" and s["value"] == "open" for s in d["states"])
        for d in opened["items"]
    )
    closure0 = _urls(ok(http.get("/v1/devices", params={"state": "core:ClosureState=0"})))
    assert AWNING in closure0
    assert AWNING in _urls(ok(http.get("/v1/devices", params={"state": "core:MovingState=false"})))
    assert AWNING not in _urls(
        ok(http.get("/v1/devices", params={"state": "core:MovingState=true"}))
    )
    problem(http.get("/v1/devices", params={"state": "no-equals-sign"}), 422, "validation_failed")
    problem(http.get("/v1/devices", params={"protocol": "io://"}), 422, "validation_failed")


def test_state_filter_pages_stay_exact(http: httpx2.Client, site: dict[str, Any]) -> None:
    # Several gateways with the same setup: many devices, a few matching per gateway.
    for n in range(3):
        gateway = make_gateway(http, site["id"], f"gw-{n}")
        import_setup(http, gateway["id"], load_setup("setup_local_tahoma.json"))
    wanted = "core:OpenClosedState=open"
    everything = ok(http.get("/v1/devices", params={"state": wanted, "limit": 200}))["items"]
    assert len(everything) >= 3
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"state": wanted, "limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = ok(http.get("/v1/devices", params=params))
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [d["id"] for d in everything]


def test_pagination_by_id(http: httpx2.Client, tahoma: dict[str, Any]) -> None:
    first = ok(http.get("/v1/devices", params={"limit": 5}))
    rest = ok(http.get("/v1/devices", params={"limit": 5, "cursor": first["next_cursor"]}))
    assert rest["next_cursor"] is None
    ids = [d["id"] for d in first["items"] + rest["items"]]
    assert ids == sorted(ids)
    assert sorted(ids) == sorted(tahoma["device_ids"])


def test_label_update(http: httpx2.Client, tahoma: dict[str, Any]) -> None:
    device = device_by_url(http, AWNING)
    updated = ok(http.patch(f"/v1/devices/{device['id']}", json={"label": "Terrace"}))
    assert updated["label"] == "Terrace"
    assert ok(http.get(f"/v1/devices/{device['id']}"))["label"] == "Terrace"
    problem(http.patch(f"/v1/devices/{device['id']}", json={"label": ""}), 422, "validation_failed")
    problem(
        http.patch(f"/v1/devices/{device['id']}", json={"label": "x", "states": []}),
        422,
        "validation_failed",
    )
    problem(http.patch("/v1/devices/dev_nope", json={"label": "x"}), 404, "no_such_device")


def test_reporting_states_merges_and_emits_only_changes(
    http: httpx2.Client, tahoma: dict[str, Any]
) -> None:
    device = device_by_url(http, AWNING)
    listener = ok(http.post("/v1/event-listeners", json={}), 201)
    report = {
        "states": [
            {"name": "core:ClosureState", "type": 1, "value": 40},
            {"name": "core:OpenClosedState", "type": 3, "value": "open"},  # unchanged
            {"name": "core:NewState", "type": 2, "value": 1.5},
        ]
    }
    after = ok(http.post(f"/v1/devices/{device['id']}/states", json=report))
    states = {s["name"]: s["value"] for s in after["states"]}
    assert states["core:ClosureState"] == 40
    assert states["core:NewState"] == 1.5
    assert states["core:MovingState"] is False  # untouched states stay
    assert len(after["states"]) == len(device["states"]) + 1
    batch = ok(http.post(f"/v1/event-listeners/{listener['id']}/fetch", params={"timeout": 0}))
    [event] = batch["events"]
    assert event["type"] == "device.state_changed"
    assert (event["device_id"], event["device_url"]) == (device["id"], AWNING)
    assert event["gateway_id"] == device["gateway_id"]
    assert event["site_id"] == device["site_id"]
    assert sorted(s["name"] for s in event["states"]) == ["core:ClosureState", "core:NewState"]
    # The same report again changes nothing and says nothing.
    ok(http.post(f"/v1/devices/{device['id']}/states", json=report))
    batch = ok(http.post(f"/v1/event-listeners/{listener['id']}/fetch", params={"timeout": 0}))
    assert batch["events"] == []
    # false -> 0 is a change for a device, though Python says False == 0.
    moving = {"states": [{"name": "core:MovingState", "type": 6, "value": 0}]}
    ok(http.post(f"/v1/devices/{device['id']}/states", json=moving))
    batch = ok(http.post(f"/v1/event-listeners/{listener['id']}/fetch", params={"timeout": 0}))
    assert [e["states"][0]["value"] for e in batch["events"]] == [0]
    problem(
        http.post(f"/v1/devices/{device['id']}/states", json={"states": []}),
        422,
        "validation_failed",
    )


def test_access(
    http: httpx2.Client,
    client_for: ClientFor,
    gateway: dict[str, Any],
    tahoma: dict[str, Any],
    database_url: str,
) -> None:
    device = device_by_url(http, AWNING)
    site_id, path = gateway["site_id"], f"/v1/devices/{device['id']}"
    reader = client_for(make_key(http, [f"site:{site_id}:read"])["secret"])
    assert ok(reader.get(path))["id"] == device["id"]
    assert len(ok(reader.get("/v1/devices"))["items"]) == 8
    problem(reader.patch(path, json={"label": "x"}), 403, "scope_insufficient")
    report = {"states": [{"name": "core:ClosureState", "type": 1, "value": 3}]}
    problem(reader.post(f"{path}/states", json=report), 403, "scope_insufficient")
    # A per-agent credential (agent:<id>:write) reads and reports for its own gateway.
    token = ok(http.post(f"/v1/agents/{gateway['id']}/token", json={}), 201)["secret"]
    device_token = client_for(token)
    assert ok(device_token.post(f"{path}/states", json=report))["id"] == device["id"]
    assert len(ok(device_token.get("/v1/devices"))["items"]) == 8
    # Another site's reader sees nothing and learns nothing.
    elsewhere = make_site(http, "elsewhere")
    outsider = client_for(make_key(http, [f"site:{elsewhere['id']}:read"])["secret"])
    assert ok(outsider.get("/v1/devices"))["items"] == []
    problem(outsider.get(path), 404, "no_such_device")
    problem(outsider.get(f"{path}/states"), 404, "no_such_device")
    # Another organisation: 404 for everything.
    stranger = client_for(create_other_org(database_url)["key"])
    problem(stranger.get(path), 404, "no_such_device")
    problem(stranger.patch(path, json={"label": "x"}), 404, "no_such_device")
    problem(stranger.post(f"{path}/states", json=report), 404, "no_such_device")
    assert ok(stranger.get("/v1/devices"))["items"] == []


@pytest.mark.parametrize("path", ["/v1/devices", "/v1/devices/dev_x", "/v1/devices/dev_x/states"])
def test_no_credentials_is_401(client_for: ClientFor, path: str) -> None:
    problem(client_for(None).get(path), 401, "unauthenticated")
