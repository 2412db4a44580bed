from __future__ import annotations

from pathlib import Path

import pytest

from fleetyard.server.app import create_app
from fleetyard.server.settings import InsecureSettingsError, Settings, load_settings


def test_embedded_default_is_sqlite_under_the_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLEETYARD_DATABASE_URL", raising=False)
    settings = load_settings(data_dir=Path("some/where"))
    assert settings.resolved_database_url == "sqlite+aiosqlite:///some/where/fleetyard.db"
    assert settings.port == 8700


def test_environment_is_read_and_flags_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETYARD_PORT", "9000")
    monkeypatch.setenv("FLEETYARD_DEV", "1")
    assert load_settings().port == 9000
    assert load_settings().dev is True
    assert load_settings(port=9100).port == 9100


def test_refuses_default_secret_outside_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLEETYARD_SECRET_KEY", raising=False)
    monkeypatch.delenv("FLEETYARD_DEV", raising=False)
    with pytest.raises(InsecureSettingsError, match="FLEETYARD_SECRET_KEY"):
        create_app(Settings(dev=False))
    with pytest.raises(InsecureSettingsError):
        create_app(Settings(dev=False, secret_key="short"))
    create_app(Settings(dev=False, secret_key="x" * 40))
    create_app(Settings(dev=True))
