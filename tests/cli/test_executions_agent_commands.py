"""`yard agents command`: dispatch a machine command, optionally wait for its result."""

from __future__ import annotations

import json

from fleetyard import WaitTimeoutError
from tests.cli.conftest import Yard
from tests.cli.device_fakes import agent_command
from tests.cli.fakes import FakeSDK


def test_dispatch_shows_the_command(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.agents.dispatch_command.return_value = agent_command()

    result = yard("agents", "command", "agt_1", "ping", "--arg", "count=2", "-a", "host=a.b")

    assert result.exit_code == 0, result.stderr
    sdk.client.agents.dispatch_command.assert_called_once_with(
        "agt_1", "ping", {"count": 2, "host": "a.b"}, timeout_seconds=None
    )
    assert result.stdout == (
        "╭─ Command ping ─────────────────╮\n"
        "│ ID        cmd_1                │\n"
        "│ Agent     agt_1                │\n"
        "│ Name      ping                 │\n"
        '│ Args      {"count": 2}         │\n'
        "│ State     pending              │\n"
        "│ Result    -                    │\n"
        "│ Error     -                    │\n"
        "│ Created   2026-11-02 09:30:15Z │\n"
        "│ Finished  -                    │\n"
        "╰────────────────────────────────╯\n"
    )


def test_wait_for_the_result(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.agents.dispatch_command.return_value = agent_command()
    sdk.client.agents.wait_command.return_value = agent_command("completed", result={"pong": 1})

    result = yard("--json", "agents", "command", "agt_1", "ping", "--wait", "--timeout", "9")

    assert result.exit_code == 0
    assert json.loads(result.stdout)["result"] == {"pong": 1}
    sdk.client.agents.dispatch_command.assert_called_once_with(
        "agt_1", "ping", None, timeout_seconds=None
    )
    sdk.client.agents.wait_command.assert_called_once_with("agt_1", "cmd_1", timeout=9.0)


def test_a_failed_command_exits_1(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.agents.dispatch_command.return_value = agent_command()
    sdk.client.agents.wait_command.return_value = agent_command("failed", error="not allowed")

    result = yard("agents", "command", "agt_1", "reboot", "--wait")

    assert result.exit_code == 1
    assert result.stderr == "error: command cmd_1 failed: not allowed (code: command_failed)\n"


def test_a_wait_timeout(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.agents.dispatch_command.return_value = agent_command()
    sdk.client.agents.wait_command.side_effect = WaitTimeoutError("late")

    result = yard("agents", "command", "agt_1", "ping", "--wait", "--timeout", "2")

    assert result.exit_code == 1
    assert "did not finish within 2s" in result.stderr
    assert "(code: wait_timeout)" in result.stderr


def test_an_argument_needs_an_equals_sign(sdk: FakeSDK, yard: Yard) -> None:
    result = yard("agents", "command", "agt_1", "ping", "--arg", "count")

    assert result.exit_code == 2
    sdk.client.agents.dispatch_command.assert_not_called()
