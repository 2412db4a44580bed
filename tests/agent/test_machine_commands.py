"""Machine commands: ping by default; reboot and shell only when the config enables them."""

from __future__ import annotations

from typing import Any

import pytest

from fleetyard.agent.config import MachineCommandsConfig
from fleetyard.agent.machine_commands import MachineCommands
from fleetyard.protocol.executions import AgentCommand

pytestmark = pytest.mark.anyio


def dispatched(name: str, args: dict[str, Any] | None = None) -> AgentCommand:
    return AgentCommand.model_validate(
        {
            "id": "cmd_1",
            "agent_id": "agt_1",
            "name": name,
            "args": args or {},
            "state": "sent",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }
    )


async def test_defaults_ping_only() -> None:
    machine = MachineCommands(MachineCommandsConfig())
    pong = await machine.run(dispatched("ping"))
    assert pong.state == "completed"
    assert isinstance(pong.result, dict)
    assert pong.result["pong"] is True
    for name in ("shell", "reboot", "format_disk"):
        refused = await machine.run(dispatched(name, {"command": "echo hi"}))
        assert (refused.state, refused.error) == ("failed", f"command_not_enabled: {name}")


async def test_ping_can_be_disabled() -> None:
    machine = MachineCommands(MachineCommandsConfig(ping=False))
    assert (await machine.run(dispatched("ping"))).error == "command_not_enabled: ping"


async def test_shell_runs_with_truncated_output() -> None:
    machine = MachineCommands(
        MachineCommandsConfig.model_validate({"shell": True, "output_limit_bytes": 5})
    )
    outcome = await machine.run(
        dispatched("shell", {"command": "echo hello world; echo oops >&2; exit 3"})
    )
    assert outcome.state == "completed"
    assert outcome.result == {
        "exit_code": 3,
        "stdout": "hello",
        "stderr": "oops\n",
        "truncated": True,
    }


async def test_shell_timeout_kills_and_fails() -> None:
    machine = MachineCommands(MachineCommandsConfig.model_validate({"shell": True}))
    outcome = await machine.run(
        dispatched("shell", {"command": "sleep 30", "timeout_seconds": 0.2})
    )
    assert outcome.state == "failed"
    assert outcome.error is not None
    assert outcome.error.startswith("timeout")


async def test_shell_needs_a_command_string() -> None:
    machine = MachineCommands(MachineCommandsConfig.model_validate({"shell": True}))
    outcome = await machine.run(dispatched("shell"))
    assert outcome.state == "failed"


async def test_reboot_answers_first_and_names_the_command_to_run_after() -> None:
    machine = MachineCommands(MachineCommandsConfig(reboot=True, reboot_command=["true"]))
    outcome = await machine.run(dispatched("reboot"))
    assert outcome.state == "completed"
    assert outcome.after == ["true"]
