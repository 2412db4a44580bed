"""`yard scenes`: exact output, the SDK calls, files, schedules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fleetyard.protocol.executions import SceneCreate
from tests.cli.conftest import Yard
from tests.cli.device_fakes import URL, execution, handle, scene, schedule
from tests.cli.fakes import FakeSDK


def test_list(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.action_groups.list.return_value = iter([scene()])

    result = yard("scenes", "list", "--site", "site_1")

    sdk.client.action_groups.list.assert_called_once_with(gateway_id=None, site_id="site_1")
    assert result.stdout == (
        "ID     LABEL       ACTIONS  UPDATED\nscn_1  Good night  2        2026-11-02 09:30:15Z\n"
    )


def test_get_is_a_panel(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.action_groups.get.return_value = scene()

    result = yard("scenes", "get", "scn_1")

    assert result.stdout == (
        "╭─ Scene Good night ───────────────────────────────────╮\n"
        "│ ID       scn_1                                       │\n"
        "│ Label    Good night                                  │\n"
        "│ Mode     default                                     │\n"
        "│ Gateway  agt_gw                                      │\n"
        "│ Site     site_1                                      │\n"
        "│ Actions  io://1234-5678-3293/3541212 setClosure(100) │\n"
        "│          io://1234-5678-3293/5770898 close()         │\n"
        "│ Created  2026-11-02 09:30:15Z                        │\n"
        "│ Updated  2026-11-02 09:30:15Z                        │\n"
        "╰──────────────────────────────────────────────────────╯\n"
    )


def test_create_from_a_file(
    sdk: FakeSDK, yard: Yard, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    body = {
        "label": "Good night",
        "actions": [{"device_url": URL, "commands": [{"name": "close"}]}],
    }
    Path("scene.json").write_text(json.dumps(body))
    sdk.client.action_groups.create.return_value = scene()

    result = yard("--json", "scenes", "create", "--file", "scene.json", "--gateway", "agt_gw")

    assert result.exit_code == 0, result.stderr
    sdk.client.action_groups.create.assert_called_once_with(
        SceneCreate.model_validate(body), gateway_id="agt_gw"
    )
    assert json.loads(result.stdout)["id"] == "scn_1"


def test_create_refuses_a_file_that_is_not_a_scene(
    sdk: FakeSDK, yard: Yard, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("scene.json").write_text(json.dumps({"label": "x", "actions": []}))

    result = yard("scenes", "create", "--file", "scene.json")

    assert result.exit_code == 2
    assert "'scene.json' is not a scene (actions: List should have at least 1 item" in (
        " ".join(result.stderr.replace("│", " ").split())
    )
    sdk.client.action_groups.create.assert_not_called()


def test_delete_asks_first(sdk: FakeSDK, yard: Yard) -> None:
    refused = yard("scenes", "delete", "scn_1", input="n\n")
    sdk.client.action_groups.delete.return_value = {"id": "scn_1", "deleted": True}
    done = yard("scenes", "delete", "scn_1", "--yes")

    assert refused.exit_code == 1
    assert done.stdout == "Deleted scene scn_1.\n"
    sdk.client.action_groups.delete.assert_called_once_with("scn_1")


def test_execute_and_wait(sdk: FakeSDK, yard: Yard) -> None:
    fake = handle()
    fake.wait.return_value = execution()
    sdk.client.action_groups.execute.return_value = fake

    started = yard("scenes", "execute", "scn_1", "--queue")
    waited = yard("--json", "scenes", "execute", "scn_1", "--wait")

    assert started.stdout == "Started execution exe_1 on agt_gw (initialized).\n"
    assert sdk.client.action_groups.execute.call_args_list[0].kwargs == {"queue": True}
    assert waited.exit_code == 0
    assert json.loads(waited.stdout)["state"] == "completed"


def test_schedule_in_a_while_or_at_a_time(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.action_groups.schedule.return_value = schedule()

    later = yard("scenes", "schedule", "scn_1", "--in", "10m")
    at = yard("scenes", "schedule", "scn_1", "--at", "2027-01-01T08:00", "--no-queue")

    assert later.stdout == "Scheduled scene scn_1 for 2026-11-02 09:30:15Z: sch_1.\n"
    first, second = sdk.client.action_groups.schedule.call_args_list
    assert first.args == ("scn_1",)
    assert first.kwargs == {"at": timedelta(minutes=10), "queue": True}
    assert second.kwargs == {"at": datetime(2027, 1, 1, 8, 0, tzinfo=UTC), "queue": False}
    assert at.exit_code == 0


@pytest.mark.parametrize("args", [(), ("--in", "10m", "--at", "2027-01-01T08:00")])
def test_schedule_needs_exactly_one_time(sdk: FakeSDK, yard: Yard, args: tuple[str, ...]) -> None:
    result = yard("scenes", "schedule", "scn_1", *args)

    assert result.exit_code == 2
    assert result.stderr == "error: give --at TIME or --in DURATION (code: usage)\n"
    sdk.client.action_groups.schedule.assert_not_called()


def test_schedules_and_unschedule(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.schedules.list.return_value = iter([schedule()])
    sdk.client.schedules.cancel.return_value = schedule(state="cancelled")

    listed = yard("scenes", "schedules", "--scene", "scn_1", "--state", "pending")
    cancelled = yard("scenes", "unschedule", "sch_1")

    sdk.client.schedules.list.assert_called_once_with(scene_id="scn_1", state="pending")
    assert listed.stdout == (
        "ID     SCENE  AT                    STATE    EXECUTION\n"
        "sch_1  scn_1  2026-11-02 09:30:15Z  pending  -\n"
    )
    sdk.client.schedules.cancel.assert_called_once_with("sch_1")
    assert cancelled.stdout == "Cancelled schedule sch_1 (cancelled).\n"
