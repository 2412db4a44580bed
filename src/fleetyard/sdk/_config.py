"""Where a client finds its server and credentials, and the profile file the CLI writes.

Precedence: explicit arguments > environment (``FLEETYARD_URL``,
``FLEETYARD_API_KEY``, ``FLEETYARD_PROFILE``) > the profile in
``$XDG_CONFIG_HOME/fleetyard/config.toml`` (``~/.config/fleetyard/config.toml``)::

    default_profile = "default"

    [profiles.default]
    base_url = "http://127.0.0.1:8700"
    api_key = "fy_live_..."
    # or, after `yard login`:
    access_token = "..."
    access_expires_at = "2026-11-24T20:00:00.000Z"
    refresh_token = "..."

Two rules keep credentials from going where they do not belong:

- a profile passed explicitly (``Client(profile=...)``, ``yard --profile``) is
  taken whole: the environment does not override its URL or key;
- a profile's credentials are only sent to that profile's own ``base_url``,
  unless the profile was passed explicitly.

Reading uses only :mod:`tomllib`. The writer below handles the simple shape
above (tables of strings) by hand, so the SDK needs no TOML library; it
rewrites the whole file (comments are not kept) atomically with mode 0600.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from fleetyard.protocol.common import format_timestamp
from fleetyard.sdk._exceptions import ConfigError

__all__ = [
    "DEFAULT_BASE_URL",
    "Settings",
    "config_path",
    "delete_profile",
    "dump_config",
    "load_config",
    "load_profile",
    "resolve_settings",
    "save_profile",
    "set_default_profile",
]

DEFAULT_BASE_URL = "http://127.0.0.1:8700"
DEFAULT_PROFILE = "default"
ENV_URL = "FLEETYARD_URL"
ENV_API_KEY = "FLEETYARD_API_KEY"
ENV_PROFILE = "FLEETYARD_PROFILE"


@dataclass(frozen=True, slots=True)
class Settings:
    """What a client ends up using, after arguments, environment and profile are merged.

    Example::

        settings = resolve_settings(profile="staging")
        print(settings.base_url, settings.profile)
    """

    base_url: str
    profile: str | None = None
    api_key: str | None = None
    access_token: str | None = None
    access_expires_at: datetime | None = None
    refresh_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    def __repr__(self) -> str:
        # Never print secrets, only which kind of credential is present.
        kinds = [
            name
            for name in ("api_key", "access_token", "refresh_token", "client_secret")
            if getattr(self, name)
        ]
        return (
            f"Settings(base_url={self.base_url!r}, profile={self.profile!r}, credentials={kinds})"
        )


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """The config file: ``$XDG_CONFIG_HOME/fleetyard/config.toml`` or ``~/.config/...``.

    Example::

        print(config_path())  # /home/me/.config/fleetyard/config.toml
    """
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CONFIG_HOME", "")
    # The XDG spec says relative values are invalid and must be ignored.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".config"
    return base / "fleetyard" / "config.toml"


def load_config(path: Path | None = None) -> dict[str, Any]:
    """The parsed config file, or ``{}`` when there is none.

    Example::

        names = sorted(load_config().get("profiles", {}))
    """
    path = config_path() if path is None else path
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict) or not all(isinstance(p, dict) for p in profiles.values()):
        raise ConfigError(f"{path}: [profiles] must hold one table per profile")
    return data


def load_profile(name: str, *, path: Path | None = None) -> dict[str, Any] | None:
    """One profile's table, or ``None`` when it does not exist.

    Example::

        token = (load_profile("default") or {}).get("refresh_token")
    """
    profile = load_config(path).get("profiles", {}).get(name)
    return dict(profile) if profile is not None else None


def resolve_settings(
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    profile: str | None = None,
    access_token: str | None = None,
    refresh_token: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    environ: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> Settings:
    """Merge arguments, environment and profile into :class:`Settings`.

    Raises :class:`ConfigError` when a profile is asked for (argument,
    ``FLEETYARD_PROFILE`` or ``default_profile``) but is not in the file, and
    :class:`ValueError` when two kinds of explicit credentials are given.

    Example::

        settings = resolve_settings(environ={"FLEETYARD_URL": "https://yard.example"})
        assert settings.base_url == "https://yard.example"
    """
    env = os.environ if environ is None else environ
    path = config_path(env) if path is None else path
    explicit_kinds = [
        kind
        for kind, given in (
            ("api_key", api_key),
            ("access_token/refresh_token", access_token or refresh_token),
            ("client_id/client_secret", client_id or client_secret),
        )
        if given
    ]
    if len(explicit_kinds) > 1:
        raise ValueError(f"pass only one kind of credentials, got {' and '.join(explicit_kinds)}")
    if bool(client_id) != bool(client_secret):
        raise ValueError("client_id and client_secret go together")

    use_env = profile is None
    profile_name, data = _pick_profile(profile, env.get(ENV_PROFILE) or None, path)
    profile_url = _str_field(data, "base_url", path) or DEFAULT_BASE_URL
    url = base_url or (env.get(ENV_URL) if use_env else None) or profile_url
    url = url.rstrip("/")

    if explicit_kinds:
        creds = Settings(
            base_url=url,
            api_key=api_key,
            access_token=access_token,
            refresh_token=refresh_token,
            client_id=client_id,
            client_secret=client_secret,
        )
    elif use_env and env.get(ENV_API_KEY):
        creds = Settings(base_url=url, api_key=env[ENV_API_KEY])
    elif data and (profile is not None or url == profile_url.rstrip("/")):
        creds = _profile_credentials(data, url, path)
    else:
        creds = Settings(base_url=url)
    return Settings(
        base_url=url,
        profile=profile_name,
        api_key=creds.api_key,
        access_token=creds.access_token,
        access_expires_at=creds.access_expires_at,
        refresh_token=creds.refresh_token,
        client_id=creds.client_id,
        client_secret=creds.client_secret,
    )


def _pick_profile(
    explicit: str | None, from_env: str | None, path: Path
) -> tuple[str | None, dict[str, Any]]:
    config = load_config(path)
    name = explicit or from_env or config.get("default_profile")
    required = name is not None
    if name is None:
        name = DEFAULT_PROFILE
    if not isinstance(name, str):
        raise ConfigError(f"{path}: default_profile must be a string")
    data = config.get("profiles", {}).get(name)
    if data is None:
        if required:
            raise ConfigError(f"profile {name!r} is not in {path}")
        return None, {}
    return name, data


def _profile_credentials(data: Mapping[str, Any], url: str, path: Path) -> Settings:
    api_key = _str_field(data, "api_key", path)
    if api_key:
        return Settings(base_url=url, api_key=api_key)
    client_id = _str_field(data, "client_id", path)
    client_secret = _str_field(data, "client_secret", path)
    if client_id and client_secret:
        return Settings(base_url=url, client_id=client_id, client_secret=client_secret)
    return Settings(
        base_url=url,
        access_token=_str_field(data, "access_token", path),
        access_expires_at=_time_field(data, "access_expires_at", path),
        refresh_token=_str_field(data, "refresh_token", path),
    )


def _str_field(data: Mapping[str, Any], key: str, path: Path) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {key} must be a string")
    return value


def _time_field(data: Mapping[str, Any], key: str, path: Path) -> datetime | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    try:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {key} is not an RFC 3339 timestamp") from exc
    if parsed.tzinfo is None:
        raise ConfigError(f"{path}: {key} needs a time zone (end it with Z)")
    return parsed


# -- writing ---------------------------------------------------------------


def save_profile(
    name: str,
    data: Mapping[str, str | None],
    *,
    merge: bool = False,
    path: Path | None = None,
) -> Path:
    """Write profile ``name``: replace its table with ``data``, or update it with ``merge=True``.

    With ``merge=True`` a ``None`` value removes that key. Other profiles and
    ``default_profile`` are kept. Returns the file written.

    Example::

        save_profile("default", {"base_url": url, "access_token": t.access_token,
                                 "access_expires_at": format_timestamp(t.expires_at),
                                 "refresh_token": t.refresh_token, "api_key": None}, merge=True)
    """
    path = config_path() if path is None else path
    config = load_config(path)
    profiles: dict[str, Any] = config.setdefault("profiles", {})
    table: dict[str, Any] = dict(profiles.get(name, {})) if merge else {}
    for key, value in data.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    profiles[name] = table
    _write(path, config)
    return path


def delete_profile(name: str, *, path: Path | None = None) -> bool:
    """Remove profile ``name``; ``False`` when it did not exist.

    If it was the default, ``default_profile`` is removed too.

    Example::

        if delete_profile("old"):
            print("removed")
    """
    path = config_path() if path is None else path
    config = load_config(path)
    profiles: dict[str, Any] = config.get("profiles", {})
    if name not in profiles:
        return False
    del profiles[name]
    if config.get("default_profile") == name:
        del config["default_profile"]
    _write(path, config)
    return True


def set_default_profile(name: str, *, path: Path | None = None) -> None:
    """Make ``name`` the profile used when none is chosen (``yard profiles use``).

    Example::

        set_default_profile("staging")
    """
    path = config_path() if path is None else path
    config = load_config(path)
    if name not in config.get("profiles", {}):
        raise ConfigError(f"profile {name!r} is not in {path}")
    config["default_profile"] = name
    _write(path, config)


def _write(path: Path, config: Mapping[str, Any]) -> None:
    text = "# Written by fleetyard; comments are not kept.\n" + dump_config(config)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # A temporary file (created 0600) renamed over the old one: readers never
    # see half a file, and tokens are never readable by others, even briefly.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def dump_config(config: Mapping[str, Any]) -> str:
    """TOML for a config: top-level values, then one ``[table]`` per nested mapping.

    >>> print(dump_config({"default_profile": "a", "profiles": {"a": {"api_key": 'x"y'}}}), end="")
    default_profile = "a"
    <BLANKLINE>
    [profiles.a]
    api_key = "x\\"y"
    """
    lines: list[str] = []
    _dump_table(config, (), lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _dump_table(table: Mapping[str, Any], prefix: tuple[str, ...], lines: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping)}
    tables = {k: v for k, v in table.items() if isinstance(v, Mapping)}
    if prefix and (scalars or not tables):
        lines.extend(["", "[" + ".".join(_key(p) for p in prefix) + "]"])
    for key, value in scalars.items():
        lines.append(f"{_key(key)} = {_value(value, key)}")
    for key, sub in tables.items():
        _dump_table(sub, (*prefix, key), lines)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _value(value: object, key: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, datetime):
        # Written as the RFC 3339 string the rest of the file uses.
        return _string(format_timestamp(value))
    if isinstance(value, date | time):
        return _string(value.isoformat())
    if isinstance(value, list):
        return "[" + ", ".join(_value(v, key) for v in value) + "]"
    raise ConfigError(f"cannot write {key} = {value!r} to the config file")


def _string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
