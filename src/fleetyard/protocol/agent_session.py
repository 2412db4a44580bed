"""The agent session: one WebSocket between a device agent and the server.

``GET /v1/agents/session`` upgraded to a WebSocket, authenticated with the
agent's own credential (``Authorization: Bearer fy_…`` holding
``agent:<id>:write``). Frames are JSON objects with a ``type``::

    → {"type": "hello", "agent_version": "0.1.0", "commands": ["ping"]}
    ← {"type": "welcome", "agent_id": "agt_…", "heartbeat_seconds": 10, "server_time": "…"}
    → {"type": "heartbeat"}                                   (every heartbeat_seconds)
    → {"type": "publish", "ref": "p1", "messages": [{"channel": "status",
         "payload": {…}, "client_message_id": "…"}]}
    ← {"type": "ack", "ref": "p1", "results": [{"seq": 42, "deduplicated": false}]}
    ← {"type": "execution.start", "execution": {…ExecutionOrder…}}
    → {"type": "execution.update", "ref": "u1", "execution_id": "exe_…",
         "state": "transmitted" | "in_progress" | "completed" | "failed" | "cancelled",
         "action_index": 0, "command_index": 0, "command_state": "completed", …}
    ← {"type": "ack", "ref": "u1"}
    → {"type": "device.states", "ref": "d1", "device_url": "io://…", "states": [{…}]}
    → {"type": "device.available", "ref": "d2", "device_url": "io://…", "available": false}
    ← {"type": "execution.cancel", "execution_id": "exe_…"}
    ← {"type": "command.dispatch", "command": {…AgentCommand…}}
    → {"type": "command.result", "ref": "c1", "command_id": "cmd_…",
         "state": "completed" | "failed", "result": …, "error": null}
    ← {"type": "deploy.start", "deployment": {…Deployment…}}
    → {"type": "deploy.update", "ref": "r1", "rollout_id": "rol_…",
         "state": "downloading" | "installing" | "succeeded" | "failed" | "cancelled",
         "error": null}
    ← {"type": "ack", "ref": "r1"}
    ← {"type": "deploy.cancel", "rollout_id": "rol_…"}
    ← {"type": "error", "ref": "p1", "code": "payload_invalid", "detail": "…", "status": 422}

Rules:

- Every agent → server frame that carries a ``ref`` is answered by exactly
  one ``ack`` or ``error`` with that ``ref``, *after* what it reports is
  committed. An agent keeps a frame in its outbox until then and resends it
  after a reconnect; the server makes resends harmless (``client_message_id``
  for messages; execution and command updates that are already applied are
  acknowledged again).
- On (re)connect the server sends ``execution.start`` for every execution of
  this gateway that is ``initialized`` or ``transmitted`` and
  ``command.dispatch`` for every ``pending`` or ``sent`` command, and
  ``deploy.start`` for each of its unfinished machines of running rollouts;
  the agent ignores ones it already runs (or finished).
- The session counts as presence: connect marks the agent online, close (or
  silence past the presence timeout) offline.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, JsonValue, TypeAdapter

from fleetyard.protocol.common import RequestModel, ResponseModel, Timestamp
from fleetyard.protocol.devices import DeviceState
from fleetyard.protocol.executions import (
    AgentCommand,
    CommandState,
    ExecutionMode,
    ExecutionState,
)
from fleetyard.protocol.software import Manifest, ServerManifest
from fleetyard.protocol.telemetry import CLIENT_MESSAGE_ID_MAX_LENGTH

SESSION_PATH = "/v1/agents/session"
MAX_PUBLISH_PER_FRAME = 1000
REF_MAX_LENGTH = 64

# --- agent → server --------------------------------------------------------------------


class Hello(RequestModel):
    type: Literal["hello"] = "hello"
    agent_version: str = Field(default="", max_length=64)
    commands: list[str] = Field(default_factory=list, max_length=64)
    """Machine commands this agent's config enables (``ping``, ``reboot``, ``shell``)."""


class Heartbeat(RequestModel):
    type: Literal["heartbeat"] = "heartbeat"


class SessionMessage(RequestModel):
    """One message to one of the agent's own channels (created on first use)."""

    channel: str = Field(min_length=1, max_length=200)
    payload: JsonValue = None
    client_message_id: str = Field(min_length=1, max_length=CLIENT_MESSAGE_ID_MAX_LENGTH)
    timestamp: Timestamp | None = None
    save_log: bool = True
    log_aggregate: bool = False
    override_aggregate: bool = False


class Publish(RequestModel):
    type: Literal["publish"] = "publish"
    ref: str = Field(min_length=1, max_length=REF_MAX_LENGTH)
    messages: list[SessionMessage] = Field(min_length=1, max_length=MAX_PUBLISH_PER_FRAME)


class ExecutionUpdate(RequestModel):
    """Progress of an execution. ``action_index``/``command_index`` say which command
    ``command_state`` is about; ``state`` moves the execution as a whole."""

    type: Literal["execution.update"] = "execution.update"
    ref: str = Field(min_length=1, max_length=REF_MAX_LENGTH)
    execution_id: str = Field(min_length=1, max_length=40)
    state: ExecutionState | None = None
    action_index: int | None = Field(default=None, ge=0)
    command_index: int | None = Field(default=None, ge=0)
    command_state: CommandState | None = None
    failure_type: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, max_length=2000)
    at: Timestamp | None = None


class DeviceStates(RequestModel):
    type: Literal["device.states"] = "device.states"
    ref: str = Field(min_length=1, max_length=REF_MAX_LENGTH)
    device_url: str = Field(min_length=1, max_length=400)
    states: list[DeviceState] = Field(min_length=1, max_length=500)
    at: Timestamp | None = None


class DeviceAvailability(RequestModel):
    type: Literal["device.available"] = "device.available"
    ref: str = Field(min_length=1, max_length=REF_MAX_LENGTH)
    device_url: str = Field(min_length=1, max_length=400)
    available: bool


class CommandResult(RequestModel):
    type: Literal["command.result"] = "command.result"
    ref: str = Field(min_length=1, max_length=REF_MAX_LENGTH)
    command_id: str = Field(min_length=1, max_length=40)
    state: Literal["completed", "failed"]
    result: JsonValue = None
    error: str | None = Field(default=None, max_length=4000)


class DeployUpdate(RequestModel):
    """Progress of one deployment (a rollout on this machine); acknowledged after commit.
    A resend of a state already applied (or of a rollout that moved on) is acked again."""

    type: Literal["deploy.update"] = "deploy.update"
    ref: str = Field(min_length=1, max_length=REF_MAX_LENGTH)
    rollout_id: str = Field(min_length=1, max_length=40)
    state: Literal["downloading", "installing", "succeeded", "failed", "cancelled"]
    error: str | None = Field(default=None, max_length=4000)


AgentFrame = Annotated[
    Hello
    | Heartbeat
    | Publish
    | ExecutionUpdate
    | DeviceStates
    | DeviceAvailability
    | CommandResult
    | DeployUpdate,
    Field(discriminator="type"),
]
_AGENT_FRAME: TypeAdapter[AgentFrame] = TypeAdapter(AgentFrame)


def parse_agent_frame(text: str | bytes) -> AgentFrame:
    """Parse what an agent sent; raises ``pydantic.ValidationError`` (or ``ValueError``)."""
    return _AGENT_FRAME.validate_json(text)


# --- server → agent --------------------------------------------------------------------


class Welcome(ResponseModel):
    type: Literal["welcome"] = "welcome"
    agent_id: str
    site_id: str
    heartbeat_seconds: float
    server_time: Timestamp


class OrderCommand(ResponseModel):
    name: str
    parameters: list[JsonValue] = Field(default_factory=list)


class OrderAction(ResponseModel):
    device_url: str
    commands: list[OrderCommand]


class ExecutionOrder(ResponseModel):
    """What an agent runs: actions in parallel across devices, commands in order per device."""

    id: str
    label: str
    mode: ExecutionMode = ExecutionMode.DEFAULT
    actions: list[OrderAction]


class ExecutionStart(ResponseModel):
    type: Literal["execution.start"] = "execution.start"
    execution: ExecutionOrder


class ExecutionCancel(ResponseModel):
    type: Literal["execution.cancel"] = "execution.cancel"
    execution_id: str


class CommandDispatch(ResponseModel):
    type: Literal["command.dispatch"] = "command.dispatch"
    command: AgentCommand


def _as_server_manifest(value: object) -> object:
    """A :class:`Manifest` built in this process (the server's own) is taken as read."""
    if isinstance(value, Manifest) and not isinstance(value, ServerManifest):
        return value.model_dump(exclude_none=True)
    return value


class Deployment(ResponseModel):
    """What an agent applies: one version of one app, as part of a rollout.

    The manifest is read leniently (:class:`ServerManifest`: members this agent does
    not know are kept, not refused), so an agent keeps applying versions of a newer
    server; the version id still derives from the canonical manifest, which holds
    the known members only."""

    rollout_id: str
    app_id: str
    version_id: str
    version_number: int
    extract_path: str | None = None
    health_command: list[str] | None = None
    timeout_seconds: float
    manifest: Annotated[ServerManifest, BeforeValidator(_as_server_manifest)]


class DeployStart(ResponseModel):
    type: Literal["deploy.start"] = "deploy.start"
    deployment: Deployment


class DeployCancel(ResponseModel):
    type: Literal["deploy.cancel"] = "deploy.cancel"
    rollout_id: str


class PublishResult(ResponseModel):
    seq: int | None = None
    deduplicated: bool = False


class Ack(ResponseModel):
    type: Literal["ack"] = "ack"
    ref: str
    results: list[PublishResult] | None = None


class SessionError(ResponseModel):
    type: Literal["error"] = "error"
    ref: str | None = None
    code: str
    detail: str | None = None
    status: int = 400


class ServerHeartbeat(ResponseModel):
    type: Literal["heartbeat"] = "heartbeat"
    at: Timestamp


ServerFrame = Annotated[
    Welcome
    | ExecutionStart
    | ExecutionCancel
    | CommandDispatch
    | Ack
    | SessionError
    | ServerHeartbeat
    | DeployStart
    | DeployCancel,
    Field(discriminator="type"),
]
_SERVER_FRAME: TypeAdapter[ServerFrame] = TypeAdapter(ServerFrame)


def parse_server_frame(text: str | bytes) -> ServerFrame | dict[str, Any]:
    """Parse what the server sent; a frame of an unknown type comes back as a plain dict
    (a newer server may send more kinds than this agent knows)."""
    data = json.loads(text)
    if isinstance(data, dict) and data.get("type") not in _SERVER_TYPES:
        return data
    return _SERVER_FRAME.validate_python(data)


_SERVER_TYPES = frozenset(
    {
        "welcome",
        "execution.start",
        "execution.cancel",
        "command.dispatch",
        "ack",
        "error",
        "heartbeat",
        "deploy.start",
        "deploy.cancel",
    }
)
