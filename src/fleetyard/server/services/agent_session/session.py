"""One agent's session: the server side of :mod:`fleetyard.protocol.agent_session`.

An :class:`AgentSession` is fed the agent's frames (:meth:`AgentSession.handle`)
and sends frames through an ``emit`` callback, so it knows nothing of
Starlette (the route in ``api/routes/agent_session.py`` is a thin loop).

- ``hello`` starts the session: the agent is marked online (``agent.online``
  and ``gateway.online`` when that flips), ``welcome`` is sent, then every
  unfinished execution (``execution.start``), command
  (``command.dispatch``) and started, unfinished deployment
  (``deploy.start``), then the control topic is forwarded.
- ``publish`` frames run concurrently (up to ``max_in_flight`` frames), each
  answered by ``ack`` once durable; their checks and channel lookups overlap,
  but the ingest writer takes them in arrival order (the aggregate is
  last-writer-wins, and ``seq`` follows the agent's order). Every other
  frame is applied in order, one at a time, and answered after its
  transaction commits.
- Any frame counts as a sign of life: ``last_seen`` is written at most once
  per ``touch_seconds``.
- :meth:`AgentSession.close` marks the agent offline, unless another session
  of the same agent is open in this process (a reconnect that overtook the
  old connection).

Refusals are ``error`` frames carrying the frame's ``ref`` and the problem
code; the session stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from fleetyard.protocol.agent_session import (
    Ack,
    AgentFrame,
    CommandDispatch,
    CommandResult,
    DeployUpdate,
    DeviceAvailability,
    DeviceStates,
    ExecutionStart,
    ExecutionUpdate,
    Heartbeat,
    Hello,
    Publish,
    ServerHeartbeat,
    SessionError,
    Welcome,
)
from fleetyard.protocol.errors import ErrorCode
from fleetyard.server.bus import DEFAULT_MAX_PENDING, Bus, BusClosed, BusEvent, Lagged
from fleetyard.server.services import agent_commands
from fleetyard.server.services.agent_session.publish import publish_frame
from fleetyard.server.services.agent_session.registry import SessionRegistry
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import now_ms, to_datetime, to_ms
from fleetyard.server.services.devices import devices
from fleetyard.server.services.errors import BadRequest, ServiceError, Unprocessable
from fleetyard.server.services.executions import lifecycle
from fleetyard.server.services.rollouts import engine as rollouts_engine
from fleetyard.server.services.rollouts import rollouts as rollouts_service
from fleetyard.server.services.telemetry.agents import set_presence
from fleetyard.server.services.telemetry.ingest import IngestWriter
from fleetyard.server.services.telemetry.presence import publish_presence
from fleetyard.server.services.telemetry.publishing import Turn
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories.telemetry.agents import AgentRecord

__all__ = ["AgentSession", "ClientTooSlow", "Emit", "error_frame"]

log = logging.getLogger(__name__)

Emit = Callable[[str], Awaitable[None]]
"""Sends one text frame (JSON) to the agent."""

DEFAULT_SEND_TIMEOUT = 30.0
DEFAULT_MAX_IN_FLIGHT = 256

_FRAME: TypeAdapter[AgentFrame] = TypeAdapter(AgentFrame)


class ClientTooSlow(Exception):
    """The agent took no frame for ``send_timeout`` seconds: close, it resumes on reconnect."""


def error_frame(error: ServiceError, ref: str | None = None) -> str:
    """The ``error`` frame for a refused frame: the problem's code, detail, status and extras.

    >>> from fleetyard.server.services.errors import NotFound
    >>> error_frame(NotFound("no such thing"), "r1")
    '{"type":"error","ref":"r1","code":"not_found","detail":"no such thing","status":404}'
    """
    extra: dict[str, Any] = dict(error.extra)
    retry_after = error.headers.get("Retry-After")
    if retry_after is not None:
        extra["retry_after"] = int(retry_after)
    frame = SessionError(
        ref=ref,
        code=str(error.code),
        detail=error.detail or error.title,
        status=error.status,
        **extra,
    )
    return frame.model_dump_json()


def invalid_frame(exc: ValidationError) -> ServiceError:
    """422 ``validation_failed`` for a frame that does not fit the protocol."""
    errors = [
        {"loc": [str(part) for part in e["loc"]], "message": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_context=False)
    ]
    detail = "; ".join(f"{'.'.join(e['loc'])}: {e['message']}" for e in errors[:5])
    return Unprocessable(detail or "The frame is not valid.", errors=errors)


def _ref_of(text: str | bytes) -> str | None:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    ref = data.get("ref") if isinstance(data, dict) else None
    return ref if isinstance(ref, str) else None


class AgentSession:
    """The session of one connected agent. See the module docstring.

    Example (what the WebSocket route does)::

        session = AgentSession(database=..., bus=..., writer=..., principal=principal,
                               agent=agent, emit=websocket.send_text, heartbeat_seconds=10,
                               execution_limit=10)
        pump = asyncio.create_task(session.pump())
        try:
            async for text in websocket.iter_text():
                await session.handle(text)
        finally:
            await session.close()
    """

    def __init__(
        self,
        *,
        database: Database,
        bus: Bus,
        writer: IngestWriter,
        principal: Principal,
        agent: AgentRecord,
        emit: Emit,
        heartbeat_seconds: float,
        execution_limit: int,
        touch_seconds: float | None = None,
        registry: SessionRegistry | None = None,
        check_storable: Callable[[str | bytes], None] | None = None,
        send_timeout: float = DEFAULT_SEND_TIMEOUT,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        self.database = database
        self.bus = bus
        self.writer = writer
        self.principal = principal
        self.agent = agent
        self.heartbeat_seconds = heartbeat_seconds
        self.execution_limit = execution_limit
        self.touch_seconds = heartbeat_seconds if touch_seconds is None else touch_seconds
        self.send_timeout = send_timeout
        self.registry = registry
        self.commands: list[str] = []
        """What the agent's ``hello`` said its configuration enables."""
        self.started = False
        self._emit = emit
        self._check_storable = check_storable
        # Subscribed now (raises BusClosed when the server stops): whatever is published
        # from here on is buffered until the pump runs, after the pending work was sent.
        self._control = bus.subscribe(
            [agent_commands.control_topic(agent.id)], max_pending=max_pending
        )
        self._ready = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._sending_since: float | None = None
        self._slots = asyncio.Semaphore(max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self._queued: asyncio.Future[None] | None = None  # the last publish frame's turn
        self._last_touch = float("-inf")
        self._closed = False
        # Ids sent from storage whose bus event may still be on its way (published after
        # the commit the catch-up read saw): forwarded once, not twice.
        self._caught_up: set[tuple[str, str]] = set()

    @property
    def agent_id(self) -> str:
        return self.agent.id

    @property
    def org_id(self) -> str:
        return self.agent.org_id

    # -- agent frames ------------------------------------------------------------------

    async def handle(self, text: str | bytes) -> None:
        """Act on one agent frame; refusals go back as ``error`` frames."""
        try:
            if self._check_storable is not None:
                self._check_storable(text)
            frame = _FRAME.validate_json(text)
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors()):
                error = BadRequest("The frame is not JSON.", code=ErrorCode.INVALID_JSON)
                await self.send_error(error, None)
            else:
                await self.send_error(invalid_frame(exc), _ref_of(text))
            return
        except ServiceError as exc:
            await self.send_error(exc, _ref_of(text))
            return
        if isinstance(frame, Hello):
            await self.start(frame)
            return
        ref = None if isinstance(frame, Heartbeat) else frame.ref
        if not self.started:
            await self.send_error(BadRequest("Send a hello frame first."), ref)
            return
        await self._touch()
        if isinstance(frame, Heartbeat):
            return
        if isinstance(frame, Publish):
            await self._slots.acquire()
            previous, queued = self._queued, asyncio.get_running_loop().create_future()
            self._queued = queued
            task = asyncio.create_task(self._publish(frame, previous, queued))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        try:
            await self._apply(frame)
        except ServiceError as exc:
            await self.send_error(exc, frame.ref)
            return
        except Exception:
            log.exception("agent session: %s frame failed", frame.type)
            await self.send_error(_internal(), frame.ref)
            return
        await self._send_model(Ack(ref=frame.ref))

    async def start(self, hello: Hello) -> None:
        """Mark the agent online, welcome it, send its pending work, then forward live work."""
        self.commands = list(hello.commands)
        if self.started:
            await self._send_model(self._welcome())  # a repeated hello: answer it, nothing more
            return
        await self._presence(online=True)
        self.started = True
        if self.registry is not None:
            self.registry.opened(self.agent_id)
        await self._send_model(self._welcome())
        await self._send_pending()
        self._ready.set()

    async def _apply(
        self,
        frame: ExecutionUpdate | DeviceStates | DeviceAvailability | CommandResult | DeployUpdate,
    ) -> None:
        if isinstance(frame, ExecutionUpdate):
            await lifecycle.record_agent_update(
                self.database,
                self.bus,
                org_id=self.org_id,
                agent_id=self.agent_id,
                update=frame,
                settings_limit=self.execution_limit,
            )
        elif isinstance(frame, DeviceStates):
            await devices.apply_states(
                self.database,
                self.bus,
                org_id=self.org_id,
                agent_id=self.agent_id,
                device_url=frame.device_url,
                states=frame.states,
                at_ms=None if frame.at is None else to_ms(frame.at),
            )
        elif isinstance(frame, DeviceAvailability):
            await devices.set_available(
                self.database,
                self.bus,
                org_id=self.org_id,
                agent_id=self.agent_id,
                device_url=frame.device_url,
                available=frame.available,
            )
        elif isinstance(frame, DeployUpdate):
            await rollouts_engine.record_update(
                self.database, self.bus, org_id=self.org_id, agent_id=self.agent_id, update=frame
            )
        else:
            await agent_commands.record_result(
                self.database, org_id=self.org_id, agent_id=self.agent_id, result=frame
            )

    async def _publish(
        self, frame: Publish, previous: asyncio.Future[None] | None, queued: asyncio.Future[None]
    ) -> None:
        async def turn() -> None:
            # Checks and channel lookups overlap; the writer gets the frames in the
            # agent's order. The previous frame has been queued (or refused) when
            # its future is done; this one is queued by the writer call that follows
            # at once, before this task next yields, so the next frame waits for it.
            if previous is not None:
                await previous
            queued.set_result(None)

        try:
            answer = await self._publish_answer(frame, turn)
        finally:
            if not queued.done():
                queued.set_result(None)
            self._slots.release()
        # The agent may have gone away meanwhile: the route's read loop notices that too.
        with contextlib.suppress(Exception):
            await self._send(answer)

    async def _publish_answer(self, frame: Publish, turn: Turn) -> str:
        try:
            results = await publish_frame(
                self.writer, self.principal, self.agent_id, frame, turn=turn
            )
        except ServiceError as exc:
            return error_frame(exc, frame.ref)
        except Exception:
            log.exception("agent session: publish failed")
            return error_frame(_internal(), frame.ref)
        return Ack(ref=frame.ref, results=results).model_dump_json()

    # -- server frames -----------------------------------------------------------------

    async def pump(self) -> None:
        """Forward the agent's control topic (after ``hello``) until the bus closes.

        After a lag (events dropped), everything pending is sent again from storage.
        """
        await self._ready.wait()
        while True:
            try:
                batch = await self._control.next_batch()
            except BusClosed:
                return
            if isinstance(batch, Lagged):
                self._control.resume()  # before reading storage: keep what comes meanwhile
                await self._send_pending()
                continue
            for _, event in batch:
                await self._forward(event)

    async def heartbeat(self) -> None:
        """Send a server ``heartbeat`` (lets the agent notice a dead link)."""
        await self._send_model(ServerHeartbeat(at=to_datetime(now_ms())))

    async def watch(self) -> None:
        """Raise :class:`ClientTooSlow` once a frame has been waiting ``send_timeout`` seconds."""
        while True:
            await asyncio.sleep(min(1.0, self.send_timeout / 4))
            since = self._sending_since
            if since is not None and time.monotonic() - since >= self.send_timeout:
                raise ClientTooSlow(f"the agent took no frame for {self.send_timeout} s")

    async def send_error(self, error: ServiceError, ref: str | None = None) -> None:
        await self._send(error_frame(error, ref))

    async def close(self) -> None:
        """Leave the bus, drop unanswered publishes, and mark the agent offline.

        Dropped publishes are stored anyway once queued; the agent resends
        them after reconnecting and they are acknowledged as duplicates.
        """
        if self._closed:
            return
        self._closed = True
        self._control.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if not self.started:
            return
        left = self.registry.closed(self.agent_id) if self.registry is not None else 0
        if left:
            return  # a newer session of this agent is open: it stays online
        try:
            await self._presence(online=False)
        except ServiceError:
            pass  # the agent was deleted meanwhile: nobody to mark offline
        except Exception:
            log.exception("agent session: marking %s offline failed", self.agent_id)

    # -- internals ---------------------------------------------------------------------

    def _welcome(self) -> Welcome:
        return Welcome(
            agent_id=self.agent_id,
            site_id=self.agent.site_id,
            heartbeat_seconds=self.heartbeat_seconds,
            server_time=to_datetime(now_ms()),
        )

    async def _send_pending(self) -> None:
        orders = await lifecycle.pending_orders(
            self.database, org_id=self.org_id, agent_id=self.agent_id
        )
        for order in orders:
            self._caught_up.add((_EXECUTION_START, order.id))
            await self._send_model(ExecutionStart(execution=order))
        commands = await agent_commands.unfinished_for_agent(
            self.database, org_id=self.org_id, agent_id=self.agent_id
        )
        for command in commands:
            self._caught_up.add((_COMMAND_DISPATCH, command.id))
            await self._send_model(CommandDispatch(command=command))
        await agent_commands.mark_sent(
            self.database,
            org_id=self.org_id,
            command_ids=[c.id for c in commands if c.state == "pending"],
        )
        deployments = await rollouts_service.pending_for_agent(
            self.database, org_id=self.org_id, agent_id=self.agent_id
        )
        for deployment in deployments:
            self._caught_up.add((_DEPLOY_START, deployment.deployment.rollout_id))
            await self._send_model(deployment)

    async def _forward(self, event: BusEvent) -> None:
        subject = _subject(event) if self._caught_up else None
        if subject is not None and subject in self._caught_up:
            self._caught_up.discard(subject)
            return  # sent from storage already
        await self._send(event.body)
        if event.type == _COMMAND_DISPATCH:
            command_id = _subject(event)
            if command_id is not None:
                await agent_commands.mark_sent(
                    self.database, org_id=self.org_id, command_ids=[command_id[1]]
                )

    async def _touch(self) -> None:
        if time.monotonic() - self._last_touch >= self.touch_seconds:
            await self._presence(online=True)

    async def _presence(self, *, online: bool) -> None:
        at = now_ms()
        self._last_touch = time.monotonic()
        agent, flipped = await set_presence(
            self.database, org_id=self.org_id, agent_id=self.agent_id, online=online, at_ms=at
        )
        if not flipped:
            return
        last_seen = None if agent.last_seen is None else to_ms(agent.last_seen)
        await publish_presence(
            self.bus,
            agent_id=self.agent_id,
            site_id=agent.site_id,
            online=online,
            at_ms=at,
            last_seen=last_seen,
        )
        await devices.record_gateway_presence(
            self.database,
            self.bus,
            org_id=self.org_id,
            site_id=agent.site_id,
            agent_id=self.agent_id,
            online=online,
            at_ms=at,
        )

    async def _send_model(self, frame: BaseModel) -> None:
        await self._send(frame.model_dump_json())

    async def _send(self, text: str) -> None:
        async with self._send_lock:
            # No timeout object per frame (it costs more than the send): watch() checks.
            self._sending_since = time.monotonic()
            try:
                await self._emit(text)
            finally:
                self._sending_since = None


_COMMAND_DISPATCH = "command.dispatch"
_EXECUTION_START = "execution.start"
_DEPLOY_START = "deploy.start"


def _subject(event: BusEvent) -> tuple[str, str] | None:
    """``(frame type, id)`` of an ``execution.start``, ``command.dispatch`` or
    ``deploy.start`` (the rollout id) event."""
    path = {
        _EXECUTION_START: ("execution", "id"),
        _COMMAND_DISPATCH: ("command", "id"),
        _DEPLOY_START: ("deployment", "rollout_id"),
    }.get(event.type)
    if path is None:
        return None
    try:
        subject_id = json.loads(event.body)[path[0]][path[1]]
    except (ValueError, KeyError, TypeError):
        return None
    return (event.type, subject_id) if isinstance(subject_id, str) else None


class _InternalError(ServiceError):
    status, code, title = 500, ErrorCode.INTERNAL_ERROR, "Internal error"


def _internal() -> ServiceError:
    return _InternalError("The server failed to handle this frame; it was not applied.")
