"""Generic machine commands the server dispatches (``command.dispatch``): ping, reboot, shell.

Each runs only when ``[machine_commands]`` enables it (``ping`` is on by
default, ``reboot`` and ``shell`` are off); anything else is answered
``failed`` with error ``command_not_enabled: <name>``.

- ``ping`` → ``{"pong": true, "at": "<now>"}``;
- ``reboot`` → ``{"rebooting": true, "command": [...]}`` and runs
  ``reboot_command`` once that result is acknowledged by the server (or after
  a few seconds), so the result is not lost with the machine;
- ``shell`` → runs ``args["command"]`` (a string, through ``/bin/sh``) with
  ``args["timeout_seconds"]`` (capped by the config and the command's own
  timeout); result ``{"exit_code", "stdout", "stderr", "truncated"}``, each
  output cut to ``output_limit_bytes``. A timeout kills it and fails the
  command with error ``timeout``.

Example::

    runner = MachineCommands(config.machine_commands)
    outcome = await runner.run(command)     # Outcome(state="completed", result={...})
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import JsonValue

from fleetyard.agent.config import MachineCommandsConfig
from fleetyard.protocol.common import format_timestamp
from fleetyard.protocol.executions import AgentCommand

__all__ = ["MachineCommands", "Outcome"]


@dataclass(frozen=True)
class Outcome:
    """What a ``command.result`` reports; ``after`` is the argv to run once it is delivered."""

    state: str
    result: JsonValue = None
    error: str | None = None
    after: list[str] = field(default_factory=list)


class MachineCommands:
    """Runs machine commands as the config allows (see the module docstring)."""

    def __init__(self, config: MachineCommandsConfig) -> None:
        self.config = config

    def enabled(self, name: str) -> bool:
        return {
            "ping": self.config.ping,
            "reboot": self.config.reboot,
            "shell": self.config.shell,
        }.get(name, False)

    async def run(self, command: AgentCommand) -> Outcome:
        if not self.enabled(command.name):
            return Outcome("failed", error=f"command_not_enabled: {command.name}")
        if command.name == "ping":
            return Outcome("completed", {"pong": True, "at": format_timestamp(datetime.now(UTC))})
        if command.name == "reboot":
            argv = list(self.config.reboot_command)
            return Outcome("completed", {"rebooting": True, "command": list(argv)}, after=argv)
        return await self._shell(command)

    async def _shell(self, command: AgentCommand) -> Outcome:
        line = command.args.get("command")
        if not isinstance(line, str) or not line.strip():
            return Outcome("failed", error="invalid_arguments: args.command must be a string")
        timeout = self.config.shell_timeout_seconds
        # The command's own limit, when the server sends it along (an extra member).
        own = getattr(command, "timeout_seconds", None)
        if isinstance(own, int | float) and own > 0:
            timeout = min(timeout, float(own))
        asked = command.args.get("timeout_seconds")
        if isinstance(asked, int | float) and not isinstance(asked, bool) and asked > 0:
            timeout = min(timeout, float(asked))
        process = await asyncio.create_subprocess_shell(
            line,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            async with asyncio.timeout(timeout):
                stdout, stderr = await process.communicate()
        except TimeoutError:
            _kill_group(process)
            await process.wait()
            return Outcome("failed", error=f"timeout: the command ran over {timeout:g}s")
        except asyncio.CancelledError:
            _kill_group(process)
            raise
        limit = self.config.output_limit_bytes
        return Outcome(
            "completed",
            {
                "exit_code": process.returncode,
                "stdout": stdout[:limit].decode(errors="replace"),
                "stderr": stderr[:limit].decode(errors="replace"),
                "truncated": len(stdout) > limit or len(stderr) > limit,
            },
        )


def _kill_group(process: asyncio.subprocess.Process) -> None:
    # The whole session: a shell's children would otherwise keep the pipes open.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


async def run_after(argv: list[str]) -> None:
    """Start ``argv`` (the reboot command) and wait for it."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, start_new_session=True
    )
    await process.wait()
