"""Fixtures for SDK unit tests: an isolated environment and a scripted fake API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import fleetyard

from .fakes import FakeAPI, make_client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No test sees the developer's FLEETYARD_* variables or ~/.config/fleetyard."""
    for name in ("FLEETYARD_URL", "FLEETYARD_API_KEY", "FLEETYARD_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    config_home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    return config_home / "fleetyard" / "config.toml"


@pytest.fixture
def api() -> FakeAPI:
    return FakeAPI()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(api: FakeAPI, sleeps: list[float]) -> Iterator[fleetyard.Client]:
    with make_client(api, sleeps, api_key="fy_test_key") as c:
        yield c
