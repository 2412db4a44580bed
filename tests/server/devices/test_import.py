"""Importing gateway setups: every real fixture, typed values, tolerance, re-import, access."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.server.conftest import ClientFor
from tests.server.devices.conftest import (
    SETUP_FILES,
    device_by_url,
    import_setup,
    load_setup,
    make_gateway,
)
from tests.server.helpers import create_other_org, make_key, ok, problem

# Observed from the fixtures (the JSON is the source of truth, these pin it).
EXPECTED_DEVICES = {
    "setup_3_gateways.json": 37,
    "setup_cozytouch.json": 12,
    "setup_cozytouch_v2.json": 5,
    "setup_hi_kumo.json": 3,
    "setup_hue_and_low_speed.json": 40,
    "setup_local.json": 3,
    "setup_local_tahoma.json": 8,
    "setup_local_with_climate.json": 33,
    "setup_nexity.json": 18,
    "setup_rexel.json": 18,
    "setup_tahoma_1.json": 1,
    "setup_tahoma_3.json": 39,
    "setup_tahoma_climate.json": 19,
    "setup_tahoma_siren_io.json": 11,
}

AWNING = "io://1234-5678-3293/3541212"


def test_the_fixture_list_is_the_one_pinned() -> None:
    if not SETUP_FILES:
        pytest.skip("the gateway setup fixtures are not available")
    assert sorted(EXPECTED_DEVICES) == SETUP_FILES


@pytest.mark.parametrize("name", sorted(EXPECTED_DEVICES))
def test_every_fixture_setup_imports_whole(
    http: httpx2.Client, site: dict[str, Any], name: str
) -> None:
    gateway = make_gateway(http, site["id"], name.removesuffix(".json"))
    result = import_setup(http, gateway["id"], load_setup(name))
    assert result["skipped"] == []
    assert (result["created"], result["updated"]) == (EXPECTED_DEVICES[name], 0)
    assert len(set(result["device_ids"])) == EXPECTED_DEVICES[name]
    listed = ok(http.get("/v1/devices", params={"gateway_id": gateway["id"], "limit": 200}))
    assert len(listed["items"]) == EXPECTED_DEVICES[name]
    for device in listed["items"]:
        assert device["gateway_id"] == gateway["id"]
        assert device["site_id"] == site["id"]
        assert device["identifier"]["base_device_url"] in device["device_url"]


def test_typed_values_definition_and_helpers_survive_the_import(
    http: httpx2.Client, tahoma: dict[str, Any]
) -> None:
    device = device_by_url(http, AWNING)
    states = {s["name"]: s for s in device["states"]}
    closure = states["core:ClosureState"]
    assert closure["value"] == 0
    assert type(closure["value"]) is int
    assert closure["type"] == 1
    assert states["core:OpenClosedState"]["value"] == "open"
    assert states["core:MovingState"]["value"] is False
    assert states["core:ManufacturerSettingsState"]["value"] == {"current_position": 0}
    commands = {c["command_name"]: c for c in device["definition"]["commands"]}
    assert commands["setClosure"]["nparams"] == 1
    assert commands["pairOneWayController"]["params_sig"] == "p1,*p2"
    # Local-API shape: widget and ui class come from the definition.
    assert device["widget"] == "PositionableScreen"
    assert device["definition"]["widget_name"] == "PositionableScreen"
    assert device["controllable_name"] == "io:VerticalExteriorAwningIOComponent"
    assert device["identifier"] == {
        "protocol": "io",
        "gateway_id": "1234-5678-3293",
        "device_address": "3541212",
        "subsystem_id": None,
        "base_device_url": AWNING,
        "is_sub_device": False,
    }
    # The same document through the SDK's model and its helpers.
    from fleetyard.protocol.devices import Device

    model = Device.model_validate(device)
    assert model.state_value("core:ClosureState") == 0
    assert model.supports_command("setClosure")
    cmd = model.definition.command("pairOneWayController")
    assert cmd is not None
    assert (cmd.min_params, cmd.max_params) == (1, 2)
    assert model.attribute_value("core:Manufacturer") == "Somfy"
    states_only = ok(http.get(f"/v1/devices/{device['id']}/states"))
    assert states_only == device["states"]


def test_cloud_shape_keeps_state_definitions_and_ui_class(
    http: httpx2.Client, gateway: dict[str, Any]
) -> None:
    import_setup(http, gateway["id"], load_setup("setup_tahoma_1.json"))
    device = device_by_url(http, "rtd://1234-1234-8044/770015")
    assert device["ui_class"] == "Alarm"
    assert device["widget"] == "StatelessAlarmController"
    assert device["definition"]["ui_profiles"] == ["Alarm"]
    assert device["definition"]["qualified_name"] == "rtd:AlarmRTDComponent"
    assert device["states"] == []
    climate = load_setup("setup_tahoma_climate.json")
    other = make_gateway(http, gateway["site_id"], "climate")
    import_setup(http, other["id"], climate)
    with_values = next(
        s
        for d in ok(http.get("/v1/devices", params={"gateway_id": other["id"]}))["items"]
        for s in d["definition"]["states"]
        if s["values"]
    )
    assert with_values["type"] == "DiscreteState"


def test_malformed_devices_are_skipped_with_a_reason(
    http: httpx2.Client, gateway: dict[str, Any]
) -> None:
    good = load_setup("setup_local_tahoma.json")["devices"][0]
    setup = {
        "devices": [
            "not an object",
            {"label": "no url"},
            {"deviceURL": "not a url", "controllableName": "x"},
            {**good, "definition": "nope"},
            {**good, "definition": {"commands": [{"nparams": 1}]}},
            {**good, "states": [{"value": 1}]},
            good,
            good,
        ]
    }
    result = import_setup(http, gateway["id"], setup)
    assert (result["created"], result["updated"]) == (1, 0)
    skipped = {s["index"]: s for s in result["skipped"]}
    assert sorted(skipped) == [0, 1, 2, 3, 4, 5, 7]
    assert skipped[0]["reason"] == "device is not an object"
    assert skipped[1]["reason"] == "deviceURL is missing"
    assert skipped[2]["device_url"] == "not a url"
    assert "definition" in skipped[3]["reason"]
    assert "commandName" in skipped[4]["reason"]
    assert skipped[5]["reason"].startswith("states")
    assert skipped[7]["reason"] == "duplicate deviceURL"
    assert skipped[7]["device_url"] == good["deviceURL"]


@pytest.mark.parametrize("setup", [{}, {"devices": {"a": 1}}, {"devices": None}])
def test_a_setup_without_a_devices_list_is_setup_invalid(
    http: httpx2.Client, gateway: dict[str, Any], setup: dict[str, Any]
) -> None:
    response = http.post("/v1/devices/import", json={"gateway_id": gateway["id"], "setup": setup})
    body = problem(response, 422, "setup_invalid")
    assert body["errors"][0]["loc"] == ["body", "setup", "devices"]
    assert ok(http.get("/v1/devices"))["items"] == []


def test_reimport_updates_in_place(
    http: httpx2.Client, gateway: dict[str, Any], tahoma: dict[str, Any]
) -> None:
    setup = load_setup("setup_local_tahoma.json")
    for device in setup["devices"]:
        if device["deviceURL"] == AWNING:
            device["label"] = "Terrace awning"
    again = import_setup(http, gateway["id"], setup)
    assert (again["created"], again["updated"]) == (0, 8)
    assert again["device_ids"] == tahoma["device_ids"]
    assert device_by_url(http, AWNING)["label"] == "Terrace awning"
    # The same setup behind a second gateway makes new devices: one URL, two gateways.
    second = make_gateway(http, gateway["site_id"], "second")
    assert import_setup(http, second["id"], setup)["created"] == 8
    both = ok(http.get("/v1/devices", params={"device_url": AWNING}))["items"]
    assert sorted(d["gateway_id"] for d in both) == sorted([gateway["id"], second["id"]])


def test_import_needs_admin_and_a_gateway_of_the_callers_org(
    http: httpx2.Client,
    client_for: ClientFor,
    gateway: dict[str, Any],
    database_url: str,
) -> None:
    setup = load_setup("setup_local.json")
    site_id = gateway["site_id"]
    reader = client_for(make_key(http, [f"site:{site_id}:read"])["secret"])
    writer = client_for(make_key(http, [f"site:{site_id}:write"])["secret"])
    body = {"gateway_id": gateway["id"], "setup": setup}
    problem(reader.post("/v1/devices/import", json=body), 403, "scope_insufficient")
    problem(writer.post("/v1/devices/import", json=body), 403, "scope_insufficient")
    site_admin = client_for(make_key(http, [f"site:{site_id}:admin"])["secret"])
    assert ok(site_admin.post("/v1/devices/import", json=body), 201)["created"] == 3
    other = create_other_org(database_url)
    stranger = client_for(other["key"])
    problem(stranger.post("/v1/devices/import", json=body), 404, "not_found")
    unknown = {"gateway_id": "agt_nope", "setup": setup}
    problem(http.post("/v1/devices/import", json=unknown), 404, "not_found")
    assert ok(stranger.get("/v1/devices"))["items"] == []
