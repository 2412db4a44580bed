"""``client.devices``: request shapes, lookups by URL, and the async twin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import fleetyard
from fleetyard.protocol.devices import DeviceState

from .device_fakes import URL, URL2, device_json, page
from .fakes import FakeAPI, make_async_client, ok


def test_list_sends_every_filter_and_follows_cursors(
    api: FakeAPI, client: fleetyard.Client
) -> None:
    api.reply(
        ok(page([device_json("dev_1")], next_cursor="c2")),
        ok(page([device_json("dev_2", URL2)])),
    )

    devices = list(
        client.devices.list(
            gateway_id="agt_gw",
            site_id="site_1",
            protocol="io",
            ui_class="ExteriorScreen",
            state="core:OpenClosedState=open",
            limit=1,
        )
    )

    assert [d.id for d in devices] == ["dev_1", "dev_2"]
    first, second = api.requests
    assert first.url.path == "/v1/devices"
    assert dict(first.url.params) == {
        "limit": "1",
        "gateway_id": "agt_gw",
        "site_id": "site_1",
        "protocol": "io",
        "ui_class": "ExteriorScreen",
        "state": "core:OpenClosedState=open",
    }
    assert second.url.params["cursor"] == "c2"


def test_a_state_filter_may_be_a_pair(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(ok(page([])), ok(page([])))

    client.devices.list_page(state=("core:ClosureState", 50))
    client.devices.list_page(state=("core:OpenClosedState", "open"))

    assert [r.url.params["state"] for r in api.requests] == [
        "core:ClosureState=50",
        "core:OpenClosedState=open",
    ]


def test_a_state_filter_needs_an_equals_sign(client: fleetyard.Client) -> None:
    with pytest.raises(ValueError, match="NAME=VALUE"):
        client.devices.list_page(state="core:ClosureState")


def test_get_by_id(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(ok(device_json()))

    device = client.devices.get("dev_1")

    assert api.last.url.path == "/v1/devices/dev_1"
    assert device.device_url == URL
    assert device.state_value("core:ClosureState") == 40


def test_get_by_url_filters_the_list(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(ok(page([device_json()])))

    device = client.devices.get(URL, gateway_id="agt_gw")

    assert device.id == "dev_1"
    assert api.last.url.path == "/v1/devices"
    assert dict(api.last.url.params) == {"device_url": URL, "gateway_id": "agt_gw", "limit": "2"}


def test_an_unknown_url_is_no_such_device(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(ok(page([])))

    with pytest.raises(fleetyard.NotFoundError) as caught:
        client.devices.get(URL)

    assert caught.value.status == 404
    assert caught.value.code == "no_such_device"
    assert URL in str(caught.value)


def test_a_url_behind_two_gateways_is_ambiguous(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(ok(page([device_json("dev_1"), device_json("dev_2", gateway_id="agt_other")])))

    with pytest.raises(fleetyard.UnprocessableEntityError) as caught:
        client.devices.get(URL)

    assert caught.value.code == "device_ambiguous"
    assert caught.value.problem is not None
    assert caught.value.problem.model_extra == {"candidates": ["agt_gw", "agt_other"]}


def test_states_by_url_look_the_device_up_first(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(
        ok(page([device_json()])),
        ok([{"name": "core:ClosureState", "type": 1, "value": 40}]),
    )

    states = client.devices.states(URL)

    assert states == [DeviceState(name="core:ClosureState", type=1, value=40)]
    assert [r.url.path for r in api.requests] == ["/v1/devices", "/v1/devices/dev_1/states"]


def test_update_label(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(ok(device_json()))

    client.devices.update("dev_1", label="Living room")

    assert (api.last.method, api.last.url.path) == ("PATCH", "/v1/devices/dev_1")
    assert json.loads(api.last.content) == {"label": "Living room"}


def test_import_setup_from_a_file(api: FakeAPI, client: fleetyard.Client, tmp_path: Path) -> None:
    setup = {"devices": [{"deviceURL": URL}], "gateways": []}
    path = tmp_path / "setup.json"
    path.write_text(json.dumps(setup))
    result = {
        "gateway_id": "agt_gw",
        "created": 1,
        "updated": 0,
        "skipped": [{"index": 1, "device_url": None, "reason": "no deviceURL"}],
        "device_ids": ["dev_1"],
    }
    api.reply(ok(result, status=201), ok(result, status=201))

    from_file = client.devices.import_setup(path, gateway_id="agt_gw")
    from_dict = client.devices.import_setup(setup, gateway_id="agt_gw")

    assert from_file == from_dict
    assert from_file.skipped[0].reason == "no deviceURL"
    assert [(r.method, r.url.path) for r in api.requests] == [("POST", "/v1/devices/import")] * 2
    assert api.bodies() == [{"gateway_id": "agt_gw", "setup": setup}] * 2
    # Each call is its own logical write: its own idempotency key.
    keys = {r.headers["Idempotency-Key"] for r in api.requests}
    assert len(keys) == 2


def test_import_refuses_a_file_without_an_object(client: fleetyard.Client, tmp_path: Path) -> None:
    path = tmp_path / "setup.json"
    path.write_text("[]")

    with pytest.raises(ValueError, match="JSON object"):
        client.devices.import_setup(path, gateway_id="agt_gw")


def test_report_states(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(ok(device_json()))

    client.devices.report_states(
        "dev_1",
        [
            DeviceState(name="core:ClosureState", type=1, value=10),
            {"name": "core:Moving", "value": True},
        ],
    )

    assert (api.last.method, api.last.url.path) == ("POST", "/v1/devices/dev_1/states")
    assert json.loads(api.last.content) == {
        "states": [
            {"name": "core:ClosureState", "type": 1, "value": 10},
            {"name": "core:Moving", "type": 0, "value": True},
        ]
    }


@pytest.mark.anyio
async def test_async_twin(api: FakeAPI) -> None:
    api.reply(
        ok(page([device_json()], next_cursor="c2")),
        ok(page([device_json("dev_2", URL2)])),
        ok(page([device_json()])),
        ok([{"name": "core:ClosureState", "type": 1, "value": 40}]),
        ok(page([])),
    )
    async with make_async_client(api, [], api_key="k") as client:
        ids = [d.id async for d in client.devices.list(protocol="io")]
        states = await client.devices.states(URL)
        with pytest.raises(fleetyard.NotFoundError):
            await client.devices.get(URL2)

    assert ids == ["dev_1", "dev_2"]
    assert states[0].value == 40
    assert api.requests[-1].url.params["device_url"] == URL2
