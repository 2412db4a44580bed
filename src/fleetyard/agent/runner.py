"""The agent's I/O loop: the WebSocket, the outbox, the local API and the executor, wired up.

All protocol decisions are made by :class:`~fleetyard.agent.session.AgentSession`;
this module only moves bytes and time:

- connect to ``/v1/agents/session`` with the agent's credential (through the
  SDK's :class:`~fleetyard.AsyncClient`: its base URL, headers, credentials);
- per connection a *reader* (frames → session → actions) and a *writer*
  (heartbeats, outbox rows while the window allows, woken whenever something
  is stored or acknowledged);
- on a lost connection wait with exponential backoff and jitter, then again;
  a credential the server refuses (401/403) ends the run;
- ``deploy.start``/``deploy.cancel`` go to the
  :class:`~fleetyard.agent.deployer.Deployer` (chunks fetched through the
  client with the agent's credential);
- :meth:`AgentRunner.stop` (SIGTERM, Ctrl-C): stop the local API, cancel
  running executions (deployments stop unreported and run again next time),
  wait up to ``flush_timeout_seconds`` for the outbox to
  drain when connected, close. What is left stays on disk for next time.

Example::

    runner = AgentRunner(load_config("agent.toml"), url="https://yard.example", token="fy_…")
    await runner.run()          # until runner.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from fleetyard._version import __version__
from fleetyard.agent.config import AgentConfig
from fleetyard.agent.deployer import ChunkSource, Deployer, ServerChunkSource
from fleetyard.agent.executor import Executor
from fleetyard.agent.handlers import Dispatcher
from fleetyard.agent.local_api import LocalAPI
from fleetyard.agent.machine_commands import MachineCommands, run_after
from fleetyard.agent.outbox import Outbox
from fleetyard.agent.session import (
    Acknowledged,
    Action,
    AgentSession,
    CancelDeployment,
    CancelExecution,
    Close,
    Log,
    Rejected,
    RunCommand,
    Send,
    StartDeployment,
    StartExecution,
    Welcomed,
)
from fleetyard.agent.simulator import Simulator
from fleetyard.protocol.agent_session import SESSION_PATH, Deployment
from fleetyard.protocol.common import format_timestamp
from fleetyard.protocol.devices import DeviceState
from fleetyard.protocol.executions import AgentCommand
from fleetyard.sdk import APIError, APIStatusError, AsyncClient, ReconnectPolicy
from fleetyard.sdk._flow import exclusive
from fleetyard.sdk._stream_base import lost_error, require_ws, upgrade_error, ws_errors

__all__ = ["AgentRunner", "EventCallback", "session_url"]

EventCallback = Callable[[str, dict[str, Any]], None]
"""``on_event(kind, data)``: ``started``, ``connected``, ``disconnected``, ``rejected``,
``log``, ``stopped`` (what the CLI prints)."""

COMMAND_KIND = "command"
REBOOT_WAIT_SECONDS = 10.0
MAX_FRAME_BYTES = 32 * 1024 * 1024


def session_url(base_url: str) -> str:
    """``https://yard.example`` → ``wss://yard.example/v1/agents/session``."""
    return "ws" + base_url.removeprefix("http") + SESSION_PATH


class _Closing(Exception):
    def __init__(self, reason: str, fatal: bool) -> None:
        super().__init__(reason)
        self.reason, self.fatal = reason, fatal


class AgentRunner:
    """One running agent; see the module docstring."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        url: str,
        token: str,
        on_event: EventCallback | None = None,
        client: AsyncClient | None = None,
    ) -> None:
        require_ws()
        self.config = config
        self._client = client or AsyncClient(token, base_url=url)
        self._on_event = on_event or (lambda kind, data: None)
        self.outbox = Outbox.open(config.data_dir)
        self.session = AgentSession(
            agent_version=__version__,
            commands=config.enabled_commands(),
            heartbeat_override=config.connection.heartbeat_seconds,
            max_in_flight=config.connection.max_in_flight_frames,
        )
        self.simulator: Simulator | None = None
        if config.simulator.setup is not None:
            self.simulator = Simulator.from_setup(
                config.simulator.setup,
                self._report_states,
                step_seconds=config.simulator.step_seconds,
                steps=config.simulator.steps,
            )
        self.dispatcher = Dispatcher(
            config.handlers,
            report=self._report_states,
            simulator=self.simulator,
            command_timeout_seconds=config.command_timeout_seconds,
        )
        self.executor = Executor(self.dispatcher, self._emit, self.outbox)
        self.machine = MachineCommands(config.machine_commands)
        self.deployer = Deployer(
            config.apps_dir(),
            self.outbox,
            self._chunk_source,
            health_timeout_seconds=config.deployments.health_timeout_seconds,
            download_concurrency=config.deployments.download_concurrency,
            on_stored=self._wake,
        )
        self.local_api: LocalAPI | None = None
        if config.local_api.enabled:
            self.local_api = LocalAPI(
                self.outbox,
                port=config.local_api.port,
                on_stored=self._wake,
                health=self._health,
                max_body_bytes=config.local_api.max_body_bytes,
            )
        self._policy = ReconnectPolicy(
            base_delay=config.connection.backoff_base_seconds,
            max_delay=config.connection.backoff_max_seconds,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_event = asyncio.Event()
        self._acked = asyncio.Event()
        self._stopping = asyncio.Event()
        self._ready = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- public -------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until :meth:`stop`; raises what cannot be retried (a refused credential)."""
        self._loop = asyncio.get_running_loop()
        try:
            self.executor.recover()
            self._recover_commands()
            for done in await asyncio.to_thread(self.deployer.recover):
                self._on_event("log", {"message": f"deployments: {done}"})
            if self.local_api is not None:
                await self.local_api.start()
            self._on_event("started", self.describe())
            self._ready.set()
            connect = asyncio.create_task(self._connect_loop())
            stopping = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({connect, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if connect.done() and not self._stopping.is_set():
                stopping.cancel()
                connect.result()  # raises the fatal error
                return
            await self._shutdown(connect)
        finally:
            if self.local_api is not None:
                await self.local_api.close()
            for task in list(self._tasks):
                task.cancel()
            await self._client.close()
            pending = self.outbox.count()
            self.outbox.close()
            self._on_event("stopped", {"outbox_pending": pending})

    def stop(self) -> None:
        """Ask the agent to stop (from a signal handler, or another thread)."""
        loop = self._loop
        if loop is None or _on_thread_of(loop):
            self._stopping.set()
        else:
            loop.call_soon_threadsafe(self._stopping.set)

    async def wait_ready(self) -> None:
        """Until the local API listens and the agent connects in the background."""
        await self._ready.wait()

    def describe(self) -> dict[str, Any]:
        return {
            "server_url": self._client.base_url,
            "agent_version": __version__,
            "data_dir": str(self.config.data_dir.expanduser()),
            "local_api": self.local_api.url if self.local_api is not None else None,
            "simulated_devices": len(self.simulator.devices) if self.simulator else 0,
            "machine_commands": self.config.enabled_commands(),
            "outbox_pending": self.outbox.count(),
        }

    # -- shutdown -----------------------------------------------------------------------

    async def _shutdown(self, connect: asyncio.Task[None]) -> None:
        if self.local_api is not None:
            await self.local_api.close()
        await self.executor.stop()
        await self.deployer.stop()
        deadline = time.monotonic() + self.config.connection.flush_timeout_seconds
        while self.session.ready and self.outbox.count() and time.monotonic() < deadline:
            self._acked.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._acked.wait(), deadline - time.monotonic())
        connect.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await connect

    # -- connections --------------------------------------------------------------------

    async def _connect_loop(self) -> None:
        attempt = 0
        while True:
            error: Exception | None = None
            try:
                try:
                    await self._connection()
                except BaseExceptionGroup as group:
                    # The WebSocket's task group wraps what broke inside it.
                    raise _first_error(group) from None
            except _Closing as exc:
                if exc.fatal:
                    raise
                error = exc
            except APIError as exc:
                if isinstance(exc, APIStatusError) and exc.status in (401, 403):
                    raise
                error = exc
            except ws_errors() as exc:
                error = upgrade_error(exc) or lost_error(exc)
                if isinstance(error, APIStatusError) and error.status in (401, 403):
                    raise error from None
            finally:
                was_ready = self.session.ready
                self.session.disconnected()
                if was_ready:
                    attempt = 0
            attempt += 1
            delay = self._policy.delay(attempt)
            self._on_event(
                "disconnected", {"reason": str(error or "closed"), "retry_in": round(delay, 2)}
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return

    async def _connection(self) -> None:
        client = self._client
        creds = client._credentials
        if creds.needs_renewal(client._now()):
            await client._drive(exclusive(client._renew(creds.access_token, force=False)))
        headers = dict(client.default_headers)
        if bearer := creds.bearer():
            headers["Authorization"] = f"Bearer {bearer}"
        params = {"agent_id": self.config.server.agent_id} if self.config.server.agent_id else None
        heartbeat = self.config.connection.heartbeat_seconds or 10.0
        async with client._http_client.websocket(
            session_url(client.base_url),
            headers=headers,
            params=params,
            max_message_size_bytes=MAX_FRAME_BYTES,
            keepalive_ping_interval_seconds=heartbeat,
            keepalive_ping_timeout_seconds=2 * heartbeat,
            timeout=client.timeout,
        ) as ws:
            await self._apply(ws, self.session.connected(time.monotonic()))
            reader = asyncio.create_task(self._reader(ws))
            writer = asyncio.create_task(self._writer(ws))
            try:
                done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
            finally:
                # Also when the connection's own task group cancelled us (the link broke).
                for task in (reader, writer):
                    task.cancel()
                await asyncio.gather(reader, writer, return_exceptions=True)

    async def _reader(self, ws: Any) -> None:
        from httpx2.websockets import WebSocketInvalidTypeReceived

        while True:
            try:
                text = await ws.receive_text()
            except WebSocketInvalidTypeReceived:
                continue
            await self._apply(ws, self.session.received(text, time.monotonic()))

    async def _writer(self, ws: Any) -> None:
        while True:
            self._wake_event.clear()
            await self._apply(ws, self.session.tick(time.monotonic()))
            capacity = self.session.capacity()
            if capacity:
                rows = await asyncio.to_thread(
                    self.outbox.pending, after=self.session.sent_through, limit=capacity
                )
                await self._apply(ws, self.session.offer(rows))
                if len(rows) == capacity and self.session.capacity():
                    continue
            wait = self.session.next_tick_in(time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_event.wait(), max(wait, 0.01))

    async def _apply(self, ws: Any, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                await ws.send_text(action.text)
            elif isinstance(action, Acknowledged | Rejected):
                await asyncio.to_thread(self.outbox.delete, action.row_ids)
                if isinstance(action, Rejected):
                    self._on_event(
                        "rejected",
                        {"rows": len(action.row_ids), "code": action.code, "detail": action.detail},
                    )
                self._acked.set()
                self._wake()
            elif isinstance(action, Welcomed):
                self._on_event(
                    "connected",
                    {"agent_id": action.welcome.agent_id, "site_id": action.welcome.site_id},
                )
                self._wake()
            elif isinstance(action, StartExecution):
                self.executor.start(action.order)
            elif isinstance(action, CancelExecution):
                self.executor.cancel(action.execution_id)
            elif isinstance(action, StartDeployment):
                self._start_deployment(action.deployment)
            elif isinstance(action, CancelDeployment):
                self.deployer.cancel(action.rollout_id)
            elif isinstance(action, RunCommand):
                self._spawn(self._machine_command(action.command))
            elif isinstance(action, Close):
                raise _Closing(action.reason, action.fatal)
            elif isinstance(action, Log):
                self._on_event("log", {"message": action.message})

    # -- work ---------------------------------------------------------------------------

    async def _machine_command(self, command: AgentCommand) -> None:
        if self.outbox.work_state(COMMAND_KIND, command.id) is not None:
            return  # a resend after a reconnect: it ran (or runs) already
        self.outbox.set_work(COMMAND_KIND, command.id, "running")
        outcome = await self.machine.run(command)
        frame = {
            "type": "command.result",
            "command_id": command.id,
            "state": outcome.state,
            "result": outcome.result,
            "error": outcome.error[:4000] if outcome.error else None,
        }
        row = self.outbox.add_frame(frame, work=(COMMAND_KIND, command.id, outcome.state))
        self._wake()
        if outcome.after:
            # Reboot only once the server has the result (or after a while): it would be
            # lost otherwise, and the command run again after the reboot.
            deadline = time.monotonic() + REBOOT_WAIT_SECONDS
            while self.outbox.contains(row) and time.monotonic() < deadline:
                self._acked.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._acked.wait(), deadline - time.monotonic())
            await run_after(outcome.after)

    def _start_deployment(self, deployment: Deployment) -> None:
        if self.config.deployments.enabled:
            self.deployer.start(deployment)
            return
        frame = {
            "type": "deploy.update",
            "rollout_id": deployment.rollout_id,
            "state": "failed",
            "error": "deployments_disabled: [deployments].enabled is off on this agent",
        }
        self._emit(frame, None)

    def _chunk_source(self, deployment: Deployment, hashes: Sequence[str]) -> ChunkSource:
        agent_id = self.session.agent_id or self.config.server.agent_id or ""
        return ServerChunkSource(
            self._client, agent_id=agent_id, rollout_id=deployment.rollout_id, hashes=hashes
        )

    def _recover_commands(self) -> None:
        for command_id in self.outbox.unfinished_work(COMMAND_KIND):
            frame = {
                "type": "command.result",
                "command_id": command_id,
                "state": "failed",
                "result": None,
                "error": "agent_restarted: the agent stopped while the command ran",
            }
            self.outbox.add_frame(frame, work=(COMMAND_KIND, command_id, "failed"))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- sinks --------------------------------------------------------------------------

    def _emit(self, frame: dict[str, Any], work: tuple[str, str, str] | None) -> None:
        self.outbox.add_frame(frame, work=work)
        self._wake()

    def _report_states(self, device_url: str, states: list[DeviceState]) -> None:
        frame = {
            "type": "device.states",
            "device_url": device_url,
            "states": [s.model_dump(mode="json") for s in states],
            "at": format_timestamp(datetime.now(UTC)),
        }
        self._emit(frame, None)

    def _wake(self) -> None:
        loop = self._loop
        if loop is None or _on_thread_of(loop):
            self._wake_event.set()
        else:
            loop.call_soon_threadsafe(self._wake_event.set)

    def _health(self) -> dict[str, Any]:
        return {
            "connected": self.session.ready,
            "agent_id": self.session.agent_id,
            "server_url": self._client.base_url,
        }


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error in a (nested) group that is not a cancellation."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first_error(exc)
        if not isinstance(exc, asyncio.CancelledError):
            return exc
    first: BaseException = group.exceptions[0]
    return first


def _on_thread_of(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:  # a worker thread (a sync handler reporting states)
        return False
