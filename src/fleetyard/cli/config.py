"""The profiles file as the CLI sees it, on top of the SDK's reader and writer.

The SDK owns the file (``fleetyard.sdk._config``: format, location, atomic
0600 writes, precedence rules); this module only answers the questions the
commands ask (which profile, which URL, which kind of credential) and writes
credentials in the shape the SDK reads back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from fleetyard.cli.views import ProfileEntry
from fleetyard.protocol.common import format_timestamp
from fleetyard.protocol.identity import TokenResponse
from fleetyard.sdk import _config
from fleetyard.sdk._exceptions import ConfigError

# Written with merge=True, a None value removes the key: a new credential
# replaces every earlier one instead of sitting next to it.
_NO_CREDENTIALS: dict[str, str | None] = dict.fromkeys(
    (
        "api_key",
        "access_token",
        "access_expires_at",
        "refresh_token",
        "client_id",
        "client_secret",
    )
)


def _profiles() -> dict[str, dict[str, str]]:
    profiles = _config.load_config().get("profiles") or {}
    return {
        str(name): {str(k): str(v) for k, v in data.items()}
        for name, data in profiles.items()
        if isinstance(data, Mapping)
    }


def default_profile() -> str | None:
    """The ``default_profile`` of the file, if it names one."""
    name = _config.load_config().get("default_profile")
    return str(name) if name else None


def resolve_profile_name(explicit: str | None) -> str:
    """The profile a command works on: ``--profile`` > ``FLEETYARD_PROFILE`` > the default."""
    return (
        explicit
        or os.environ.get(_config.ENV_PROFILE)
        or default_profile()
        or _config.DEFAULT_PROFILE
    )


def get_profile(name: str) -> dict[str, str] | None:
    return _profiles().get(name)


def server_url(base_url: str | None, profile: str | None) -> str:
    """The URL a client built from these options talks to (the SDK's own rules)."""
    try:
        return _config.resolve_settings(base_url=base_url, profile=profile).base_url
    except ConfigError:
        return base_url or _config.DEFAULT_BASE_URL


def login_url(base_url: str | None, explicit_profile: str | None, name: str) -> str:
    """Where `yard login` goes: ``--base-url`` > ``FLEETYARD_URL`` > the profile's URL.

    As in the SDK, the environment does not override a profile named explicitly.
    """
    from_env = None if explicit_profile else os.environ.get(_config.ENV_URL)
    stored = (get_profile(name) or {}).get("base_url")
    return (base_url or from_env or stored or _config.DEFAULT_BASE_URL).rstrip("/")


def profile_entries() -> list[ProfileEntry]:
    """Every profile, sorted by name, with how it authenticates but no secret."""
    default = default_profile()
    return [
        ProfileEntry(
            name=name,
            base_url=data.get("base_url"),
            auth=auth_kind(data),
            default=name == default,
        )
        for name, data in sorted(_profiles().items())
    ]


def auth_kind(data: Mapping[str, str]) -> str | None:
    """``api key``, ``client`` or ``login``: the kind of credential a profile holds."""
    if data.get("api_key"):
        return "api key"
    if data.get("client_id"):
        return "client"
    if data.get("refresh_token") or data.get("access_token"):
        return "login"
    return None


def save_api_key(name: str, base_url: str, api_key: str) -> None:
    """Store an API key in profile ``name``, replacing any earlier credential."""
    _save(name, {**_NO_CREDENTIALS, "base_url": base_url, "api_key": api_key})


def save_tokens(name: str, base_url: str, tokens: TokenResponse) -> None:
    """Store a login's tokens in profile ``name``, replacing any earlier credential."""
    _save(name, {**_NO_CREDENTIALS, "base_url": base_url, **_token_fields(tokens)})


def update_tokens(name: str, tokens: TokenResponse) -> None:
    """Keep refreshed tokens, so the next run does not have to log in again."""
    data = get_profile(name)
    if data is None or data.get("api_key"):
        return
    # Without a new refresh token in the answer, the stored one stays.
    _config.save_profile(name, _token_fields(tokens), merge=True)


def clear_credentials(name: str) -> None:
    """Forget the credentials of profile ``name`` but keep its URL."""
    _config.save_profile(name, _NO_CREDENTIALS, merge=True)


def set_default(name: str) -> None:
    _config.set_default_profile(name)


def delete(name: str) -> bool:
    return _config.delete_profile(name)


def _token_fields(tokens: TokenResponse) -> dict[str, str | None]:
    fields: dict[str, str | None] = {
        "access_token": tokens.access_token,
        "access_expires_at": format_timestamp(tokens.expires_at),
    }
    if tokens.refresh_token:
        fields["refresh_token"] = tokens.refresh_token
    return fields


def _save(name: str, data: dict[str, str | None]) -> None:
    _config.save_profile(name, data, merge=True)
    if default_profile() is None:
        # The first profile saved becomes the default, so `yard` works right after login.
        _config.set_default_profile(name)
