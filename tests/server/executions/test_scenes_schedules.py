"""Scenes (stored action groups) and schedules fired once through the durable jobs runner."""

from __future__ import annotations

from datetime import timedelta

import anyio
import pytest
import sqlalchemy as sa

from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.executions import (
    Action,
    Command,
    ExecutionState,
    SceneCreate,
    SceneExecute,
    SceneUpdate,
    ScheduleCreate,
    ScheduleState,
)
from fleetyard.server.bus import MemoryBus
from fleetyard.server.jobs import JobRunner
from fleetyard.server.services.clock import now_ms, to_datetime
from fleetyard.server.services.devices.events import device_events_topic
from fleetyard.server.services.errors import Conflict, NotFound, TooManyRequests, Unprocessable
from fleetyard.server.services.executions import lifecycle, scenes, schedules
from fleetyard.server.services.pagination import PageRequest
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.device_tables import devices, executions
from fleetyard.server.storage.device_tables import jobs as jobs_table
from fleetyard.server.storage.repositories import jobs as jobs_repo
from tests.server.executions.conftest import AWNING, AWNING_2, LIGHT, Gateway

pytestmark = pytest.mark.anyio

LIMIT = 10


def scene_body(url: str = AWNING, label: str = "Evening") -> SceneCreate:
    return SceneCreate(
        label=label,
        actions=[Action(device_url=url, commands=[Command(name="setClosure", parameters=[80])])],
    )


async def test_scene_crud(db: Database, gateway: Gateway, other: Gateway) -> None:
    scene = await scenes.create_scene(db, gateway.principal, scene_body())
    assert (scene.gateway_id, scene.site_id, scene.label) == (
        gateway.agent_id,
        gateway.site_id,
        "Evening",
    )
    second = await scenes.create_scene(db, gateway.principal, scene_body(AWNING_2, "Morning"))
    assert await scenes.get_scene(db, gateway.principal, scene.id) == scene
    listed = await scenes.list_scenes(db, gateway.principal, PageRequest(limit=1))
    assert [s.id for s in listed.items] == [scene.id]
    assert listed.next_after == scene.id
    assert [
        s.id
        for s in (
            await scenes.list_scenes(db, gateway.principal, PageRequest(after=scene.id))
        ).items
    ] == [second.id]
    assert (await scenes.list_scenes(db, other.principal, PageRequest())).items == []
    assert (
        await scenes.list_scenes(db, gateway.principal, PageRequest(), gateway_id=other.agent_id)
    ).items == []

    changed = await scenes.update_scene(
        db,
        gateway.principal,
        scene.id,
        SceneUpdate(
            label="Night",
            actions=[
                Action(device_url=LIGHT, commands=[Command(name="setPosition", parameters=[0])])
            ],
        ),
    )
    assert (changed.label, changed.actions[0].device_url) == ("Night", LIGHT)
    with pytest.raises(Unprocessable) as caught:
        await scenes.update_scene(
            db,
            gateway.principal,
            scene.id,
            SceneUpdate(
                actions=[Action(device_url=LIGHT, commands=[Command(name="fly", parameters=[])])]
            ),
        )
    assert caught.value.code == ErrorCode.NO_SUCH_COMMAND

    with pytest.raises(NotFound):
        await scenes.get_scene(db, other.principal, scene.id)
    with pytest.raises(NotFound):
        await scenes.delete_scene(db, other.principal, scene.id)
    await scenes.delete_scene(db, gateway.principal, scene.id)
    with pytest.raises(NotFound):
        await scenes.get_scene(db, gateway.principal, scene.id)


async def test_a_scene_is_validated_like_an_execution(db: Database, gateway: Gateway) -> None:
    with pytest.raises(NotFound) as caught:
        await scenes.create_scene(db, gateway.principal, scene_body("io://1234-5678-3293/none"))
    assert caught.value.code == ErrorCode.NO_SUCH_DEVICE


async def test_executing_a_scene(db: Database, bus: MemoryBus, gateway: Gateway) -> None:
    scene = await scenes.create_scene(db, gateway.principal, scene_body())
    started = await scenes.execute_scene(
        db, bus, gateway.principal, scene.id, SceneExecute(), limit=LIMIT
    )
    execution = await lifecycle.get_execution(db, gateway.principal, started.id)
    assert (execution.action_group_id, execution.label) == (scene.id, "Evening")
    assert execution.actions[0].commands[0].parameters == [80]
    with pytest.raises(TooManyRequests):
        await scenes.execute_scene(db, bus, gateway.principal, scene.id, SceneExecute(), limit=1)
    queued = await scenes.execute_scene(
        db, bus, gateway.principal, scene.id, SceneExecute(queue=True), limit=1
    )
    assert queued.state is ExecutionState.QUEUED
    # The devices are checked again at each run: a device removed since then is missing.
    async with db.begin() as conn:
        await conn.execute(sa.delete(devices).where(devices.c.device_url == AWNING))
    with pytest.raises(NotFound) as caught:
        await scenes.execute_scene(
            db, bus, gateway.principal, scene.id, SceneExecute(), limit=LIMIT
        )
    assert caught.value.code == ErrorCode.NO_SUCH_DEVICE


async def _run_jobs(db: Database, bus: MemoryBus, limit: int = LIMIT) -> int:
    runner = JobRunner(db, schedules.job_handlers(db, bus, limit=limit))
    return await runner.run_once()


async def test_a_schedule_fires_once_through_the_runner(
    db: Database, bus: MemoryBus, gateway: Gateway
) -> None:
    scene = await scenes.create_scene(db, gateway.principal, scene_body())
    soon = to_datetime(now_ms() + 300)
    schedule = await schedules.schedule_scene(
        db, gateway.principal, scene.id, ScheduleCreate(at=soon)
    )
    assert (schedule.state, schedule.scene_id, schedule.at) == ("pending", scene.id, soon)

    events = bus.subscribe([device_events_topic(gateway.org_id)])
    runner = JobRunner(db, schedules.job_handlers(db, bus, limit=LIMIT), poll_seconds=0.05)
    await runner.start()
    try:
        with anyio.fail_after(10):
            batch = await events.next_batch()  # published after the firing transaction commits
    finally:
        await runner.stop()
    assert isinstance(batch, list)
    assert [event.type for _, event in batch] == ["execution.registered"]
    fired = await schedules.get_schedule(db, gateway.principal, schedule.id)
    assert fired.state is ScheduleState.FIRED
    assert fired.execution_id is not None
    execution = await lifecycle.get_execution(db, gateway.principal, fired.execution_id)
    assert (execution.schedule_id, execution.action_group_id) == (schedule.id, scene.id)
    assert execution.created_at >= soon

    # A retried job (at-least-once) for a fired schedule does nothing.
    async with db.begin() as conn:
        await conn.execute(
            sa.update(jobs_table).values(state=jobs_repo.PENDING, run_at=now_ms() - 1)
        )
    assert await _run_jobs(db, bus) == 1
    async with db.connect() as conn:
        count = (await conn.execute(sa.select(sa.func.count()).select_from(executions))).scalar()
    assert count == 1
    listed = await schedules.list_schedules(db, gateway.principal, PageRequest(), scene_id=scene.id)
    assert [s.id for s in listed.items] == [schedule.id]
    assert (
        await schedules.list_schedules(
            db, gateway.principal, PageRequest(), state=ScheduleState.PENDING
        )
    ).items == []


async def test_a_schedule_queues_on_a_full_gateway_unless_told_not_to(
    db: Database, bus: MemoryBus, gateway: Gateway
) -> None:
    scene = await scenes.create_scene(db, gateway.principal, scene_body())
    await scenes.execute_scene(db, bus, gateway.principal, scene.id, SceneExecute(), limit=1)
    past = to_datetime(now_ms() - 1000)
    queued = await schedules.schedule_scene(
        db, gateway.principal, scene.id, ScheduleCreate(at=past)
    )
    refused = await schedules.schedule_scene(
        db, gateway.principal, scene.id, ScheduleCreate(at=past, queue=False)
    )
    assert await _run_jobs(db, bus, limit=1) == 2
    fired = await schedules.get_schedule(db, gateway.principal, queued.id)
    assert fired.state is ScheduleState.FIRED
    assert fired.execution_id is not None
    assert (
        await lifecycle.get_execution(db, gateway.principal, fired.execution_id)
    ).state == "queued"
    failed = await schedules.get_schedule(db, gateway.principal, refused.id)
    assert failed.state is ScheduleState.FAILED
    assert failed.error is not None
    assert failed.error.startswith("exec_queue_full")


async def test_cancelling_a_schedule(
    db: Database, bus: MemoryBus, gateway: Gateway, other: Gateway
) -> None:
    scene = await scenes.create_scene(db, gateway.principal, scene_body())
    schedule = await schedules.schedule_scene(
        db, gateway.principal, scene.id, ScheduleCreate(at=to_datetime(now_ms() - 1))
    )
    with pytest.raises(NotFound):
        await schedules.cancel_schedule(db, other.principal, schedule.id)
    cancelled = await schedules.cancel_schedule(db, gateway.principal, schedule.id)
    assert cancelled.state is ScheduleState.CANCELLED
    assert await _run_jobs(db, bus) == 0  # its job was cancelled with it
    with pytest.raises(Conflict):
        await schedules.cancel_schedule(db, gateway.principal, schedule.id)
    assert (await lifecycle.list_history(db, gateway.principal, PageRequest())).items == []


async def test_deleting_a_scene_drops_its_schedules_and_jobs(
    db: Database, bus: MemoryBus, gateway: Gateway
) -> None:
    scene = await scenes.create_scene(db, gateway.principal, scene_body())
    schedule = await schedules.schedule_scene(
        db,
        gateway.principal,
        scene.id,
        ScheduleCreate(at=to_datetime(now_ms()) - timedelta(seconds=1)),
    )
    await scenes.delete_scene(db, gateway.principal, scene.id)
    with pytest.raises(NotFound):
        await schedules.get_schedule(db, gateway.principal, schedule.id)
    assert await _run_jobs(db, bus) == 0
