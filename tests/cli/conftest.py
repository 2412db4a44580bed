"""CLI test fixtures: a fake SDK client behind `session.make_client`, an isolated config.

Commands get every client from ``fleetyard.cli.session.make_client``; the
``sdk`` fixture replaces it with a factory that records the options and hands
out one ``MagicMock`` standing in for ``fleetyard.Client``. Tests set return
values and side effects on it (``sdk.client.sites.list.return_value = [...]``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from unittest.mock import MagicMock

import pytest
from typer.testing import CliRunner, Result

from fleetyard.cli import session
from fleetyard.cli.main import app
from fleetyard.cli.session import ClientOptions
from tests.cli.fakes import FakeSDK

Yard = Callable[..., Result]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A private config file, and a terminal that looks the same everywhere.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("COLUMNS", "100")
    for name in (
        "FLEETYARD_URL",
        "FLEETYARD_API_KEY",
        "FLEETYARD_PROFILE",
        "FORCE_COLOR",
        "NO_COLOR",
        "TTY_COMPATIBLE",
        "TTY_INTERACTIVE",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return tmp_path / "config" / "fleetyard" / "config.toml"


@pytest.fixture
def sdk(monkeypatch: pytest.MonkeyPatch) -> FakeSDK:
    fake = FakeSDK()

    def make_client(options: ClientOptions) -> MagicMock:
        fake.options.append(options)
        return fake.client

    monkeypatch.setattr(session, "make_client", make_client)
    return fake


@pytest.fixture
def yard() -> Yard:
    """Run `yard ARGS...`; ``input`` feeds the prompts."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return run
