"""The rollout engine: waves, timeouts, the abort threshold, and finishing.

A rollout's machines are split into *waves* when it is created
(:func:`plan_waves`); a machine is *started* when its wave starts: its
``started_at`` is set and a ``deploy.start`` frame goes to the agent's
control topic (the agent session forwards it, and sends it again on
reconnect while the machine is unfinished). :func:`advance_locked`
re-evaluates one running rollout, in this order:

1. started, unfinished machines past ``machine_timeout_seconds`` → ``failed``
   (``deploy.cancel`` is sent to them);
2. the abort threshold: once at least ``abort_min_count`` machines finished
   (succeeded or failed) and more than ``abort_failure_percent`` % of them
   failed — or, for ``canary``, as soon as a canary failed — the rollout is
   ``aborted``: machines not started yet → ``skipped``, started ones →
   ``cancelled`` (with ``deploy.cancel``);
3. the next wave starts: ``canary`` after every canary succeeded, ``rate``
   one minute after the previous wave started (at most ``rate_per_minute``
   machines per minute);
4. when no machine is unfinished the rollout ends ``succeeded`` (all
   succeeded) or ``failed``.

It runs after a deploy, after every ``deploy.update`` (in the same
transaction), and as the job ``rollout.advance`` at the next deadline (a
timeout or the next rate wave), so it survives restarts. Every step is
idempotent: running it twice changes nothing the second time. Scheduled
rollouts start with the job ``rollout.start`` at ``schedule_at``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.agent_session import DeployCancel, Deployment, DeployStart, DeployUpdate
from fleetyard.protocol.rollouts import (
    FINISHED_MACHINE_STATES,
    UNFINISHED_MACHINE_STATES,
    DeployRequest,
    MachineState,
    RolloutState,
)
from fleetyard.protocol.software import Manifest
from fleetyard.server import jobs
from fleetyard.server.bus import Bus
from fleetyard.server.services.clock import now_ms as clock_now
from fleetyard.server.services.errors import NotFound
from fleetyard.server.services.rollouts._common import (
    EVENT_CANCELLED,
    EVENT_COMPLETED,
    EVENT_FAILED,
    EVENT_MACHINE_FAILED,
    EVENT_STARTED,
    Effects,
    deliver,
    writing,
)
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import apps as apps_repo
from fleetyard.server.storage.repositories import jobs as jobs_repo
from fleetyard.server.storage.repositories import rollouts as repo
from fleetyard.server.storage.repositories import versions as versions_repo
from fleetyard.server.storage.repositories.rollouts import MachineRecord, RolloutRecord

ADVANCE = "rollout.advance"
"""Job kind: re-evaluate a rollout; payload ``{"rollout_id": …}``."""
START = "rollout.start"
"""Job kind: start a scheduled rollout; payload ``{"rollout_id": …}``."""
RATE_WINDOW_MS = 60_000

_ORDER = {
    MachineState.QUEUED: 0,
    MachineState.DOWNLOADING: 1,
    MachineState.INSTALLING: 2,
}


def plan_waves(agent_ids: Sequence[str], request: DeployRequest) -> list[tuple[str, int]]:
    """Each machine with its wave, in the given order.

    >>> plan_waves(["a", "b", "c"], DeployRequest(strategy="canary"))
    [('a', 0), ('b', 1), ('c', 1)]
    >>> plan_waves(["a", "b", "c"], DeployRequest(strategy="rate", rate_per_minute=2))
    [('a', 0), ('b', 0), ('c', 1)]
    >>> plan_waves(["a", "b"], DeployRequest(strategy="canary", canary_percent=50))
    [('a', 0), ('b', 1)]
    """
    n = len(agent_ids)
    if request.strategy == "canary":
        if request.canary_count is not None:
            canaries = request.canary_count
        elif request.canary_percent is not None:
            canaries = math.ceil(n * request.canary_percent / 100)
        else:
            canaries = 1
        canaries = max(1, min(n, canaries))
        return [(a, 0 if i < canaries else 1) for i, a in enumerate(agent_ids)]
    if request.strategy == "rate":
        rate = request.rate_per_minute or 1
        return [(a, i // rate) for i, a in enumerate(agent_ids)]
    return [(a, 0) for a in agent_ids]


def options_of(record: RolloutRecord) -> DeployRequest:
    return DeployRequest.model_validate(record.options)


def _is_finished(state: str) -> bool:
    return state in FINISHED_MACHINE_STATES


def _timeout_ms(options: DeployRequest) -> int:
    return int(options.machine_timeout_seconds * 1000)


async def deployment_of(conn: AsyncConnection, rollout: RolloutRecord) -> Deployment:
    """The ``deploy.start`` payload for a rollout (the version's manifest included)."""
    app = await apps_repo.get(conn, rollout.app_id, org_id=rollout.org_id)
    version = await versions_repo.get_by_id(
        conn, rollout.version_id, org_id=rollout.org_id, app_id=rollout.app_id, manifest=True
    )
    if app is None or version is None or version.manifest is None:
        raise NotFound(f"Rollout {rollout.id!r}: its app or version is gone.")
    options = options_of(rollout)
    health = app.run.get("health_command")
    return Deployment(
        rollout_id=rollout.id,
        app_id=app.id,
        version_id=version.id,
        version_number=version.number,
        extract_path=app.extract_path,
        health_command=list(health) if isinstance(health, list) else None,
        timeout_seconds=options.machine_timeout_seconds,
        manifest=Manifest.model_validate(version.manifest),
    )


async def begin(
    conn: AsyncConnection, effects: Effects, rollout: RolloutRecord, *, now: int
) -> RolloutRecord:
    """Move a created or scheduled rollout to ``running`` and advance it (first wave)."""
    await repo.update(
        conn, rollout.id, org_id=rollout.org_id, values={"state": "running", "updated_at": now}
    )
    await _rollout_event(conn, effects, rollout, EVENT_STARTED, now, state="running")
    locked = await repo.get(conn, rollout.id, org_id=rollout.org_id)
    assert locked is not None
    await advance_locked(conn, effects, locked, now=now)
    return locked


async def advance_locked(
    conn: AsyncConnection, effects: Effects, rollout: RolloutRecord, *, now: int
) -> None:
    """Re-evaluate a rollout whose row the caller holds (see the module docstring)."""
    if rollout.state != RolloutState.RUNNING:
        return
    org_id = rollout.org_id
    options = options_of(rollout)
    machines = await repo.machines(conn, rollout.id, org_id=org_id)
    states = {m.agent_id: m.state for m in machines}
    timeout = _timeout_ms(options)

    # 1. timeouts
    timed_out = [
        m
        for m in machines
        if m.started_at is not None
        and m.state in UNFINISHED_MACHINE_STATES
        and now >= m.started_at + timeout
    ]
    if timed_out:
        error = f"no result within {options.machine_timeout_seconds:g} s"
        await repo.update_machines(
            conn,
            rollout.id,
            [m.agent_id for m in timed_out],
            org_id=org_id,
            values={"state": "failed", "error": error, "updated_at": now, "finished_at": now},
        )
        for m in timed_out:
            states[m.agent_id] = MachineState.FAILED
            effects.frames.append((m.agent_id, DeployCancel(rollout_id=rollout.id)))
            await _machine_failed(conn, effects, rollout, m.agent_id, error, now)

    # 2. abort threshold (and a failed canary)
    succeeded = sum(1 for s in states.values() if s == MachineState.SUCCEEDED)
    failed = sum(1 for s in states.values() if s == MachineState.FAILED)
    finished = succeeded + failed
    last_wave = max((m.wave for m in machines), default=0)
    abort = (
        finished >= options.abort_min_count
        and failed * 100 > options.abort_failure_percent * finished
    )
    if options.strategy == "canary" and last_wave > 0:
        abort = abort or any(
            m.wave == 0 and states[m.agent_id] == MachineState.FAILED for m in machines
        )
    if abort and any(s in UNFINISHED_MACHINE_STATES for s in states.values()):
        await _stop(conn, effects, rollout, machines, states, now=now, machine_state="skipped")
        await _finish(conn, effects, rollout, RolloutState.ABORTED, now=now)
        return

    # 3. the next wave
    started_waves = {m.wave for m in machines if m.started_at is not None}
    current = max(started_waves, default=-1)
    next_wave = current + 1
    deadline: int | None = None
    if next_wave <= last_wave:
        due: int | None = None
        if current < 0:
            due = now
        elif options.strategy == "rate":
            first = min(
                m.started_at for m in machines if m.wave == current and m.started_at is not None
            )
            due = first + RATE_WINDOW_MS
        elif all(
            states[m.agent_id] == MachineState.SUCCEEDED for m in machines if m.wave <= current
        ):
            due = now
        if due is not None and due <= now:
            starting = [m for m in machines if m.wave == next_wave]
            await _start_machines(conn, effects, rollout, starting, now=now)
            if options.strategy == "rate" and next_wave < last_wave:
                deadline = now + RATE_WINDOW_MS
            machines = await repo.machines(conn, rollout.id, org_id=org_id)
        elif due is not None:
            deadline = due

    # 4. finish, or wait for the next deadline
    if not any(states.get(m.agent_id, m.state) in UNFINISHED_MACHINE_STATES for m in machines):
        outcome = (
            RolloutState.SUCCEEDED
            if all(s == MachineState.SUCCEEDED for s in states.values())
            else RolloutState.FAILED
        )
        await _finish(conn, effects, rollout, outcome, now=now)
        return
    for m in machines:
        state = states.get(m.agent_id, m.state)
        if m.started_at is not None and state in UNFINISHED_MACHINE_STATES:
            at = m.started_at + timeout
            deadline = at if deadline is None else min(deadline, at)
    if deadline is not None:
        await _ensure_job(conn, rollout, at_ms=deadline, now=now)


async def _rollout_event(
    conn: AsyncConnection,
    effects: Effects,
    rollout: RolloutRecord,
    type: str,
    now: int,
    **body: Any,
) -> None:
    """A software event about ``rollout``: ``rollout_id``, ``app_id``, ``site_id`` (the
    app's, read once per transaction: an app never changes site) and ``version_id``,
    then ``body``."""
    site_id = effects.sites.get(rollout.app_id)
    if site_id is None:
        app = await apps_repo.get(conn, rollout.app_id, org_id=rollout.org_id)
        if app is not None:
            site_id = effects.sites[rollout.app_id] = app.site_id
    effects.event(
        type,
        now,
        rollout_id=rollout.id,
        app_id=rollout.app_id,
        site_id=site_id,
        version_id=rollout.version_id,
        **body,
    )


async def _machine_failed(
    conn: AsyncConnection,
    effects: Effects,
    rollout: RolloutRecord,
    agent_id: str,
    error: str | None,
    now: int,
) -> None:
    await _rollout_event(
        conn, effects, rollout, EVENT_MACHINE_FAILED, now, agent_id=agent_id, error=error
    )


async def _start_machines(
    conn: AsyncConnection,
    effects: Effects,
    rollout: RolloutRecord,
    machines: list[MachineRecord],
    *,
    now: int,
) -> None:
    if not machines:
        return
    await repo.update_machines(
        conn,
        rollout.id,
        [m.agent_id for m in machines],
        org_id=rollout.org_id,
        values={"started_at": now, "updated_at": now},
    )
    frame = DeployStart(deployment=await deployment_of(conn, rollout))
    for m in machines:
        effects.frames.append((m.agent_id, frame))


async def _stop(
    conn: AsyncConnection,
    effects: Effects,
    rollout: RolloutRecord,
    machines: list[MachineRecord],
    states: dict[str, str],
    *,
    now: int,
    machine_state: str,
) -> None:
    """Unfinished machines: not started → ``machine_state``, started → ``cancelled``."""
    waiting = [
        m.agent_id
        for m in machines
        if m.started_at is None and states[m.agent_id] in UNFINISHED_MACHINE_STATES
    ]
    running = [
        m.agent_id
        for m in machines
        if m.started_at is not None and states[m.agent_id] in UNFINISHED_MACHINE_STATES
    ]
    values: dict[str, Any] = {"updated_at": now, "finished_at": now}
    await repo.update_machines(
        conn, rollout.id, waiting, org_id=rollout.org_id, values={**values, "state": machine_state}
    )
    await repo.update_machines(
        conn, rollout.id, running, org_id=rollout.org_id, values={**values, "state": "cancelled"}
    )
    for agent_id in running:
        effects.frames.append((agent_id, DeployCancel(rollout_id=rollout.id)))


async def _finish(
    conn: AsyncConnection,
    effects: Effects,
    rollout: RolloutRecord,
    state: RolloutState,
    *,
    now: int,
) -> None:
    await repo.update(
        conn,
        rollout.id,
        org_id=rollout.org_id,
        values={"state": state.value, "updated_at": now, "finished_at": now},
    )
    event = EVENT_COMPLETED if state == RolloutState.SUCCEEDED else EVENT_FAILED
    if state == RolloutState.CANCELLED:
        event = EVENT_CANCELLED
    await _rollout_event(conn, effects, rollout, event, now, state=state.value)


def _job_id(rollout_id: str, at_ms: int) -> str:
    digest = hashlib.sha256(f"{rollout_id}:{at_ms}".encode()).hexdigest()
    return f"job_r{digest[:32]}"


async def _ensure_job(
    conn: AsyncConnection, rollout: RolloutRecord, *, at_ms: int, now: int
) -> None:
    """One ``rollout.advance`` job per (rollout, deadline): a repeat is not enqueued twice."""
    job_id = _job_id(rollout.id, at_ms)
    if await jobs_repo.get(conn, job_id) is not None:
        return
    await jobs_repo.insert(
        conn,
        job_id=job_id,
        kind=ADVANCE,
        org_id=rollout.org_id,
        payload={"rollout_id": rollout.id},
        run_at_ms=at_ms,
        max_attempts=5,
        now_ms=now,
    )


async def cancel_locked(
    conn: AsyncConnection, effects: Effects, rollout: RolloutRecord, *, now: int
) -> None:
    """Cancel a scheduled or running rollout whose row the caller holds."""
    machines = await repo.machines(conn, rollout.id, org_id=rollout.org_id)
    states = {m.agent_id: m.state for m in machines}
    await _stop(conn, effects, rollout, machines, states, now=now, machine_state="cancelled")
    if rollout.job_id is not None:
        await jobs.cancel(conn, rollout.job_id)
    await _finish(conn, effects, rollout, RolloutState.CANCELLED, now=now)


# -- entry points ------------------------------------------------------------------------


async def advance(
    database: Database, bus: Bus, *, org_id: str, rollout_id: str, now_ms: int | None = None
) -> None:
    """Re-evaluate a rollout now (or at ``now_ms``) and deliver what it decided."""
    now = clock_now() if now_ms is None else now_ms
    effects = Effects()
    async with writing(database) as conn:
        rollout = await repo.lock(conn, rollout_id, org_id=org_id)
        if rollout is None:
            return
        await advance_locked(conn, effects, rollout, now=now)
    await deliver(bus, org_id, effects)


async def start_scheduled(
    database: Database, bus: Bus, *, org_id: str, rollout_id: str, now_ms: int | None = None
) -> None:
    """Start a scheduled rollout (the ``rollout.start`` job); nothing if it is not scheduled."""
    now = clock_now() if now_ms is None else now_ms
    effects = Effects()
    async with writing(database) as conn:
        rollout = await repo.lock(conn, rollout_id, org_id=org_id)
        if rollout is None or rollout.state != RolloutState.SCHEDULED:
            return
        await begin(conn, effects, rollout, now=now)
    await deliver(bus, org_id, effects)


async def record_update(
    database: Database,
    bus: Bus,
    *,
    org_id: str,
    agent_id: str,
    update: DeployUpdate,
    now_ms: int | None = None,
) -> None:
    """Apply an agent's ``deploy.update`` and advance the rollout, in one transaction.

    Idempotent: a resent or out-of-date update (a state the machine already
    passed, or a machine already finished) changes nothing. The one exception:
    a machine ``cancelled`` by the server that reports ``succeeded`` or
    ``failed`` gets that outcome (it finished before the cancel reached it).
    404 when the rollout has no row for this agent.
    """
    now = clock_now() if now_ms is None else now_ms
    effects = Effects()
    async with writing(database) as conn:
        rollout = await repo.lock(conn, update.rollout_id, org_id=org_id)
        machine = (
            None
            if rollout is None
            else await repo.machine(conn, rollout.id, agent_id, org_id=org_id)
        )
        if rollout is None or machine is None:
            raise NotFound(f"Rollout {update.rollout_id!r} has no machine {agent_id!r}.")
        new = MachineState(update.state)
        values: dict[str, Any] | None = None
        if _is_finished(machine.state):
            if machine.state == MachineState.CANCELLED and new in (
                MachineState.SUCCEEDED,
                MachineState.FAILED,
            ):
                values = {"state": new.value, "error": update.error, "updated_at": now}
        elif new in FINISHED_MACHINE_STATES:
            values = {
                "state": new.value,
                "error": update.error,
                "updated_at": now,
                "finished_at": now,
            }
        elif _ORDER[new] > _ORDER[MachineState(machine.state)]:
            values = {"state": new.value, "updated_at": now}
        if values is not None:
            if machine.started_at is None:
                values["started_at"] = now
            await repo.update_machines(conn, rollout.id, [agent_id], org_id=org_id, values=values)
            if new == MachineState.FAILED:
                await _machine_failed(conn, effects, rollout, agent_id, update.error, now)
            await advance_locked(conn, effects, rollout, now=now)
    await deliver(bus, org_id, effects)


def job_handlers(database: Database, bus: Bus) -> dict[str, jobs.Handler]:
    """``rollout.advance`` and ``rollout.start`` for the app's job runner."""

    def rollout_of(context: jobs.JobContext, payload: dict[str, Any]) -> tuple[str, str]:
        rollout_id = payload.get("rollout_id")
        if not isinstance(rollout_id, str) or context.org_id is None:
            raise jobs.PermanentJobError(f"bad {context.kind} payload: {payload!r}")
        return context.org_id, rollout_id

    async def advance_job(context: jobs.JobContext, payload: dict[str, Any]) -> None:
        org_id, rollout_id = rollout_of(context, payload)
        await advance(database, bus, org_id=org_id, rollout_id=rollout_id)

    async def start_job(context: jobs.JobContext, payload: dict[str, Any]) -> None:
        org_id, rollout_id = rollout_of(context, payload)
        await start_scheduled(database, bus, org_id=org_id, rollout_id=rollout_id)

    return {ADVANCE: advance_job, START: start_job}
