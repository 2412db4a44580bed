"""`yard users`."""

from __future__ import annotations

import json

from tests.cli.conftest import Yard
from tests.cli.fakes import FakeSDK, user


def test_list_filters_by_site(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.users.list.return_value = iter([user(), user(2, "bob@acme.test", name=None)])

    result = yard("users", "list", "--site", "site_1")

    sdk.client.users.list.assert_called_once_with(site_id="site_1")
    assert result.stdout == (
        "ID     EMAIL          NAME  ROLE    SITES  2FA\n"
        "usr_1  ada@acme.test  Ada   member  1      off\n"
        "usr_2  bob@acme.test  -     member  1      off\n"
    )


def test_create(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.users.create.return_value = user(role="admin")

    result = yard(
        "users", "create", "ada@acme.test", "--name", "Ada", "--role", "admin",
        "--site", "site_1", "--site", "site_2", "--json",
    )  # fmt: skip

    sdk.client.users.create.assert_called_once_with(
        "ada@acme.test", name="Ada", password=None, role="admin", site_ids=("site_1", "site_2")
    )
    assert json.loads(result.stdout)["role"] == "admin"


def test_get_is_a_panel(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.users.get.return_value = user(site_ids=["site_1", "site_2"], totp_enabled=True)

    result = yard("users", "get", "usr_1")

    assert result.stdout == (
        "╭─ User ada@acme.test ───────────────╮\n"
        "│ ID            usr_1                │\n"
        "│ Email         ada@acme.test        │\n"
        "│ Name          Ada                  │\n"
        "│ Role          member               │\n"
        "│ Two-factor    on                   │\n"
        "│ Sites         site_1, site_2       │\n"
        "│ Organization  org_1                │\n"
        "│ Created       2026-11-02 09:30:15Z │\n"
        "╰────────────────────────────────────╯\n"
    )


def test_role_and_site_changes(sdk: FakeSDK, yard: Yard) -> None:
    users = sdk.client.users
    for method in (users.promote, users.demote, users.add_sites, users.remove_sites):
        method.return_value = user()

    results = [
        yard("users", "promote", "usr_1"),
        yard("users", "demote", "usr_1"),
        yard("users", "add-sites", "usr_1", "site_1", "site_2"),
        yard("users", "remove-sites", "usr_1", "site_2"),
    ]

    assert [r.exit_code for r in results] == [0, 0, 0, 0]
    users.promote.assert_called_once_with("usr_1")
    users.demote.assert_called_once_with("usr_1")
    users.add_sites.assert_called_once_with("usr_1", ["site_1", "site_2"])
    users.remove_sites.assert_called_once_with("usr_1", ["site_2"])


def test_add_sites_needs_a_site(sdk: FakeSDK, yard: Yard) -> None:
    assert yard("users", "add-sites", "usr_1").exit_code == 2


def test_delete_asks_first(sdk: FakeSDK, yard: Yard) -> None:
    declined = yard("users", "delete", "usr_1", input="n\n")

    assert declined.exit_code == 1
    sdk.client.users.delete.assert_not_called()
    assert declined.stderr.startswith("Delete user usr_1? [y/N]:")

    accepted = yard("users", "delete", "usr_1", input="y\n")

    assert accepted.exit_code == 0
    sdk.client.users.delete.assert_called_once_with("usr_1")
    assert accepted.stdout.endswith("Deleted user usr_1.\n")


def test_delete_yes_skips_the_question(sdk: FakeSDK, yard: Yard) -> None:
    result = yard("users", "delete", "usr_1", "--yes", "--json")

    assert result.stderr == ""
    assert json.loads(result.stdout) == {"id": "usr_1", "deleted": True}
