"""The agent side of the session protocol as a pure state machine: frames in, actions out.

No sockets, no disk, no clock of its own: the I/O loop (:mod:`fleetyard.agent.runner`)
tells it what happened (:meth:`AgentSession.connected`, :meth:`~AgentSession.received`,
:meth:`~AgentSession.tick`, :meth:`~AgentSession.offer` of outbox rows) and performs the
actions it answers (:class:`Send`, :class:`Acknowledged`, :class:`StartExecution`,
:class:`StartDeployment`…).
That makes every rule testable with scripted frames::

    session = AgentSession(agent_version="0.1.0", commands=["ping"])
    [hello] = session.connected(now=0.0)            # Send('{"type":"hello",…}')
    session.received('{"type":"welcome",…}', now=0.1)
    frames = session.offer(outbox.pending(after=session.sent_through), now=0.1)

Rules kept here (see :mod:`fleetyard.protocol.agent_session`):

- nothing from the outbox goes out before ``welcome``; then rows go in order,
  consecutive messages batched into ``publish`` frames (at most
  ``MAX_PUBLISH_PER_FRAME``), every other row as its own frame, each with a
  ``ref`` naming its rows; at most ``max_in_flight`` frames unacknowledged;
- an ``ack`` deletes exactly the rows of its ``ref``; an ``error`` for a ref
  drops them when the server refuses them for good (4xx) and reconnects to
  resend when it could not store them (408, 429, 5xx);
- after a reconnect nothing counts as sent: every row left goes again;
- a heartbeat every ``heartbeat_seconds``; a connection silent for three
  heartbeats (once the server showed it sends them), or without ``welcome``
  in time, is closed and retried.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from fleetyard.agent.outbox import OutboxRow
from fleetyard.protocol.agent_session import (
    MAX_PUBLISH_PER_FRAME,
    Ack,
    CommandDispatch,
    DeployCancel,
    Deployment,
    DeployStart,
    ExecutionCancel,
    ExecutionOrder,
    ExecutionStart,
    Heartbeat,
    Hello,
    ServerHeartbeat,
    SessionError,
    Welcome,
    parse_server_frame,
)
from fleetyard.protocol.executions import AgentCommand

__all__ = [
    "Acknowledged",
    "Action",
    "AgentSession",
    "CancelDeployment",
    "CancelExecution",
    "Close",
    "Log",
    "Rejected",
    "RunCommand",
    "Send",
    "SessionPhase",
    "StartDeployment",
    "StartExecution",
    "Welcomed",
]

LIVENESS_HEARTBEATS = 3
WELCOME_TIMEOUT_SECONDS = 30.0
DEFAULT_HEARTBEAT_SECONDS = 10.0


# -- actions ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """Send this text frame."""

    text: str


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """The server has these outbox rows: delete them."""

    row_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Rejected:
    """The server refused these rows for good (``code``): delete them and say so."""

    row_ids: tuple[int, ...]
    code: str
    detail: str | None


@dataclass(frozen=True, slots=True)
class StartExecution:
    order: ExecutionOrder


@dataclass(frozen=True, slots=True)
class CancelExecution:
    execution_id: str


@dataclass(frozen=True, slots=True)
class StartDeployment:
    deployment: Deployment


@dataclass(frozen=True, slots=True)
class CancelDeployment:
    rollout_id: str


@dataclass(frozen=True, slots=True)
class RunCommand:
    command: AgentCommand


@dataclass(frozen=True, slots=True)
class Welcomed:
    welcome: Welcome


@dataclass(frozen=True, slots=True)
class Close:
    """End this connection; ``fatal``: do not reconnect (the credential was refused)."""

    reason: str
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class Log:
    """Something worth telling the operator (a frame the agent could not use…)."""

    message: str


Action = (
    Send
    | Acknowledged
    | Rejected
    | StartExecution
    | CancelExecution
    | StartDeployment
    | CancelDeployment
    | RunCommand
    | Welcomed
    | Close
    | Log
)


class SessionPhase(StrEnum):
    DISCONNECTED = "disconnected"
    HELLO_SENT = "hello_sent"
    READY = "ready"


@dataclass
class AgentSession:
    """One agent's protocol state across connections (see the module docstring)."""

    agent_version: str = ""
    commands: list[str] = field(default_factory=list)
    heartbeat_override: float | None = None
    max_in_flight: int = 8
    phase: SessionPhase = SessionPhase.DISCONNECTED
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    agent_id: str | None = None
    sent_through: int = 0
    """Highest outbox row id sent on this connection (the next :meth:`offer` starts after)."""
    _in_flight: dict[str, tuple[int, ...]] = field(default_factory=dict)
    _connected_at: float = 0.0
    _last_received: float = 0.0
    _last_heartbeat: float = 0.0
    _server_heartbeats: bool = False

    # -- connection lifecycle -----------------------------------------------------------

    def connected(self, now: float) -> list[Action]:
        """A new connection is open: say hello; everything unacknowledged goes again."""
        self.phase = SessionPhase.HELLO_SENT
        self._reset()
        self._connected_at = self._last_received = self._last_heartbeat = now
        hello = Hello(agent_version=self.agent_version[:64], commands=self.commands[:64])
        return [Send(hello.model_dump_json())]

    def disconnected(self) -> None:
        self.phase = SessionPhase.DISCONNECTED
        self._reset()

    def _reset(self) -> None:
        self._in_flight.clear()
        self.sent_through = 0
        self._server_heartbeats = False

    @property
    def ready(self) -> bool:
        return self.phase is SessionPhase.READY

    @property
    def in_flight(self) -> int:
        """Frames sent and not yet acknowledged."""
        return len(self._in_flight)

    # -- what the server sent -----------------------------------------------------------

    def received(self, text: str | bytes, now: float) -> list[Action]:
        """One frame from the server."""
        self._last_received = now
        try:
            frame = parse_server_frame(text)
        except (ValueError, ValidationError) as exc:
            return [Log(f"ignored a frame the agent cannot read: {_short(exc)}")]
        if isinstance(frame, dict):
            return [Log(f"ignored a frame of unknown type {frame.get('type')!r}")]
        if isinstance(frame, Welcome):
            self.phase = SessionPhase.READY
            self.agent_id = frame.agent_id
            self.heartbeat_seconds = (
                self.heartbeat_override or frame.heartbeat_seconds or (DEFAULT_HEARTBEAT_SECONDS)
            )
            return [Welcomed(frame)]
        if isinstance(frame, Ack):
            ids = self._in_flight.pop(frame.ref, None)
            return [] if ids is None else [Acknowledged(ids)]
        if isinstance(frame, SessionError):
            return self._error(frame)
        if isinstance(frame, ExecutionStart):
            return [StartExecution(frame.execution)]
        if isinstance(frame, ExecutionCancel):
            return [CancelExecution(frame.execution_id)]
        if isinstance(frame, CommandDispatch):
            return [RunCommand(frame.command)]
        if isinstance(frame, DeployStart):
            return [StartDeployment(frame.deployment)]
        if isinstance(frame, DeployCancel):
            return [CancelDeployment(frame.rollout_id)]
        if isinstance(frame, ServerHeartbeat):
            self._server_heartbeats = True
        return []

    def _error(self, frame: SessionError) -> list[Action]:
        detail = f"{frame.code}: {frame.detail}" if frame.detail else frame.code
        if frame.ref is None:
            if frame.status in (401, 403):
                return [Close(f"the server refused the agent's credential ({detail})", fatal=True)]
            return [Log(f"the server reported an error: {detail}")]
        ids = self._in_flight.pop(frame.ref, None)
        if ids is None:
            return []
        if frame.status in (408, 429) or frame.status >= 500:
            # Not stored, may be next time: reconnect (with backoff) and send it all again.
            return [Close(f"the server could not store frame {frame.ref} ({detail})")]
        return [Rejected(ids, frame.code, frame.detail)]

    # -- what goes out ------------------------------------------------------------------

    def capacity(self) -> int:
        """How many outbox rows :meth:`offer` can take now (0: wait for acks or welcome)."""
        if not self.ready:
            return 0
        return max(self.max_in_flight - len(self._in_flight), 0) * MAX_PUBLISH_PER_FRAME

    def offer(self, rows: list[OutboxRow]) -> list[Action]:
        """Frames for outbox rows (oldest first, all after :attr:`sent_through`). Rows that do
        not fit the window are left for the next call."""
        actions: list[Action] = []
        if not self.ready:
            return actions
        batch: list[OutboxRow] = []

        def flush() -> None:
            if batch:
                ref = f"m{batch[0].id}-{batch[-1].id}"
                frame = {
                    "type": "publish",
                    "ref": ref,
                    "messages": [row.body for row in batch],
                }
                self._in_flight[ref] = tuple(row.id for row in batch)
                actions.append(Send(_dumps(frame)))
                batch.clear()

        for row in rows:
            if row.id <= self.sent_through:
                continue
            if row.kind == "message":
                if not batch and len(self._in_flight) >= self.max_in_flight:
                    break
                batch.append(row)
                if len(batch) >= MAX_PUBLISH_PER_FRAME:
                    flush()
            else:
                flush()
                if len(self._in_flight) >= self.max_in_flight:
                    break
                ref = f"f{row.id}"
                self._in_flight[ref] = (row.id,)
                actions.append(Send(_dumps({**row.body, "ref": ref})))
            self.sent_through = row.id
        flush()
        return actions

    def tick(self, now: float) -> list[Action]:
        """Time passed: a heartbeat when due; close a connection that went silent."""
        if self.phase is SessionPhase.DISCONNECTED:
            return []
        if self.phase is SessionPhase.HELLO_SENT:
            if now - self._connected_at >= WELCOME_TIMEOUT_SECONDS:
                return [Close("no welcome from the server")]
            return []
        if self._server_heartbeats and (
            now - self._last_received >= LIVENESS_HEARTBEATS * self.heartbeat_seconds
        ):
            return [Close("the server went silent")]
        if now - self._last_heartbeat >= self.heartbeat_seconds:
            self._last_heartbeat = now
            return [Send(Heartbeat().model_dump_json())]
        return []

    def next_tick_in(self, now: float) -> float:
        """Seconds until :meth:`tick` may have something to do."""
        if self.phase is SessionPhase.HELLO_SENT:
            return max(self._connected_at + WELCOME_TIMEOUT_SECONDS - now, 0.0)
        if self.phase is SessionPhase.DISCONNECTED:
            return self.heartbeat_seconds
        due = self._last_heartbeat + self.heartbeat_seconds - now
        if self._server_heartbeats:
            due = min(due, self._last_received + LIVENESS_HEARTBEATS * self.heartbeat_seconds - now)
        return max(due, 0.0)


def _dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200]
