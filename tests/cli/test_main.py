"""The root of `yard`: global options, exit codes, `serve`, and what it imports."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from fleetyard._version import __version__
from tests.cli.conftest import Yard
from tests.cli.fakes import FakeSDK, api_error, connection_error, system_info


def test_version(yard: Yard) -> None:
    result = yard("--version")

    assert result.exit_code == 0
    assert result.stdout == f"yard {__version__}\n"


def test_global_options_reach_the_client(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.system.info.return_value = system_info()

    yard("--profile", "prod", "--base-url", "http://yard.test", "--api-key", "k", "system", "info")

    (options,) = sdk.options
    assert (options.profile, options.base_url, options.api_key) == (
        "prod",
        "http://yard.test",
        "k",
    )
    sdk.client.close.assert_called_once_with()


def test_system_info(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.system.info.return_value = system_info()

    result = yard("system", "info")

    assert result.stdout == (
        "╭─ Fleetyard server ──────╮\n"
        "│ Version      0.1.0      │\n"
        "│ API version  2026-11-01 │\n"
        "│ Database     sqlite     │\n"
        "│ Uptime       1d 2h      │\n"
        "│ Dev mode     on         │\n"
        "╰─────────────────────────╯\n"
    )


def test_unreachable_server_exits_3_and_names_the_url(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.system.info.side_effect = connection_error()

    result = yard("--base-url", "http://yard.test:9999", "system", "info")

    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr == (
        "error: cannot reach the server at http://yard.test:9999: "
        "[Errno 111] Connection refused (code: connection_error)\n"
    )


def test_unreachable_server_with_json(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.system.info.side_effect = connection_error()

    result = yard("--json", "system", "info")

    assert result.exit_code == 3
    assert json.loads(result.stderr) == {
        "error": {
            "code": "connection_error",
            "url": "http://127.0.0.1:8700",
            "detail": "cannot reach the server at http://127.0.0.1:8700: "
            "[Errno 111] Connection refused",
        }
    }


def test_error_without_a_problem_body(sdk: FakeSDK, yard: Yard) -> None:
    import httpx2

    from fleetyard.sdk._exceptions import error_from_response

    response = httpx2.Response(
        502,
        text="<html><title>502 Bad Gateway</title></html>",
        headers={"X-Request-Id": "req_7"},
        request=httpx2.Request("GET", "http://yard.test/v1/system/info"),
    )
    sdk.client.system.info.side_effect = error_from_response(response)

    result = yard("system", "info")

    assert result.exit_code == 1
    assert result.stderr == "error: 502 Bad Gateway (status: 502) [request id: req_7]\n"


def test_errors_never_leak_a_traceback(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.system.info.side_effect = api_error(500, "internal_error", "Something broke.")

    result = yard("system", "info")

    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1


def test_usage_error_exits_2(yard: Yard) -> None:
    result = yard("sites", "frobnicate")

    assert result.exit_code == 2
    assert result.stdout == ""


def test_serve_passes_its_options_to_the_runner(
    yard: Yard, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[dict[str, Any]] = []
    runner = types.ModuleType("fleetyard.server.runner")
    runner.serve = lambda **kw: calls.append(kw)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fleetyard.server.runner", runner)

    yard("serve", "--port", "9000", "--data-dir", str(tmp_path), "--dev")
    yard("serve")

    assert calls == [
        {"host": None, "port": 9000, "data_dir": tmp_path, "database_url": None, "dev": True},
        {"host": None, "port": None, "data_dir": None, "database_url": None, "dev": None},
    ]


def test_the_cli_does_not_import_the_server() -> None:
    code = (
        "import sys, fleetyard.cli.main\n"
        "bad = sorted(m for m in sys.modules if m.startswith('fleetyard.server'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
