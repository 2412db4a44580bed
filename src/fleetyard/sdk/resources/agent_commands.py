"""Machine commands of agents (``ping``, ``reboot``…): part of ``client.agents``.

The agents resource is one object for users; this module holds its command
calls, as :mod:`.publishing` does for channels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Unpack

from pydantic import JsonValue

from fleetyard.protocol.common import Page
from fleetyard.protocol.executions import AgentCommand, AgentCommandState
from fleetyard.sdk._operation import Operation, path_param
from fleetyard.sdk._pagination import AsyncPager, SyncPager
from fleetyard.sdk._types import ReadOptions, WriteOptions
from fleetyard.sdk.resources._base import AsyncAPIResource, SyncAPIResource
from fleetyard.sdk.resources._polling import (
    DEFAULT_POLL_INTERVAL,
    PollOptions,
    poll_until,
    read_options,
)
from fleetyard.sdk.resources._telemetry import agent_path

if TYPE_CHECKING:
    from fleetyard.sdk._base_client import BaseClient
    from fleetyard.sdk._flow import Flow
    from fleetyard.sdk._response import RawResponse

__all__ = ["AgentCommands", "AsyncAgentCommands"]

_COMMAND_FINISHED = frozenset({AgentCommandState.COMPLETED, AgentCommandState.FAILED})


def _command_path(agent_id: str, command_id: str) -> str:
    return f"{agent_path(agent_id)}/commands/{path_param(command_id, 'command_id')}"


def _dispatch(
    agent_id: str, name: str, args: Mapping[str, JsonValue] | None, timeout_seconds: float | None
) -> Operation[AgentCommand]:
    body: dict[str, Any] = {"name": name}
    if args is not None:
        body["args"] = dict(args)
    if timeout_seconds is not None:
        body["timeout_seconds"] = timeout_seconds
    return Operation("POST", f"{agent_path(agent_id)}/commands", AgentCommand, json=body)


def _commands_page(
    agent_id: str, cursor: str | None, limit: int | None
) -> Operation[Page[AgentCommand]]:
    params = {"cursor": cursor, "limit": limit}
    return Operation("GET", f"{agent_path(agent_id)}/commands", Page[AgentCommand], params=params)


def _wait_command(
    client: BaseClient,
    agent_id: str,
    command_id: str,
    timeout: float | None,
    poll_interval: float,
    options: ReadOptions,
) -> Flow[RawResponse[AgentCommand]]:
    return poll_until(
        client,
        Operation("GET", _command_path(agent_id, command_id), AgentCommand),
        done=lambda c: c.state in _COMMAND_FINISHED,
        fingerprint=lambda c: (c.state, c.updated_at),
        what=f"command {command_id}",
        timeout=timeout,
        poll_interval=poll_interval,
        on_progress=None,
        options=options,
    )


class AgentCommands(SyncAPIResource):
    """Machine commands of agents; reached as ``client.agents``.

    Example::

        command = client.agents.dispatch_command("agt_01…", "ping")
        print(client.agents.wait_command("agt_01…", command.id, timeout=30).result)
    """

    def dispatch_command(
        self,
        agent_id: str,
        name: str,
        args: Mapping[str, JsonValue] | None = None,
        *,
        timeout_seconds: float | None = None,
        **options: Unpack[WriteOptions],
    ) -> AgentCommand:
        """Send a machine command (``ping``, ``reboot``…) to an agent; it runs when the
        agent is connected. ``timeout_seconds`` bounds how long it may take (default 300).

        Example::

            command = client.agents.dispatch_command("agt_01…", "ping")
            done = client.agents.wait_command("agt_01…", command.id, timeout=30)
            print(done.state, done.result)
        """
        return self._send(_dispatch(agent_id, name, args, timeout_seconds), options)

    def get_command(
        self, agent_id: str, command_id: str, **options: Unpack[ReadOptions]
    ) -> AgentCommand:
        """One machine command of an agent, with its result once finished.

        Example::

            command = client.agents.get_command("agt_01…", "cmd_01…")
        """
        op = Operation("GET", _command_path(agent_id, command_id), AgentCommand)
        return self._send(op, options)

    def list_commands(
        self, agent_id: str, *, limit: int | None = None, **options: Unpack[ReadOptions]
    ) -> SyncPager[AgentCommand]:
        """An agent's machine commands, newest first.

        Example::

            for command in client.agents.list_commands("agt_01…"):
                print(command.id, command.name, command.state)
        """
        return SyncPager(
            lambda cursor: self.list_commands_page(agent_id, cursor, limit=limit, **options)
        )

    def list_commands_page(
        self,
        agent_id: str,
        cursor: str | None = None,
        *,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[AgentCommand]:
        """One page of an agent's machine commands.

        Example::

            page = client.agents.list_commands_page("agt_01…", limit=20)
        """
        return self._send(_commands_page(agent_id, cursor, limit), options)

    def wait_command(
        self,
        agent_id: str,
        command_id: str,
        *,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        **options: Unpack[PollOptions],
    ) -> AgentCommand:
        """Poll a machine command until it completed or failed;
        :class:`~fleetyard.WaitTimeoutError` after ``timeout`` seconds.

        Example::

            done = client.agents.wait_command("agt_01…", "cmd_01…", timeout=30)
        """
        flow = _wait_command(
            self._client, agent_id, command_id, timeout, poll_interval, read_options(options)
        )
        return self._run(flow)


class AsyncAgentCommands(AsyncAPIResource):
    """Machine commands of agents, for an :class:`~fleetyard.AsyncClient`.

    Example::

        command = await client.agents.dispatch_command("agt_01…", "ping")
    """

    async def dispatch_command(
        self,
        agent_id: str,
        name: str,
        args: Mapping[str, JsonValue] | None = None,
        *,
        timeout_seconds: float | None = None,
        **options: Unpack[WriteOptions],
    ) -> AgentCommand:
        """Send a machine command (``ping``, ``reboot``…) to an agent.

        Example::

            command = await client.agents.dispatch_command("agt_01…", "ping")
        """
        return await self._send(_dispatch(agent_id, name, args, timeout_seconds), options)

    async def get_command(
        self, agent_id: str, command_id: str, **options: Unpack[ReadOptions]
    ) -> AgentCommand:
        """One machine command of an agent, with its result once finished.

        Example::

            command = await client.agents.get_command("agt_01…", "cmd_01…")
        """
        op = Operation("GET", _command_path(agent_id, command_id), AgentCommand)
        return await self._send(op, options)

    def list_commands(
        self, agent_id: str, *, limit: int | None = None, **options: Unpack[ReadOptions]
    ) -> AsyncPager[AgentCommand]:
        """An agent's machine commands, newest first.

        Example::

            async for command in client.agents.list_commands("agt_01…"):
                print(command.id, command.state)
        """
        return AsyncPager(
            lambda cursor: self.list_commands_page(agent_id, cursor, limit=limit, **options)
        )

    async def list_commands_page(
        self,
        agent_id: str,
        cursor: str | None = None,
        *,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[AgentCommand]:
        """One page of an agent's machine commands.

        Example::

            page = await client.agents.list_commands_page("agt_01…", limit=20)
        """
        return await self._send(_commands_page(agent_id, cursor, limit), options)

    async def wait_command(
        self,
        agent_id: str,
        command_id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the twin of the sync signature
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        **options: Unpack[PollOptions],
    ) -> AgentCommand:
        """Poll a machine command until it completed or failed.

        Example::

            done = await client.agents.wait_command("agt_01…", "cmd_01…", timeout=30)
        """
        flow = _wait_command(
            self._client, agent_id, command_id, timeout, poll_interval, read_options(options)
        )
        return await self._run(flow)
