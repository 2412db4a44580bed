"""`yard login`, `logout`, `whoami` and `yard profiles`: credentials land in the profile file."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from fleetyard.sdk import _config
from tests.cli.conftest import Yard
from tests.cli.fakes import FakeSDK, api_error, principal, tokens

SECRETS = ("access-SECRET", "refresh-SECRET", "fy_live_KEY", "hunter2")


def read(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def test_login_with_api_key_checks_it_and_stores_it(
    sdk: FakeSDK, yard: Yard, config_file: Path
) -> None:
    sdk.client.account.whoami.return_value = principal(with_user=False)

    result = yard("login", "--api-key", "fy_live_KEY", "--base-url", "http://yard.test/")

    assert result.exit_code == 0, result.stderr
    assert sdk.options[0].api_key == "fy_live_KEY"
    assert sdk.options[0].base_url == "http://yard.test"
    assert read(config_file) == {
        "default_profile": "default",
        "profiles": {"default": {"base_url": "http://yard.test", "api_key": "fy_live_KEY"}},
    }
    assert result.stdout == (
        "Logged in to http://yard.test as API key key_1; saved in profile 'default'.\n"
    )
    assert_no_secrets(result.stdout, result.stderr)


def test_login_with_a_rejected_key_stores_nothing(
    sdk: FakeSDK, yard: Yard, config_file: Path
) -> None:
    sdk.client.account.whoami.side_effect = api_error(
        401, "unauthenticated", "The API key is not valid."
    )

    result = yard("login", "--api-key", "fy_live_KEY")

    assert result.exit_code == 1
    assert result.stderr == (
        "error: The API key is not valid. (code: unauthenticated) [request id: req_42]\n"
    )
    assert not config_file.exists()


def test_login_with_password_asks_for_totp_when_needed(
    sdk: FakeSDK, yard: Yard, config_file: Path
) -> None:
    login = sdk.client.auth.login
    login.side_effect = [api_error(401, "totp_required", "A TOTP code is needed."), tokens()]

    result = yard(
        "--profile", "prod", "login", "--base-url", "http://yard.test",
        "--json", input="ada@acme.test\nhunter2\n123456\n",
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    assert login.call_args_list[0].args == ("ada@acme.test", "hunter2")
    assert login.call_args_list[0].kwargs == {"totp": None}
    assert login.call_args_list[1].kwargs == {"totp": "123456"}
    # Prompts go to stderr; the runner echoes the typed input on stdout, before the document.
    assert json.loads(result.stdout[result.stdout.index("{") :]) == {
        "profile": "prod",
        "base_url": "http://yard.test",
        "as": "ada@acme.test",
    }
    assert result.stderr == "Email:Password:Two-factor code:"
    assert read(config_file)["profiles"]["prod"] == {
        "base_url": "http://yard.test",
        "access_token": "access-SECRET",
        "access_expires_at": "2026-11-02T09:30:15.123Z",
        "refresh_token": "refresh-SECRET",
    }
    assert_no_secrets(result.stdout, result.stderr)


def test_login_with_a_wrong_password_does_not_ask_for_totp(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.auth.login.side_effect = api_error(
        401, "invalid_credentials", "Wrong email or password."
    )

    result = yard("login", "--email", "ada@acme.test", "--password", "nope")

    assert result.exit_code == 1
    assert sdk.client.auth.login.call_count == 1
    assert result.stderr.endswith("(code: invalid_credentials) [request id: req_42]\n")


def test_login_replaces_an_earlier_credential(sdk: FakeSDK, yard: Yard, config_file: Path) -> None:
    _config.save_profile("default", {"base_url": "http://yard.test", "api_key": "fy_live_OLD"})
    sdk.client.auth.login.return_value = tokens()

    result = yard("login", "--email", "ada@acme.test", "--password", "hunter2")

    assert result.exit_code == 0, result.stderr
    profile = read(config_file)["profiles"]["default"]
    assert "api_key" not in profile
    assert profile["base_url"] == "http://yard.test"
    assert profile["refresh_token"] == "refresh-SECRET"


def test_refreshed_tokens_are_written_back(sdk: FakeSDK, yard: Yard, config_file: Path) -> None:
    _config.save_profile(
        "default",
        {"base_url": "http://yard.test", "access_token": "old", "refresh_token": "old-refresh"},
    )
    _config.set_default_profile("default")
    sdk.client.account.whoami.return_value = principal()

    assert yard("whoami").exit_code == 0
    on_tokens = sdk.options[0].on_tokens
    assert on_tokens is not None
    on_tokens(tokens(refresh=None))

    assert read(config_file)["profiles"]["default"] == {
        "base_url": "http://yard.test",
        "access_token": "access-SECRET",
        "refresh_token": "old-refresh",
        "access_expires_at": "2026-11-02T09:30:15.123Z",
    }


def test_an_explicit_api_key_does_not_write_tokens(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.account.whoami.return_value = principal()

    yard("--api-key", "fy_live_KEY", "whoami")

    assert sdk.options[0].api_key == "fy_live_KEY"
    assert sdk.options[0].on_tokens is None


def test_whoami(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.account.whoami.return_value = principal()

    result = yard("whoami")

    assert result.stdout == (
        "╭─ Signed in ─────────────────────────╮\n"
        "│ Kind          user                  │\n"
        "│ Organization  Acme (org_1)          │\n"
        "│ User          ada@acme.test (usr_1) │\n"
        "│ Role          admin                 │\n"
        "│ Scopes        *:*:admin             │\n"
        "╰─────────────────────────────────────╯\n"
    )


def test_logout_revokes_and_forgets_but_keeps_the_url(
    sdk: FakeSDK, yard: Yard, config_file: Path
) -> None:
    _config.save_profile(
        "prod",
        {"base_url": "http://yard.test", "access_token": "a", "refresh_token": "r"},
    )

    result = yard("logout", "--profile", "prod")

    assert result.exit_code == 0, result.stderr
    assert sdk.options[0].profile == "prod"
    sdk.client.auth.logout.assert_called_once_with()
    assert read(config_file)["profiles"]["prod"] == {"base_url": "http://yard.test"}
    assert result.stdout == "Logged out of profile 'prod'.\n"


def test_logout_forgets_even_when_the_server_refuses(
    sdk: FakeSDK, yard: Yard, config_file: Path
) -> None:
    _config.save_profile("default", {"base_url": "http://yard.test", "refresh_token": "r"})
    sdk.client.auth.logout.side_effect = api_error(
        401, "invalid_refresh_token", "The refresh token is not valid."
    )

    result = yard("logout", "--json")

    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"profile": "default", "revoked": False}
    assert result.stderr.startswith("warning: the server did not revoke the session:")
    assert read(config_file)["profiles"]["default"] == {"base_url": "http://yard.test"}


def test_logout_of_an_unknown_profile(sdk: FakeSDK, yard: Yard) -> None:
    result = yard("logout", "--profile", "nope")

    assert result.exit_code == 1
    assert result.stderr == "error: there is no profile 'nope' (code: profile_not_found)\n"


def test_profiles_list_and_use(yard: Yard, config_file: Path) -> None:
    _config.save_profile("prod", {"base_url": "https://yard.example", "api_key": "fy_live_KEY"})
    _config.save_profile("dev", {"base_url": "http://127.0.0.1:8700", "refresh_token": "r"})
    _config.set_default_profile("prod")

    listed = yard("profiles", "list")
    used = yard("profiles", "use", "dev")
    as_json = yard("profiles", "list", "--json")

    assert listed.stdout == (
        "DEFAULT  NAME  URL                    AUTH\n"
        "         dev   http://127.0.0.1:8700  login\n"
        "*        prod  https://yard.example   api key\n"
    )
    assert used.stdout == "Profile 'dev' is now the default.\n"
    assert read(config_file)["default_profile"] == "dev"
    assert json.loads(as_json.stdout) == [
        {"name": "dev", "default": True, "base_url": "http://127.0.0.1:8700", "auth": "login"},
        {"name": "prod", "default": False, "base_url": "https://yard.example", "auth": "api key"},
    ]
    assert_no_secrets(listed.stdout, as_json.stdout)


@pytest.mark.parametrize("verb", ["use", "delete"])
def test_profiles_unknown_name(yard: Yard, verb: str) -> None:
    result = yard("profiles", verb, "ghost")

    assert result.exit_code == 1
    assert result.stderr == "error: there is no profile 'ghost' (code: profile_not_found)\n"


def test_profiles_delete(yard: Yard, config_file: Path) -> None:
    _config.save_profile("old", {"base_url": "http://yard.test"})

    result = yard("profiles", "delete", "old")

    assert result.stdout == "Deleted profile 'old'.\n"
    assert "old" not in read(config_file).get("profiles", {})


def test_a_broken_config_file_is_a_one_line_error(
    sdk: FakeSDK, yard: Yard, config_file: Path
) -> None:
    config_file.parent.mkdir(parents=True)
    config_file.write_text("this is [not toml\n")

    result = yard("profiles", "list")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot read ")
    assert result.stderr.endswith("(code: config_error)\n")
