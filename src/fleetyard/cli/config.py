"""The profiles file as the CLI sees it, on top of the SDK's reader and writer.

The SDK owns the file format (``~/.config/fleetyard/config.toml``); this module
only answers the questions the commands ask (which profile, which URL, which
kind of credential) and writes credentials in the shape the SDK reads back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from fleetyard.cli.views import ProfileEntry
from fleetyard.protocol.common import format_timestamp
from fleetyard.protocol.identity import TokenResponse
from fleetyard.sdk import _config

DEFAULT_PROFILE = "default"
CREDENTIAL_KEYS = ("api_key", "access_token", "access_expires_at", "refresh_token")


def _profiles() -> dict[str, dict[str, str]]:
    profiles: Any = _config.load_config().get("profiles") or {}
    if not isinstance(profiles, Mapping):
        return {}
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
    """The profile a command works on: ``--profile`` > ``FLEETYARD_PROFILE`` > default."""
    return explicit or os.environ.get("FLEETYARD_PROFILE") or default_profile() or DEFAULT_PROFILE


def get_profile(name: str) -> dict[str, str] | None:
    return _profiles().get(name)


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
    if data.get("api_key"):
        return "api key"
    if data.get("refresh_token") or data.get("access_token"):
        return "login"
    return None


def _without_credentials(data: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in data.items() if k not in CREDENTIAL_KEYS}


def save_api_key(name: str, base_url: str | None, api_key: str) -> None:
    """Store an API key in profile ``name``, replacing any earlier credential."""
    data = _without_credentials(get_profile(name) or {})
    if base_url:
        data["base_url"] = base_url
    data["api_key"] = api_key
    _save(name, data)


def save_tokens(name: str, base_url: str | None, tokens: TokenResponse) -> None:
    """Store a login's tokens in profile ``name``, replacing any earlier credential."""
    data = _without_credentials(get_profile(name) or {})
    if base_url:
        data["base_url"] = base_url
    _save(name, {**data, **_token_fields(tokens)})


def update_tokens(name: str, tokens: TokenResponse) -> None:
    """Keep refreshed tokens, so the next run does not log in again."""
    data = get_profile(name)
    if data is None or data.get("api_key"):
        return
    # A refresh that does not rotate the refresh token leaves the stored one in place.
    _save(name, {**data, **_token_fields(tokens)})


def clear_credentials(name: str) -> None:
    """Forget the credentials of profile ``name`` but keep its URL."""
    _save(name, _without_credentials(get_profile(name) or {}))


def set_default(name: str) -> None:
    _config.set_default_profile(name)


def delete(name: str) -> None:
    _config.delete_profile(name)


def _token_fields(tokens: TokenResponse) -> dict[str, str]:
    fields = {
        "access_token": tokens.access_token,
        "access_expires_at": format_timestamp(tokens.expires_at),
    }
    if tokens.refresh_token:
        fields["refresh_token"] = tokens.refresh_token
    return fields


def _save(name: str, data: dict[str, str]) -> None:
    _config.save_profile(name, data)
    if default_profile() is None:
        # The first profile becomes the default, so `yard` works right after login.
        _config.set_default_profile(name)
