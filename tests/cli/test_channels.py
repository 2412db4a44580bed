"""`yard channels`: exact output, and names (with # and !) passed through as written."""

from __future__ import annotations

import json
from pathlib import Path
from unittest.mock import call

from fleetyard import NOT_GIVEN
from fleetyard.protocol.telemetry import Retention
from tests.cli.conftest import Yard
from tests.cli.fakes import FakeSDK, api_error, channel

PANEL = (
    "╭─ Channel status ────────────────╮\n"
    "│ ID         ch_1                 │\n"
    "│ Agent      agt_1                │\n"
    "│ Name       status               │\n"
    "│ Kind       channel              │\n"
    "│ Private    no                   │\n"
    "│ Retention  forever              │\n"
    "│ Schema     -                    │\n"
    "│ Last seq   42                   │\n"
    "│ Aggregate  version 40           │\n"
    "│ Updated    2026-11-02 09:30:15Z │\n"
    "│ Created    2026-11-02 09:30:15Z │\n"
    "╰─────────────────────────────────╯\n"
)


def test_list_is_a_table(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.list.return_value = iter(
        [
            channel(),
            channel(
                2,
                "#alarms",
                is_private=True,
                retention={"max_age_seconds": 86_400 * 30, "max_messages": 1000},
            ),
            channel(3, "!reboot", retention={"max_messages": 5}, aggregate_updated_at=None),
        ]
    )

    result = yard("channels", "list", "agt_1")

    assert result.exit_code == 0
    assert result.stdout == (
        "ID    NAME     KIND       PRIVATE  LAST SEQ  RETENTION           UPDATED\n"
        "ch_1  status   channel    no       42        forever             2026-11-02 09:30:15Z\n"
        "ch_2  #alarms  processor  yes      42        30d, 1000 messages  2026-11-02 09:30:15Z\n"
        "ch_3  !reboot  task       no       42        5 messages          -\n"
    )
    sdk.client.channels.list.assert_called_once_with("agt_1", kind=None)


def test_list_by_kind_and_empty(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.list.return_value = iter([])

    result = yard("channels", "list", "agt_1", "--kind", "processor")

    assert result.stdout == "No channels.\n"
    sdk.client.channels.list.assert_called_once_with("agt_1", kind="processor")


def test_get_by_agent_and_name(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.get_by_name.return_value = channel()

    result = yard("channels", "get", "agt_1", "status")

    assert result.stdout == PANEL
    sdk.client.channels.get_by_name.assert_called_once_with("agt_1", "status")
    sdk.client.channels.get.assert_not_called()


def test_get_by_channel_id(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.get.return_value = channel()

    result = yard("channels", "get", "ch_1")

    assert result.stdout == PANEL
    sdk.client.channels.get.assert_called_once_with("ch_1")


def test_get_json(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.get_by_name.return_value = channel(name="#proc")

    result = yard("--json", "channels", "get", "agt_1", "#proc")

    document = json.loads(result.stdout)
    assert document["name"] == "#proc"
    assert document["kind"] == "processor"
    assert document["retention"] == {"max_age_seconds": None, "max_messages": None}
    sdk.client.channels.get_by_name.assert_called_once_with("agt_1", "#proc")


def test_a_bad_name_is_a_usage_error(sdk: FakeSDK, yard: Yard) -> None:
    result = yard("channels", "get", "agt_1", "a/b")

    assert result.exit_code == 2
    assert "a channel name must not contain '/'" in result.stderr
    sdk.client.channels.get_by_name.assert_not_called()


def test_create_with_everything(sdk: FakeSDK, yard: Yard, tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text('{"type": "object", "required": ["t"]}')
    sdk.client.channels.create.return_value = channel(name="#proc")

    result = yard(
        "channels", "create", "agt_1", "#proc", "--private",
        "--max-age", "7d", "--max-messages", "1000", "--schema", str(schema),
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    sdk.client.channels.create.assert_called_once_with(
        "agt_1",
        "#proc",
        is_private=True,
        retention=Retention(max_age_seconds=604_800, max_messages=1000),
        json_schema={"type": "object", "required": ["t"]},
    )
    assert "│ Name       #proc " in result.stdout


def test_create_plain(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.create.return_value = channel()

    result = yard("channels", "create", "agt_1", "status")

    assert result.stdout == PANEL
    sdk.client.channels.create.assert_called_once_with(
        "agt_1", "status", is_private=False, retention=None, json_schema=None
    )


def test_create_rejects_bad_options(sdk: FakeSDK, yard: Yard, tmp_path: Path) -> None:
    not_json = tmp_path / "schema.json"
    not_json.write_text("{")

    cases = {
        ("--max-age", "soon"): "'soon' is not a duration like 30s, 5m, 1h or 7d",
        ("--max-age", "500ms"): "give whole seconds or more",
        ("--schema", str(tmp_path / "missing.json")): "cannot read",
        ("--schema", str(not_json)): "is not JSON",
        ("--max-messages", "0"): "greater than or equal to 1",
    }
    for args, message in cases.items():
        result = yard("channels", "create", "agt_1", "status", *args)
        assert result.exit_code == 2, args
        # Usage errors are drawn in a box that wraps long lines (long tmp paths).
        assert message in " ".join(result.stderr.replace("│", " ").split()), args
    sdk.client.channels.create.assert_not_called()


def test_delete(sdk: FakeSDK, yard: Yard) -> None:
    result = yard("channels", "delete", "ch_1", "--yes")
    declined = yard("channels", "delete", "ch_1", input="n\n")

    assert result.stdout == "Deleted channel ch_1.\n"
    assert declined.exit_code == 1
    sdk.client.channels.delete.assert_called_once_with("ch_1")


def test_not_found_is_one_line(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.get_by_name.side_effect = api_error(
        404, "not_found", "Channel 'status' of agent 'agt_1' was not found."
    )

    result = yard("channels", "get", "agt_1", "status")

    assert result.exit_code == 1
    assert result.stderr == (
        "error: Channel 'status' of agent 'agt_1' was not found."
        " (code: not_found) [request id: req_42]\n"
    )


def test_update_retention_schema_and_privacy(sdk: FakeSDK, yard: Yard, tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text('{"type": "object"}')
    sdk.client.channels.update.return_value = channel(
        retention={"max_age_seconds": 86_400, "max_messages": None}
    )

    result = yard(
        "channels", "update", "ch_1", "--public", "--max-age", "1d", "--schema", str(schema),
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    sdk.client.channels.update.assert_called_once_with(
        "ch_1",
        is_private=False,
        retention=Retention(max_age_seconds=86_400, max_messages=None),
        json_schema={"type": "object"},
    )
    assert "│ Retention  1d " in result.stdout


def test_update_changes_only_what_is_given(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.update.return_value = channel()

    private = yard("channels", "update", "ch_1", "--private")
    cleared = yard("--json", "channels", "update", "ch_1", "--keep-forever", "--no-schema")

    assert private.exit_code == 0, private.stderr
    assert json.loads(cleared.stdout)["id"] == "ch_1"
    assert sdk.client.channels.update.call_args_list == [
        call("ch_1", is_private=True, retention=NOT_GIVEN, json_schema=NOT_GIVEN),
        call("ch_1", is_private=NOT_GIVEN, retention=None, json_schema=None),
    ]


def test_update_rejects_nothing_and_contradictions(
    sdk: FakeSDK, yard: Yard, tmp_path: Path
) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text("{}")
    cases = {
        (): "nothing to change",
        ("--keep-forever", "--max-messages", "5"): "not both",
        ("--no-schema", "--schema", str(schema)): "not both",
    }
    for args, message in cases.items():
        result = yard("channels", "update", "ch_1", *args)
        assert result.exit_code == 2, args
        assert message in " ".join(result.stderr.replace("│", " ").split()), args
    sdk.client.channels.update.assert_not_called()
