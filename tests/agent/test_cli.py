"""`yard agent run` refuses to start without what it needs (no server involved)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetyard.cli.main import app


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FLEETYARD_URL", "FLEETYARD_AGENT_TOKEN", "FLEETYARD_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_needs_a_token(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["agent", "run", "--url", "http://127.0.0.1:9", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "no agent token" in result.output


def test_needs_a_url(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["agent", "run", "--token", "t", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no server URL" in result.output


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('[server]\nurl = "http://x"\ntoken = "t"\n[local_api]\nport = "many"\n')
    result = CliRunner().invoke(app, ["agent", "run", "--config", str(config)])
    assert result.exit_code == 2
    assert "local_api.port" in result.output


def test_a_handler_that_does_not_load_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        '[server]\nurl = "http://127.0.0.1:9"\ntoken = "t"\n'
        '[[handlers]]\nfunction = "no_such_module_x:f"\n'
    )
    result = CliRunner().invoke(
        app, ["agent", "run", "--config", str(config), "--data-dir", str(tmp_path / "d")]
    )
    assert result.exit_code == 1
    assert "no_such_module_x" in result.output
