"""Settings precedence (arguments > environment > profile) and the profile file writer."""

from __future__ import annotations

import stat
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

import fleetyard
from fleetyard.sdk import (
    DEFAULT_BASE_URL,
    config_path,
    delete_profile,
    load_profile,
    resolve_settings,
    save_profile,
    set_default_profile,
)

from .fakes import FakeAPI, make_client, ok


def write_config(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


PROFILES = """
default_profile = "prod"

[profiles.prod]
base_url = "https://prod.example"
api_key = "fy_live_prod"

[profiles.staging]
base_url = "https://staging.example/"
access_token = "at_staging"
access_expires_at = "2026-11-24T20:00:00.000Z"
refresh_token = "rt_staging"
"""


def test_defaults_without_anything() -> None:
    settings = resolve_settings()
    assert settings.base_url == DEFAULT_BASE_URL == "http://127.0.0.1:8700"
    assert settings.profile is None
    assert settings.api_key is None


def test_config_path_follows_xdg(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert config_path() == isolated_env
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")
    assert config_path() == Path.home() / ".config" / "fleetyard" / "config.toml"
    assert config_path({}) == Path.home() / ".config" / "fleetyard" / "config.toml"


def test_default_profile_from_file(isolated_env: Path) -> None:
    write_config(isolated_env, PROFILES)
    settings = resolve_settings()
    assert settings.profile == "prod"
    assert settings.base_url == "https://prod.example"
    assert settings.api_key == "fy_live_prod"


def test_profile_named_default_is_used_without_default_profile(isolated_env: Path) -> None:
    write_config(isolated_env, '[profiles.default]\napi_key = "fy_test_d"\n')
    settings = resolve_settings()
    assert (settings.profile, settings.api_key, settings.base_url) == (
        "default",
        "fy_test_d",
        DEFAULT_BASE_URL,
    )


def test_env_beats_profile(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(isolated_env, PROFILES)
    monkeypatch.setenv("FLEETYARD_URL", "https://env.example")
    monkeypatch.setenv("FLEETYARD_API_KEY", "fy_live_env")
    settings = resolve_settings()
    assert settings.base_url == "https://env.example"
    assert settings.api_key == "fy_live_env"


def test_arguments_beat_env(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(isolated_env, PROFILES)
    monkeypatch.setenv("FLEETYARD_URL", "https://env.example")
    monkeypatch.setenv("FLEETYARD_API_KEY", "fy_live_env")
    settings = resolve_settings(api_key="fy_live_arg", base_url="https://arg.example/")
    assert settings.base_url == "https://arg.example"
    assert settings.api_key == "fy_live_arg"


def test_env_profile_selects_a_profile(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(isolated_env, PROFILES)
    monkeypatch.setenv("FLEETYARD_PROFILE", "staging")
    settings = resolve_settings()
    assert settings.profile == "staging"
    assert settings.base_url == "https://staging.example"
    assert settings.api_key is None
    assert settings.access_token == "at_staging"
    assert settings.refresh_token == "rt_staging"
    assert settings.access_expires_at == datetime(2026, 11, 24, 20, tzinfo=UTC)


def test_explicit_profile_is_taken_whole(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `yard --profile staging` must not be redirected by a stray FLEETYARD_URL/API_KEY.
    write_config(isolated_env, PROFILES)
    monkeypatch.setenv("FLEETYARD_URL", "https://env.example")
    monkeypatch.setenv("FLEETYARD_API_KEY", "fy_live_env")
    monkeypatch.setenv("FLEETYARD_PROFILE", "prod")
    settings = resolve_settings(profile="staging")
    assert settings.profile == "staging"
    assert settings.base_url == "https://staging.example"
    assert settings.access_token == "at_staging"
    assert settings.api_key is None


def test_profile_credentials_stay_with_their_server(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(isolated_env, PROFILES)
    other = resolve_settings(base_url="https://elsewhere.example")
    assert other.base_url == "https://elsewhere.example"
    assert other.api_key is None
    monkeypatch.setenv("FLEETYARD_URL", "https://elsewhere.example")
    assert resolve_settings().api_key is None
    same = resolve_settings(base_url="https://prod.example/")
    assert same.api_key == "fy_live_prod"
    # An explicitly chosen profile with an explicit URL: the caller asked for both.
    both = resolve_settings(profile="prod", base_url="https://tunnel.example")
    assert (both.base_url, both.api_key) == ("https://tunnel.example", "fy_live_prod")


def test_missing_profiles_are_errors(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(fleetyard.ConfigError, match="'nope'"):
        resolve_settings(profile="nope")
    monkeypatch.setenv("FLEETYARD_PROFILE", "ghost")
    with pytest.raises(fleetyard.ConfigError, match="'ghost'"):
        resolve_settings()
    monkeypatch.delenv("FLEETYARD_PROFILE")
    write_config(isolated_env, 'default_profile = "gone"\n')
    with pytest.raises(fleetyard.ConfigError, match="'gone'"):
        resolve_settings()


@pytest.mark.parametrize(
    "text",
    [
        "this is = = not toml",
        "profiles = 3",
        "[profiles.a]\napi_key = 5\n",
        '[profiles.a]\naccess_token = "t"\naccess_expires_at = "yesterday"\n',
        '[profiles.a]\naccess_token = "t"\naccess_expires_at = "2026-11-24T20:00:00"\n',
    ],
)
def test_bad_files_are_config_errors(isolated_env: Path, text: str) -> None:
    write_config(isolated_env, text)
    with pytest.raises(fleetyard.ConfigError):
        resolve_settings(profile="a") if "[profiles.a]" in text else resolve_settings()


def test_conflicting_explicit_credentials() -> None:
    with pytest.raises(ValueError, match="one kind"):
        resolve_settings(api_key="k", access_token="t")
    with pytest.raises(ValueError, match="together"):
        resolve_settings(client_id="cli_1")


def test_settings_repr_hides_secrets() -> None:
    settings = resolve_settings(api_key="fy_live_SECRET")
    assert "SECRET" not in repr(settings)
    assert "api_key" in repr(settings)


def test_client_uses_resolved_settings(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(isolated_env, PROFILES)
    api = FakeAPI().route("GET", "/v1/system/info", ok({}))
    monkeypatch.setenv("FLEETYARD_PROFILE", "prod")
    with make_client(api, []) as c:
        assert c.profile == "prod"
        assert c.base_url == "https://prod.example"
        c.http.get("/v1/system/info")
    assert str(api.last.url) == "https://prod.example/v1/system/info"
    assert api.last.headers["Authorization"] == "Bearer fy_live_prod"


def test_bad_base_url_is_a_config_error() -> None:
    with pytest.raises(fleetyard.ConfigError):
        fleetyard.Client(base_url="ftp://yard.example")
    with pytest.raises(fleetyard.ConfigError):
        fleetyard.Client(base_url="https://yard.example/?x=1")


# -- writing ---------------------------------------------------------------------


def test_save_profile_creates_a_private_file(isolated_env: Path) -> None:
    written = save_profile("default", {"base_url": "http://127.0.0.1:8700", "api_key": "k"})
    assert written == isolated_env
    assert stat.S_IMODE(isolated_env.stat().st_mode) == 0o600
    assert stat.S_IMODE(isolated_env.parent.stat().st_mode) == 0o700
    assert tomllib.loads(isolated_env.read_text()) == {
        "profiles": {"default": {"base_url": "http://127.0.0.1:8700", "api_key": "k"}}
    }
    assert list(isolated_env.parent.iterdir()) == [isolated_env]  # no temp file left


def test_awkward_strings_round_trip(isolated_env: Path) -> None:
    nasty = 'quote " backslash \\ newline \n tab \t bell \x07 del \x7f unicode é ✓ 🚀'
    save_profile('we.ird "name"', {"api_key": nasty, "key with space": "v"})
    data = tomllib.loads(isolated_env.read_text())
    assert data["profiles"]['we.ird "name"'] == {"api_key": nasty, "key with space": "v"}
    assert load_profile('we.ird "name"') == {"api_key": nasty, "key with space": "v"}


def test_save_replaces_or_merges(isolated_env: Path) -> None:
    write_config(isolated_env, PROFILES)
    save_profile("staging", {"access_token": "at_2", "refresh_token": None}, merge=True)
    staging = load_profile("staging")
    assert staging == {
        "base_url": "https://staging.example/",
        "access_token": "at_2",
        "access_expires_at": "2026-11-24T20:00:00.000Z",
    }
    save_profile("staging", {"api_key": "k2"})
    assert load_profile("staging") == {"api_key": "k2"}
    # Everything else is kept.
    data = tomllib.loads(isolated_env.read_text())
    assert data["default_profile"] == "prod"
    assert data["profiles"]["prod"]["api_key"] == "fy_live_prod"


def test_written_file_is_read_back_by_the_resolver(isolated_env: Path) -> None:
    save_profile(
        "me",
        {
            "base_url": "https://yard.example",
            "access_token": "at",
            "access_expires_at": "2026-11-24T20:00:00.000Z",
            "refresh_token": "rt",
        },
    )
    set_default_profile("me")
    settings = resolve_settings()
    assert settings.profile == "me"
    assert settings.access_expires_at == datetime(2026, 11, 24, 20, tzinfo=UTC)


def test_set_default_profile_needs_the_profile(isolated_env: Path) -> None:
    with pytest.raises(fleetyard.ConfigError):
        set_default_profile("missing")
    save_profile("a", {"api_key": "k"})
    set_default_profile("a")
    assert tomllib.loads(isolated_env.read_text())["default_profile"] == "a"


def test_delete_profile(isolated_env: Path) -> None:
    write_config(isolated_env, PROFILES)
    assert delete_profile("prod") is True
    assert delete_profile("prod") is False
    data = tomllib.loads(isolated_env.read_text())
    assert "default_profile" not in data
    assert list(data["profiles"]) == ["staging"]
    assert stat.S_IMODE(isolated_env.stat().st_mode) == 0o600


def test_other_value_types_survive_a_rewrite(isolated_env: Path) -> None:
    write_config(
        isolated_env,
        'colour = true\nretries = 3\n[profiles.a]\napi_key = "k"\ntags = ["x", "y"]\n'
        "when = 2026-11-24T20:00:00Z\n",
    )
    save_profile("b", {"api_key": "k2"})
    data = tomllib.loads(isolated_env.read_text())
    assert data["colour"] is True
    assert data["retries"] == 3
    assert data["profiles"]["a"]["tags"] == ["x", "y"]
    assert data["profiles"]["a"]["when"] == "2026-11-24T20:00:00.000Z"
