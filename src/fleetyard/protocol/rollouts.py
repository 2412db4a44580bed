"""Rollouts on the wire: deploying a version of an app to its machines.

A rollout takes one version of an app to a set of machines (agents), in
*waves* chosen by a strategy:

- ``all_at_once``: one wave, every machine;
- ``canary``: wave 0 is ``canary_count`` machines (or ``canary_percent`` of
  them, at least one; default one machine), wave 1 the rest once every canary
  succeeded;
- ``rate``: at most ``rate_per_minute`` machines are started per minute.

Each machine moves ``queued → downloading → installing → succeeded | failed``
(or ``cancelled`` / ``skipped``); the rollout moves ``scheduled → running →
succeeded | failed | aborted | cancelled``::

    rollout = client.post(f"/v1/apps/{app_id}/deploy",
                          json=DeployRequest(strategy="canary", canary_count=2).model_dump())
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, JsonValue, model_validator

from fleetyard.protocol.common import RequestModel, ResponseModel, Timestamp

ROLLOUT_ID_PREFIX = "rol"
MAX_MACHINES = 10_000
DEFAULT_MACHINE_TIMEOUT_SECONDS = 900.0

RolloutStrategy = Literal["all_at_once", "canary", "rate"]


class RolloutState(StrEnum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABORTED = "aborted"
    CANCELLED = "cancelled"
    DRY_RUN = "dry_run"


FINISHED_ROLLOUT_STATES = frozenset(
    {
        RolloutState.SUCCEEDED,
        RolloutState.FAILED,
        RolloutState.ABORTED,
        RolloutState.CANCELLED,
    }
)


class MachineState(StrEnum):
    QUEUED = "queued"
    DOWNLOADING = "downloading"
    INSTALLING = "installing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


ACTIVE_MACHINE_STATES = frozenset({MachineState.DOWNLOADING, MachineState.INSTALLING})
"""Started on the machine and not finished."""
UNFINISHED_MACHINE_STATES = frozenset(
    {MachineState.QUEUED, MachineState.DOWNLOADING, MachineState.INSTALLING}
)
FINISHED_MACHINE_STATES = frozenset(
    {
        MachineState.SUCCEEDED,
        MachineState.FAILED,
        MachineState.CANCELLED,
        MachineState.SKIPPED,
    }
)


class DeployRequest(RequestModel):
    """Deploy a version of an app.

    ``machines`` ``None`` means the app's targets; a list must be a subset of
    them. For ``canary`` give ``canary_count`` or ``canary_percent`` (default:
    one machine); ``rate`` needs ``rate_per_minute``. The rollout aborts when
    more than ``abort_failure_percent`` % of the finished machines failed, once
    at least ``abort_min_count`` finished. ``schedule_at`` starts it later;
    ``dry_run`` answers what it would do and stores nothing.
    """

    version: int | str = "current"
    machines: list[str] | None = Field(default=None, max_length=MAX_MACHINES)
    strategy: RolloutStrategy = "all_at_once"
    canary_count: int | None = Field(default=None, ge=1)
    canary_percent: float | None = Field(default=None, gt=0, le=100)
    rate_per_minute: int | None = Field(default=None, ge=1)
    abort_failure_percent: float = Field(default=100.0, ge=0, le=100)
    abort_min_count: int = Field(default=1, ge=1)
    machine_timeout_seconds: float = Field(
        default=DEFAULT_MACHINE_TIMEOUT_SECONDS, gt=0, le=7 * 24 * 3600
    )
    schedule_at: Timestamp | None = None
    dry_run: bool = False

    @model_validator(mode="after")
    def _strategy_options(self) -> DeployRequest:
        if self.canary_count is not None and self.canary_percent is not None:
            raise ValueError("give canary_count or canary_percent, not both")
        if self.strategy != "canary" and (
            self.canary_count is not None or self.canary_percent is not None
        ):
            raise ValueError("canary_count / canary_percent need strategy 'canary'")
        if self.strategy == "rate" and self.rate_per_minute is None:
            raise ValueError("strategy 'rate' needs rate_per_minute")
        if self.strategy != "rate" and self.rate_per_minute is not None:
            raise ValueError("rate_per_minute needs strategy 'rate'")
        return self


class RolloutMachine(ResponseModel):
    """One machine of a rollout."""

    agent_id: str
    state: MachineState
    wave: int = 0
    error: str | None = None
    started_at: Timestamp | None = None
    updated_at: Timestamp
    finished_at: Timestamp | None = None


class RolloutCounts(ResponseModel):
    """How many machines are in each state."""

    queued: int = 0
    downloading: int = 0
    installing: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    skipped: int = 0


class Rollout(ResponseModel):
    """A rollout with its machines (ordered by wave, then agent id)."""

    id: str
    app_id: str
    version_id: str
    version_number: int
    state: RolloutState
    options: dict[str, JsonValue] = Field(default_factory=dict)
    counts: RolloutCounts = Field(default_factory=RolloutCounts)
    machines: list[RolloutMachine] = Field(default_factory=list)
    created_at: Timestamp
    updated_at: Timestamp
    finished_at: Timestamp | None = None
    schedule_at: Timestamp | None = None
