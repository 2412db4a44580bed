"""`yard keys`: the secret of a new key is shown once, with a warning, and nowhere else."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.cli.conftest import Yard
from tests.cli.fakes import T0, FakeSDK, api_key, created_key

WARNING = "warning: the secret is shown only this once; store it now, it cannot be read again\n"


def test_list_never_shows_secrets(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.account.api_keys.list.return_value = iter(
        [
            api_key(),
            api_key(id="key_2", name="old", revoked_at=T0, last_used_at=T0),
        ]
    )

    result = yard("keys", "list")

    assert result.stdout == (
        "ID     NAME  PREFIX        ENV   SCOPES       EXPIRES  LAST USED             STATUS\n"
        "key_1  ci    fy_live_abcd  live  site:*:read  -        -                     active\n"
        "key_2  old   fy_live_abcd  live  site:*:read  -        2026-11-02 09:30:15Z  revoked\n"
    )


def test_create_shows_the_secret_once_and_warns(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.account.api_keys.create.return_value = created_key()

    result = yard(
        "keys", "create", "ci", "--scope", "site:*:read", "-s", "app:*:deploy",
        "--test", "--expires-at", "2027-01-31",
    )  # fmt: skip

    assert result.exit_code == 0
    sdk.client.account.api_keys.create.assert_called_once_with(
        "ci",
        ["site:*:read", "app:*:deploy"],
        environment="test",
        expires_at=datetime(2027, 1, 31, tzinfo=UTC),
    )
    assert result.stdout.count("fy_live_SECRETSECRET") == 1
    assert result.stdout.endswith("Secret: fy_live_SECRETSECRET\n")
    assert result.stderr == WARNING


def test_create_json_carries_the_secret_and_nothing_else_on_stdout(
    sdk: FakeSDK, yard: Yard
) -> None:
    sdk.client.account.api_keys.create.return_value = created_key()

    result = yard("--json", "keys", "create", "ci", "-s", "site:*:read")

    document = json.loads(result.stdout)
    assert document["secret"] == "fy_live_SECRETSECRET"
    assert document["id"] == "key_1"
    assert result.stderr == WARNING
    assert sdk.client.account.api_keys.create.call_args.kwargs == {
        "environment": "live",
        "expires_at": None,
    }


def test_create_needs_a_scope(sdk: FakeSDK, yard: Yard) -> None:
    result = yard("keys", "create", "ci")

    assert result.exit_code == 2
    assert "Missing option '--scope'" in result.stderr
    sdk.client.account.api_keys.create.assert_not_called()


def test_bad_expiry_is_a_usage_error(sdk: FakeSDK, yard: Yard) -> None:
    result = yard("keys", "create", "ci", "-s", "site:*:read", "--expires-at", "soon")

    assert result.exit_code == 2
    assert "'soon' is not an ISO 8601 date or time" in result.stderr


def test_rotate_and_revoke(sdk: FakeSDK, yard: Yard) -> None:
    keys = sdk.client.account.api_keys
    keys.rotate.return_value = created_key(id="key_2")
    keys.revoke.return_value = api_key(revoked_at=T0)

    rotated = yard("keys", "rotate", "key_1", "--grace-seconds", "60")
    revoked = yard("keys", "revoke", "key_1", "--json")

    keys.rotate.assert_called_once_with("key_1", grace_seconds=60)
    assert "Secret: fy_live_SECRETSECRET" in rotated.stdout
    assert rotated.stderr == WARNING
    keys.revoke.assert_called_once_with("key_1")
    assert json.loads(revoked.stdout)["revoked_at"] == "2026-11-02T09:30:15.123Z"
    assert "secret" not in revoked.stdout


def test_negative_grace_is_a_usage_error(sdk: FakeSDK, yard: Yard) -> None:
    assert yard("keys", "rotate", "key_1", "--grace-seconds", "-1").exit_code == 2
