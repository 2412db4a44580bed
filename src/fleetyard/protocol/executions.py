"""Commands on the wire: action groups, executions, scenes and schedules.

An *action group* is a label, a mode and actions, one per device; each
action is an ordered list of commands. Executing one makes an *execution*
that the gateway agent runs and reports on::

    queued → initialized → transmitted → in_progress → completed | failed
                      ╰→ not_transmitted (gateway offline past the timeout)
    any unfinished state → cancelled (on cancel)

A *scene* is an action group stored under an id, to run now or at a time
(a *schedule*, durable: it survives a server restart and fires once).

Example::

    body = ExecutionCreate(
        label="Close the living room",
        actions=[Action(device_url="io://1234-5678-3293/3541212",
                        commands=[Command(name="setClosure", parameters=[100])])],
    )
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, JsonValue

from fleetyard.protocol.common import RequestModel, ResponseModel, Timestamp

EXECUTION_ID_PREFIX = "exe"
ACTION_GROUP_ID_PREFIX = "scn"
SCHEDULE_ID_PREFIX = "sch"
AGENT_COMMAND_ID_PREFIX = "cmd"
EVENT_LISTENER_ID_PREFIX = "evl"

MAX_ACTIONS = 100
MAX_COMMANDS_PER_ACTION = 50
MAX_PARAMETERS = 20
DEFAULT_EXECUTION_LIMIT = 10
"""Concurrent executions per gateway unless the server is configured otherwise."""


class ExecutionMode(StrEnum):
    """How a gateway should treat an execution (informational to most devices)."""

    DEFAULT = "default"
    HIGH_PRIORITY = "high_priority"
    GEOLOCATED = "geolocated"
    INTERNAL = "internal"


class ExecutionState(StrEnum):
    """Where an execution is in its life. :data:`FINISHED_STATES` never change again."""

    QUEUED = "queued"
    INITIALIZED = "initialized"
    TRANSMITTED = "transmitted"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    NOT_TRANSMITTED = "not_transmitted"
    CANCELLED = "cancelled"


FINISHED_STATES = frozenset(
    {
        ExecutionState.COMPLETED,
        ExecutionState.FAILED,
        ExecutionState.NOT_TRANSMITTED,
        ExecutionState.CANCELLED,
    }
)
ACTIVE_STATES = frozenset(
    {ExecutionState.INITIALIZED, ExecutionState.TRANSMITTED, ExecutionState.IN_PROGRESS}
)
"""States that hold one of the gateway's concurrent-execution slots."""


class CommandState(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class FailureType(StrEnum):
    """Why a command or an execution failed."""

    DEVICE_ERROR = "device_error"
    NO_HANDLER = "no_handler"
    INVALID_PARAMETERS = "invalid_parameters"
    TIMEOUT = "timeout"
    GATEWAY_OFFLINE = "gateway_offline"
    CANCELLED = "cancelled"
    HANDLER_ERROR = "handler_error"
    UNKNOWN = "unknown"


class Command(RequestModel):
    """One command: ``setClosure(50)`` is ``Command(name="setClosure", parameters=[50])``."""

    name: str = Field(min_length=1, max_length=200)
    parameters: list[JsonValue] = Field(default_factory=list, max_length=MAX_PARAMETERS)


class Action(RequestModel):
    """The commands for one device, run in order."""

    device_url: str = Field(min_length=1, max_length=400)
    commands: list[Command] = Field(min_length=1, max_length=MAX_COMMANDS_PER_ACTION)


class ActionGroup(RequestModel):
    """A label, a mode and one action per device."""

    label: str = Field(default="", max_length=200)
    mode: ExecutionMode = ExecutionMode.DEFAULT
    actions: list[Action] = Field(min_length=1, max_length=MAX_ACTIONS)


class ExecutionCreate(ActionGroup):
    """Run an action group now.

    ``gateway_id`` picks the gateway when the same device URL exists behind
    several; ``queue`` waits server-side for a free slot instead of 429
    ``exec_queue_full``.
    """

    gateway_id: str | None = Field(default=None, max_length=40)
    queue: bool = False


class CommandProgress(ResponseModel):
    """One command of an execution and how it went."""

    name: str
    parameters: list[JsonValue] = Field(default_factory=list)
    state: CommandState = CommandState.PENDING
    failure_type: str | None = None
    detail: str | None = None
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None


class ActionProgress(ResponseModel):
    device_url: str
    device_id: str | None = None
    commands: list[CommandProgress]


class StateTransition(ResponseModel):
    state: ExecutionState
    at: Timestamp


class FailedCommand(ResponseModel):
    device_url: str
    command: str
    failure_type: str
    detail: str | None = None


class Execution(ResponseModel):
    """An execution: what was asked, where it is, and every state it went through."""

    id: str
    gateway_id: str
    site_id: str
    label: str
    mode: ExecutionMode = ExecutionMode.DEFAULT
    state: ExecutionState
    actions: list[ActionProgress]
    history: list[StateTransition] = Field(default_factory=list)
    failure_type: str | None = None
    failed_commands: list[FailedCommand] = Field(default_factory=list)
    action_group_id: str | None = None
    schedule_id: str | None = None
    created_by: str | None = None
    created_at: Timestamp
    updated_at: Timestamp
    finished_at: Timestamp | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES


class ExecutionStarted(ResponseModel):
    """The answer to an execute: the id to follow, and whether it is queued."""

    id: str
    state: ExecutionState
    gateway_id: str


class Scene(ResponseModel):
    """A stored action group."""

    id: str
    site_id: str
    gateway_id: str
    label: str
    mode: ExecutionMode = ExecutionMode.DEFAULT
    actions: list[Action]
    created_at: Timestamp
    updated_at: Timestamp


class SceneCreate(ActionGroup):
    gateway_id: str | None = Field(default=None, max_length=40)


class SceneUpdate(RequestModel):
    label: str | None = Field(default=None, max_length=200)
    mode: ExecutionMode | None = None
    actions: list[Action] | None = Field(default=None, min_length=1, max_length=MAX_ACTIONS)


class SceneExecute(RequestModel):
    queue: bool = False


class ScheduleState(StrEnum):
    PENDING = "pending"
    FIRED = "fired"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ScheduleCreate(RequestModel):
    """Run a scene once at ``at`` (a past instant fires at once)."""

    at: Timestamp
    queue: bool = True


class Schedule(ResponseModel):
    id: str
    scene_id: str
    at: Timestamp
    state: ScheduleState
    queue: bool = True
    """Whether the fired execution waits in the gateway's queue when it is full."""
    execution_id: str | None = None
    error: str | None = None
    created_at: Timestamp
    updated_at: Timestamp


class AgentCommandState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    COMPLETED = "completed"
    FAILED = "failed"


class AgentCommandCreate(RequestModel):
    """A machine command: ``ping``, ``reboot``, ``shell`` (when the agent config enables it)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.\-]*$")
    args: dict[str, JsonValue] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=300.0, gt=0, le=86_400)


class AgentCommand(ResponseModel):
    id: str
    agent_id: str
    name: str
    args: dict[str, JsonValue] = Field(default_factory=dict)
    state: AgentCommandState
    result: JsonValue = None
    error: str | None = None
    created_at: Timestamp
    updated_at: Timestamp
    finished_at: Timestamp | None = None


class ExecutionCancelled(ResponseModel):
    id: str
    state: ExecutionState
