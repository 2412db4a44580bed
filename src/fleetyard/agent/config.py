"""``agent.toml``: what one agent connects to, runs and keeps. Every key is documented here
and in ``docs/agent.md``.

Example::

    [server]
    url = "https://yard.example"
    token_file = "/etc/fleetyard/agent.token"   # or token = "fy_…"

    data_dir = "/var/lib/fleetyard-agent"

    [local_api]
    port = 8765

    [[handlers]]
    command = "setClosure"
    device = "io://*"
    function = "my_blinds:set_closure"

    [machine_commands]
    shell = true

Load it with :func:`load_config`; unknown keys are an error (a typo must not
silently switch a feature off).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "DEFAULT_DATA_DIR",
    "AgentConfig",
    "ConfigProblem",
    "ConnectionConfig",
    "DeploymentsConfig",
    "HandlerConfig",
    "LocalAPIConfig",
    "MachineCommandsConfig",
    "ServerConfig",
    "SimulatorConfig",
    "load_config",
]

DEFAULT_DATA_DIR = Path("~/.local/share/fleetyard-agent")
URL_ENV = "FLEETYARD_URL"
TOKEN_ENV = "FLEETYARD_AGENT_TOKEN"  # noqa: S105 - a variable name, not a secret


class ConfigProblem(ValueError):
    """An ``agent.toml`` that cannot be used; the message names the file and the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(_Section):
    """``[server]``: where the agent connects and with which credential."""

    url: str | None = None
    """Server URL (``https://yard.example``). Else ``FLEETYARD_URL``."""
    token: str | None = None
    """The agent's own token (``yard agents token AGENT``). Else ``token_file``, else
    ``FLEETYARD_AGENT_TOKEN``."""
    token_file: Path | None = None
    """A file holding the token (keep it ``0600``; the config may then be shared)."""
    agent_id: str | None = None
    """Only with a broader credential (an admin key): which agent this is."""

    def resolved_token(self) -> str | None:
        if self.token:
            return self.token
        if self.token_file is not None:
            return self.token_file.expanduser().read_text().strip() or None
        return None


class ConnectionConfig(_Section):
    """``[connection]``: reconnect timing. Waits double from ``backoff_base_seconds`` up to
    ``backoff_max_seconds``, each drawn at random from its upper half (jitter)."""

    backoff_base_seconds: float = Field(default=0.5, gt=0)
    backoff_max_seconds: float = Field(default=30.0, gt=0)
    heartbeat_seconds: float | None = Field(default=None, gt=0)
    """Override the server's heartbeat interval (normally taken from ``welcome``)."""
    flush_timeout_seconds: float = Field(default=5.0, ge=0)
    """On stop, how long to wait for the outbox to drain while connected."""
    max_in_flight_frames: int = Field(default=8, ge=1, le=1000)
    """Unacknowledged frames at once (each publish frame carries up to 1,000 messages)."""


class LocalAPIConfig(_Section):
    """``[local_api]``: HTTP for apps on this machine (always loopback only)."""

    enabled: bool = True
    port: int = Field(default=8765, ge=0, le=65535)
    """``0`` picks a free port (printed at start)."""
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)


class HandlerConfig(_Section):
    """``[[handlers]]``: which Python function runs which commands (first match wins)."""

    function: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
    """``module:function``; receives ``(device, command, parameters)``, sync or async."""
    command: str = "*"
    """Command name or ``fnmatch`` pattern (``set*``)."""
    device: str = "*"
    """Device URL ``fnmatch`` pattern (``io://1234-5678-3293/*``)."""
    controllable: str = "*"
    """Controllable name pattern (``io:*RollerShutter*``); known only for devices of the
    simulator setup (elsewhere only ``*`` matches)."""


class SimulatorConfig(_Section):
    """``[simulator]``: simulated devices from a gateway setup JSON (``--simulate``)."""

    setup: Path | None = None
    step_seconds: float = Field(default=0.5, ge=0)
    """Time between two steps of a move (a closure moves in ``steps`` steps)."""
    steps: int = Field(default=4, ge=1, le=100)


class MachineCommandsConfig(_Section):
    """``[machine_commands]``: generic commands the server may dispatch. Off unless enabled,
    except ``ping``."""

    ping: bool = True
    reboot: bool = False
    reboot_command: list[str] = Field(default_factory=lambda: ["systemctl", "reboot"])
    shell: bool = False
    """Runs any command line the server sends, as the agent's user. See the security note."""
    shell_timeout_seconds: float = Field(default=60.0, gt=0)
    output_limit_bytes: int = Field(default=64 * 1024, ge=0)
    """stdout and stderr are each cut to this many bytes."""


class DeploymentsConfig(_Section):
    """``[deployments]``: app versions the server rolls out to this machine."""

    enabled: bool = True
    """Off: every ``deploy.start`` is answered ``failed`` (``deployments_disabled``)."""
    apps_dir: Path | None = None
    """Where apps live (``<apps_dir>/<app_id>/current``…). Default ``<data_dir>/apps``."""
    health_timeout_seconds: float = Field(default=60.0, gt=0)
    """A health command running longer fails the deployment (and switches back)."""
    download_concurrency: int = Field(default=4, ge=1, le=64)
    """Chunks fetched at once."""


class AgentConfig(_Section):
    """A whole ``agent.toml``."""

    server: ServerConfig = Field(default_factory=ServerConfig)
    data_dir: Path = DEFAULT_DATA_DIR
    """The outbox (``outbox.sqlite3``) lives here."""
    connection: ConnectionConfig = Field(default_factory=ConnectionConfig)
    local_api: LocalAPIConfig = Field(default_factory=LocalAPIConfig)
    handlers: list[HandlerConfig] = Field(default_factory=list)
    command_timeout_seconds: float | None = Field(default=300.0, gt=0)
    """A device command running longer fails with ``timeout``."""
    simulator: SimulatorConfig = Field(default_factory=SimulatorConfig)
    machine_commands: MachineCommandsConfig = Field(default_factory=MachineCommandsConfig)
    deployments: DeploymentsConfig = Field(default_factory=DeploymentsConfig)

    def apps_dir(self) -> Path:
        """``[deployments].apps_dir``, else ``<data_dir>/apps``."""
        return (self.deployments.apps_dir or self.data_dir / "apps").expanduser()

    def server_url(self) -> str | None:
        """The configured URL, else ``FLEETYARD_URL``."""
        return self.server.url or os.environ.get(URL_ENV) or None

    def token(self) -> str | None:
        """``token``, else ``token_file``, else ``FLEETYARD_AGENT_TOKEN``."""
        return self.server.resolved_token() or os.environ.get(TOKEN_ENV) or None

    def enabled_commands(self) -> list[str]:
        """Machine commands announced in ``hello``."""
        mc = self.machine_commands
        enabled = (("ping", mc.ping), ("reboot", mc.reboot), ("shell", mc.shell))
        return [name for name, on in enabled if on]


def load_config(path: Path | str | None = None, **overrides: Any) -> AgentConfig:
    """Read ``agent.toml`` (or start from defaults with ``path=None``); relative paths in it
    are taken from the file's directory.

    >>> load_config(None, data_dir="/tmp/x").data_dir
    PosixPath('/tmp/x')
    """
    data: dict[str, Any] = {}
    base: Path | None = None
    if path is not None:
        file = Path(path).expanduser()
        try:
            data = tomllib.loads(file.read_text())
        except OSError as exc:
            raise ConfigProblem(f"cannot read {file}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigProblem(f"{file} is not valid TOML: {exc}") from None
        base = file.parent
    data.update({key: value for key, value in overrides.items() if value is not None})
    try:
        config = AgentConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigProblem(f"{path or 'config'}: {where}: {first['msg']}") from None
    if base is not None:
        config = _relative_to(config, base)
    return config


def _relative_to(config: AgentConfig, base: Path) -> AgentConfig:
    def fix(value: Path | None) -> Path | None:
        if value is None:
            return None
        value = value.expanduser()
        return value if value.is_absolute() else base / value

    config.data_dir = fix(config.data_dir) or config.data_dir
    config.server.token_file = fix(config.server.token_file)
    config.simulator.setup = fix(config.simulator.setup)
    config.deployments.apps_dir = fix(config.deployments.apps_dir)
    return config
