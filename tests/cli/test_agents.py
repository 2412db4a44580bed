"""`yard agents`: exact output for people and for --json, and the SDK calls behind it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fleetyard import NOT_GIVEN
from tests.cli.conftest import Yard
from tests.cli.fakes import FakeSDK, agent, api_error, created_key

AGENT_JSON = {
    "id": "agt_1",
    "org_id": "org_1",
    "site_id": "site_1",
    "name": "pump-7",
    "kind": "device",
    "labels": {"line": "3", "zone": "a"},
    "metadata": {},
    "online": True,
    "last_seen": "2026-11-02T09:30:15.123Z",
    "created_at": "2026-11-02T09:30:15.123Z",
    "updated_at": "2026-11-02T09:30:15.123Z",
}


def test_list_is_a_table(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.agents.list.return_value = iter(
        [agent(), agent(2, "gw-1", labels={}, online=False, last_seen=None, kind="gateway")]
    )

    result = yard("agents", "list")

    assert result.exit_code == 0
    assert result.stdout == (
        "ID     NAME    KIND     SITE    ONLINE  LAST SEEN             LABELS\n"
        "agt_1  pump-7  device   site_1  yes     2026-11-02 09:30:15Z  line=3 zone=a\n"
        "agt_2  gw-1    gateway  site_1  no      -                     -\n"
    )
    sdk.client.agents.list.assert_called_once_with(
        site_id=None, kind=None, labels=None, online=None
    )


def test_list_filters(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.agents.list.return_value = iter([])

    result = yard(
        "agents", "list", "--site", "site_1", "--kind", "gateway",
        "--label", "line=3", "-l", "zone=a=b", "--offline",
    )  # fmt: skip

    assert result.stdout == "No agents.\n"
    sdk.client.agents.list.assert_called_once_with(
        site_id="site_1", kind="gateway", labels={"line": "3", "zone": "a=b"}, online=False
    )


def test_list_json(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.agents.list.return_value = iter([agent()])

    result = yard("agents", "list", "--online", "--json")

    assert result.stdout == json.dumps([AGENT_JSON], indent=2) + "\n"
    assert sdk.client.agents.list.call_args.kwargs["online"] is True


def test_a_label_needs_an_equals_sign(sdk: FakeSDK, yard: Yard) -> None:
    result = yard("agents", "list", "--label", "line")

    assert result.exit_code == 2
    assert "'line' is not a label: write KEY=VALUE" in result.stderr
    sdk.client.agents.list.assert_not_called()


def test_get_is_a_panel(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.agents.get.return_value = agent(metadata={"fw": "1.2"})

    result = yard("agents", "get", "agt_1")

    sdk.client.agents.get.assert_called_once_with("agt_1")
    assert result.stdout == (
        "╭─ Agent pump-7 ─────────────────────╮\n"
        "│ ID            agt_1                │\n"
        "│ Name          pump-7               │\n"
        "│ Kind          device               │\n"
        "│ Site          site_1               │\n"
        "│ Online        yes                  │\n"
        "│ Last seen     2026-11-02 09:30:15Z │\n"
        "│ Labels        line=3 zone=a        │\n"
        '│ Metadata      {"fw": "1.2"}        │\n'
        "│ Organization  org_1                │\n"
        "│ Created       2026-11-02 09:30:15Z │\n"
        "│ Updated       2026-11-02 09:30:15Z │\n"
        "╰────────────────────────────────────╯\n"
    )


def test_create(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.agents.create.return_value = agent()

    result = yard(
        "agents", "create", "pump-7", "--site", "site_1", "--kind", "machine",
        "--label", "line=3", "--metadata", '{"fw": "1.2"}', "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    sdk.client.agents.create.assert_called_once_with(
        "site_1", "pump-7", kind="machine", labels={"line": "3"}, metadata={"fw": "1.2"}
    )
    assert json.loads(result.stdout) == AGENT_JSON


def test_create_needs_a_site(sdk: FakeSDK, yard: Yard) -> None:
    result = yard("agents", "create", "pump-7")

    assert result.exit_code == 2
    assert "Missing option '--site'" in result.stderr


def test_metadata_must_be_a_json_object(sdk: FakeSDK, yard: Yard) -> None:
    result = yard("agents", "create", "pump-7", "--site", "s", "--metadata", "[1]")

    assert result.exit_code == 2
    assert "give a JSON object" in result.stderr
    sdk.client.agents.create.assert_not_called()


def test_update_sends_only_what_is_given(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.agents.update.return_value = agent()

    renamed = yard("agents", "update", "agt_1", "--name", "pump-8", "--label", "line=4")
    cleared = yard("agents", "update", "agt_1", "--clear-labels", "--kind", "service")

    assert (renamed.exit_code, cleared.exit_code) == (0, 0)
    first, second = sdk.client.agents.update.call_args_list
    assert first.args == ("agt_1",)
    assert first.kwargs == {
        "name": "pump-8",
        "site_id": NOT_GIVEN,
        "kind": NOT_GIVEN,
        "labels": {"line": "4"},
        "metadata": NOT_GIVEN,
    }
    assert second.kwargs["labels"] == {}
    assert second.kwargs["kind"] == "service"
    assert second.kwargs["name"] is NOT_GIVEN


def test_update_without_changes_is_a_usage_error(sdk: FakeSDK, yard: Yard) -> None:
    result = yard("agents", "update", "agt_1")

    assert result.exit_code == 2
    assert "nothing to change" in result.stderr
    sdk.client.agents.update.assert_not_called()


def test_delete_asks_first(sdk: FakeSDK, yard: Yard) -> None:
    refused = yard("agents", "delete", "agt_1", input="n\n")
    sdk.client.agents.delete.assert_not_called()
    confirmed = yard("agents", "delete", "agt_1", input="y\n")
    forced = yard("agents", "delete", "agt_1", "--yes", "--json")

    assert refused.exit_code == 1
    assert confirmed.stdout.endswith("Deleted agent agt_1.\n")  # after the echoed answer
    assert confirmed.stderr.startswith("Delete agent agt_1 with its channels and messages? [y/N]")
    assert json.loads(forced.stdout) == {"id": "agt_1", "deleted": True}
    assert sdk.client.agents.delete.call_count == 2


def test_token_shows_the_secret_once(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.agents.token.return_value = created_key(name="pump-7", scopes=["agent:agt_1:write"])

    result = yard("agents", "token", "agt_1", "--name", "pump-7", "--expires-at", "2027-01-31")

    assert result.exit_code == 0
    sdk.client.agents.token.assert_called_once_with(
        "agt_1", name="pump-7", expires_at=datetime(2027, 1, 31, tzinfo=UTC)
    )
    assert "agent:agt_1:write" in result.stdout
    assert result.stdout.count("fy_live_SECRETSECRET") == 1
    assert result.stdout.endswith("Secret: fy_live_SECRETSECRET\n")
    assert result.stderr.startswith("warning: the secret is shown only this once")


def test_errors_are_one_line(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.agents.get.side_effect = api_error(404, "not_found", "Agent agt_9 was not found.")

    result = yard("agents", "get", "agt_9")

    assert result.exit_code == 1
    assert result.stderr == (
        "error: Agent agt_9 was not found. (code: not_found) [request id: req_42]\n"
    )
