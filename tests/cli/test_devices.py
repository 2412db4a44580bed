"""`yard devices`: exact output for people and for --json, and the SDK calls behind it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Yard
from tests.cli.device_fakes import URL, URL2, device, import_result
from tests.cli.fakes import FakeSDK, api_error


def test_list_is_a_table(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.devices.list.return_value = iter(
        [device(), device(2, URL2, label="Terrace", available=False)]
    )

    result = yard("devices", "list")

    assert result.exit_code == 0
    assert result.stdout == (
        "DEVICE URL                   LABEL    UI CLASS        AVAILABLE\n"
        "io://1234-5678-3293/3541212  Blind    ExteriorScreen  yes\n"
        "io://1234-5678-3293/5770898  Terrace  ExteriorScreen  no\n"
    )
    sdk.client.devices.list.assert_called_once_with(
        gateway_id=None, site_id=None, protocol=None, ui_class=None, state=None
    )


def test_list_filters(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.devices.list.return_value = iter([])

    result = yard(
        "devices", "list", "--gateway", "agt_gw", "--site", "site_1", "--protocol", "io",
        "--ui-class", "ExteriorScreen", "--state", "core:OpenClosedState=open",
    )  # fmt: skip

    assert result.stdout == "No devices.\n"
    sdk.client.devices.list.assert_called_once_with(
        gateway_id="agt_gw",
        site_id="site_1",
        protocol="io",
        ui_class="ExteriorScreen",
        state="core:OpenClosedState=open",
    )


def test_a_state_filter_needs_an_equals_sign(sdk: FakeSDK, yard: Yard) -> None:
    result = yard("devices", "list", "--state", "core:OpenClosedState")

    assert result.exit_code == 2
    assert "is not a state filter: write NAME=VALUE" in result.stderr
    sdk.client.devices.list.assert_not_called()


def test_list_json(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.devices.list.return_value = iter([device()])

    result = yard("devices", "list", "--json")

    assert json.loads(result.stdout) == [device().model_dump(mode="json")]


def test_get_by_url_is_a_panel(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.devices.get.return_value = device()

    result = yard("devices", "get", URL)

    sdk.client.devices.get.assert_called_once_with(URL)
    assert result.stdout == (
        "╭─ Device Blind ───────────────────────────────────╮\n"
        "│ ID          dev_1                                │\n"
        "│ Device URL  io://1234-5678-3293/3541212          │\n"
        "│ Label       Blind                                │\n"
        "│ Type        io:VerticalExteriorAwningIOComponent │\n"
        "│ UI class    ExteriorScreen                       │\n"
        "│ Widget      PositionableScreen                   │\n"
        "│ Gateway     agt_gw                               │\n"
        "│ Site        site_1                               │\n"
        "│ Available   yes                                  │\n"
        "│ Commands    setClosure, open                     │\n"
        "│ States      2                                    │\n"
        "│ Created     2026-11-02 09:30:15Z                 │\n"
        "│ Updated     2026-11-02 09:30:15Z                 │\n"
        "╰──────────────────────────────────────────────────╯\n"
    )


def test_an_unknown_device_is_a_one_line_error(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.devices.get.side_effect = api_error(
        404, "no_such_device", f"no device has the URL {URL}", request_id=None
    )

    result = yard("devices", "get", URL)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"error: no device has the URL {URL} (code: no_such_device)\n"


def test_states(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.devices.states.return_value = device().states

    result = yard("devices", "states", "dev_1")

    sdk.client.devices.states.assert_called_once_with("dev_1")
    assert result.stdout == (
        "NAME                  TYPE  VALUE\n"
        "core:ClosureState     1     40\n"
        "core:OpenClosedState  3     open\n"
    )


def test_import_prints_counts_and_skipped_devices(sdk: FakeSDK, yard: Yard, tmp_path: Path) -> None:
    setup = {"devices": [{"deviceURL": URL}]}
    path = tmp_path / "setup.json"
    path.write_text(json.dumps(setup))
    sdk.client.devices.import_setup.return_value = import_result()

    result = yard("devices", "import", str(path), "--gateway", "agt_gw")

    assert result.exit_code == 0, result.stderr
    sdk.client.devices.import_setup.assert_called_once_with(setup, gateway_id="agt_gw")
    assert result.stdout == (
        "Imported into agt_gw: 6 created, 1 updated, 1 skipped.\n"
        "  skipped io://1234-5678-3293/5770898: unknown protocol\n"
    )


def test_import_json(sdk: FakeSDK, yard: Yard, tmp_path: Path) -> None:
    path = tmp_path / "setup.json"
    path.write_text("{}")
    sdk.client.devices.import_setup.return_value = import_result(skipped=[])

    result = yard("--json", "devices", "import", str(path), "--gateway", "agt_gw")

    assert json.loads(result.stdout) == {
        "gateway_id": "agt_gw",
        "created": 6,
        "updated": 1,
        "skipped": [],
        "device_ids": [],
    }


def test_import_refuses_a_bad_file_before_calling(
    sdk: FakeSDK, yard: Yard, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # short paths: the usage box would fold long ones
    Path("setup.json").write_text("[1, 2]")
    Path("good.json").write_text("{}")

    not_object = yard("devices", "import", "setup.json", "--gateway", "agt_gw")
    missing = yard("devices", "import", "nope.json", "--gateway", "agt_gw")
    no_gateway = yard("devices", "import", "good.json")

    assert [r.exit_code for r in (not_object, missing, no_gateway)] == [2, 2, 2]
    assert "must hold a JSON object" in not_object.stderr
    assert "cannot read" in missing.stderr
    assert "Missing option '--gateway'" in no_gateway.stderr
    sdk.client.devices.import_setup.assert_not_called()
