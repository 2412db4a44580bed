"""`yard sites` and `yard sites members`: exact output for people and for --json."""

from __future__ import annotations

import json
from unittest.mock import call

from fleetyard import NOT_GIVEN
from tests.cli.conftest import Yard
from tests.cli.fakes import FakeSDK, api_error, member, site

SITE_JSON = {
    "id": "site_1",
    "org_id": "org_1",
    "name": "Berlin",
    "description": "Main depot",
    "created_at": "2026-11-02T09:30:15.123Z",
    "updated_at": "2026-11-02T09:30:15.123Z",
}


def test_list_is_a_table(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.sites.list.return_value = iter([site(), site(2, "Lyon", None)])

    result = yard("sites", "list")

    assert result.exit_code == 0
    assert result.stdout == (
        "ID      NAME    DESCRIPTION  CREATED\n"
        "site_1  Berlin  Main depot   2026-11-02 09:30:15Z\n"
        "site_2  Lyon    -            2026-11-02 09:30:15Z\n"
    )
    assert result.stderr == ""


def test_empty_list_says_so(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.sites.list.return_value = iter([])

    assert yard("sites", "list").stdout == "No sites.\n"


def test_list_json_is_one_array_whether_the_flag_is_global_or_local(
    sdk: FakeSDK, yard: Yard
) -> None:
    for args in (("--json", "sites", "list"), ("sites", "list", "--json")):
        sdk.client.sites.list.return_value = iter([site()])

        result = yard(*args)

        assert result.exit_code == 0
        assert json.loads(result.stdout) == [SITE_JSON]
        assert result.stdout == json.dumps([SITE_JSON], indent=2) + "\n"
        assert result.stderr == ""


def test_get_is_a_panel(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.sites.get.return_value = site()

    result = yard("sites", "get", "site_1")

    sdk.client.sites.get.assert_called_once_with("site_1")
    assert result.stdout == (
        "╭─ Site Berlin ──────────────────────╮\n"
        "│ ID            site_1               │\n"
        "│ Name          Berlin               │\n"
        "│ Description   Main depot           │\n"
        "│ Organization  org_1                │\n"
        "│ Created       2026-11-02 09:30:15Z │\n"
        "│ Updated       2026-11-02 09:30:15Z │\n"
        "╰────────────────────────────────────╯\n"
    )


def test_markup_in_data_is_shown_as_is(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.sites.list.return_value = iter([site(name="[bold]Hall[/bold] :id:")])

    assert "[bold]Hall[/bold] :id:" in yard("sites", "list").stdout


def test_api_error_is_one_line_on_stderr_with_exit_code_1(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.sites.get.side_effect = api_error(404, "not_found", "Site site_9 does not exist.")

    result = yard("sites", "get", "site_9")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "error: Site site_9 does not exist. (code: not_found) [request id: req_42]\n"
    )


def test_api_error_with_json_is_the_problem_on_stderr(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.sites.get.side_effect = api_error(404, "not_found", "Site site_9 does not exist.")

    result = yard("sites", "get", "site_9", "--json")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert json.loads(result.stderr) == {
        "error": {
            "type": "https://fleetyard.dev/problems/not_found",
            "title": "not found",
            "status": 404,
            "code": "not_found",
            "detail": "Site site_9 does not exist.",
            "request_id": "req_42",
        }
    }
    assert result.stderr.count("\n") == 1


def test_validation_error_names_the_fields(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.sites.create.side_effect = api_error(
        422,
        "validation_failed",
        "The request is not valid.",
        errors=[{"loc": ["body", "name"], "message": "too long", "type": "string_too_long"}],
    )

    result = yard("sites", "create", "x" * 300)

    assert result.exit_code == 1
    assert result.stderr == (
        "error: The request is not valid: body.name: too long"
        " (code: validation_failed) [request id: req_42]\n"
    )


def test_create_passes_the_description(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.sites.create.return_value = site()

    result = yard("sites", "create", "Berlin", "--description", "Main depot", "--json")

    sdk.client.sites.create.assert_called_once_with("Berlin", description="Main depot")
    assert json.loads(result.stdout) == SITE_JSON


def test_update_sends_only_what_is_given(sdk: FakeSDK, yard: Yard) -> None:
    update = sdk.client.sites.update
    update.return_value = site(name="Hall 2")

    renamed = yard("sites", "update", "site_1", "--name", "Hall 2")
    cleared = yard("sites", "update", "site_1", "--description", "")

    assert (renamed.exit_code, cleared.exit_code) == (0, 0)
    assert update.call_args_list == [
        call("site_1", name="Hall 2", description=NOT_GIVEN),
        call("site_1", name=NOT_GIVEN, description=None),
    ]


def test_update_without_changes_is_a_usage_error(sdk: FakeSDK, yard: Yard) -> None:
    result = yard("sites", "update", "site_1")

    assert result.exit_code == 2
    assert "nothing to change" in result.stderr
    sdk.client.sites.update.assert_not_called()


def test_members_list_add_remove(sdk: FakeSDK, yard: Yard) -> None:
    members = sdk.client.members.return_value
    members.list.return_value = iter([member()])
    members.add.return_value = member(role="manager")

    listed = yard("sites", "members", "list", "site_1")
    added = yard("sites", "members", "add", "site_1", "usr_1", "--role", "manager", "--json")
    removed = yard("sites", "members", "remove", "site_1", "usr_1")

    assert listed.stdout == (
        "USER   EMAIL          ROLE      ADDED\n"
        "usr_1  ada@acme.test  operator  2026-11-02 09:30:15Z\n"
    )
    members.add.assert_called_once_with("usr_1", role="manager")
    assert json.loads(added.stdout)["role"] == "manager"
    members.remove.assert_called_once_with("usr_1")
    assert removed.stdout == "Removed usr_1 from site_1.\n"
    assert all(call.args == ("site_1",) for call in sdk.client.members.call_args_list)


def test_bad_role_is_a_usage_error(sdk: FakeSDK, yard: Yard) -> None:
    result = yard("sites", "members", "add", "site_1", "usr_1", "--role", "king")

    assert result.exit_code == 2
    sdk.client.members.assert_not_called()
