"""The rollout engine through the API and the bus: strategies, thresholds, timeouts, cancel,
schedules."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import anyio
import pytest
import sqlalchemy as sa

from fleetyard.server.jobs import JobRunner
from fleetyard.server.services.rollouts import engine
from fleetyard.server.storage.device_tables import jobs
from tests.server.rollouts.conftest import Fleet, cancels, software, starts

pytestmark = pytest.mark.anyio


def _now() -> int:
    return time.time_ns() // 1_000_000


async def test_all_at_once_sends_every_machine_a_start_and_succeeds(fleet: Fleet) -> None:
    rollout = await fleet.deploy()
    assert rollout["state"] == "running"
    assert rollout["version_id"] == fleet.version["id"]
    assert rollout["version_number"] == 1
    assert rollout["counts"]["queued"] == 3
    assert all(m["started_at"] is not None and m["wave"] == 0 for m in rollout["machines"])
    events = await fleet.drain()
    assert sorted(starts(events)) == sorted(fleet.agents)
    frame = next(body for _, kind, body in events if kind == "deploy.start")
    deployment = frame["deployment"]
    assert deployment["rollout_id"] == rollout["id"]
    assert deployment["extract_path"] == "/opt/kiosk"
    assert deployment["health_command"] == ["true"]
    assert deployment["timeout_seconds"] == 900
    assert {e["path"] for e in deployment["manifest"]["entries"]} == {"bin/run.sh", "data.txt"}
    assert software(events) == ["rollout.started"]

    for agent in fleet.agents:
        await fleet.update(rollout["id"], agent, "downloading")
        await fleet.update(rollout["id"], agent, "installing")
    # A resend of an older state changes nothing.
    await fleet.update(rollout["id"], fleet.agents[0], "downloading")
    middle = await fleet.get(rollout["id"])
    assert middle["counts"]["installing"] == 3
    for agent in fleet.agents:
        await fleet.update(rollout["id"], agent, "succeeded")
    await fleet.update(rollout["id"], fleet.agents[0], "succeeded")  # resent: harmless
    done = await fleet.get(rollout["id"])
    assert done["state"] == "succeeded"
    assert done["finished_at"] is not None
    assert done["counts"]["succeeded"] == 3
    assert software(await fleet.drain()) == ["rollout.completed"]
    listed = (await fleet.client.get(f"/v1/apps/{fleet.app_id}/rollouts")).json()
    assert [r["id"] for r in listed["items"]] == [rollout["id"]]
    mine = (await fleet.client.get(f"/v1/agents/{fleet.agents[1]}/rollouts")).json()["items"]
    assert [m["agent_id"] for m in mine[0]["machines"]] == [fleet.agents[1]]
    assert mine[0]["counts"]["succeeded"] == 3


async def test_canary_starts_the_rest_after_the_canary_succeeded(fleet: Fleet) -> None:
    rollout = await fleet.deploy(strategy="canary", canary_count=1)
    canary = [m["agent_id"] for m in rollout["machines"] if m["wave"] == 0]
    rest = [m["agent_id"] for m in rollout["machines"] if m["wave"] == 1]
    assert len(canary) == 1
    assert len(rest) == 2
    assert starts(await fleet.drain()) == canary
    await fleet.update(rollout["id"], canary[0], "installing")
    assert starts(await fleet.drain()) == []
    await fleet.update(rollout["id"], canary[0], "succeeded")
    assert sorted(starts(await fleet.drain())) == sorted(rest)
    for agent in rest:
        await fleet.update(rollout["id"], agent, "succeeded")
    assert (await fleet.get(rollout["id"]))["state"] == "succeeded"


async def test_a_failed_canary_aborts_and_skips_the_rest(fleet: Fleet) -> None:
    rollout = await fleet.deploy(strategy="canary", canary_percent=10)
    canary = next(m["agent_id"] for m in rollout["machines"] if m["wave"] == 0)
    await fleet.drain()
    await fleet.update(rollout["id"], canary, "failed", error="health check failed")
    events = await fleet.drain()
    assert starts(events) == []
    assert software(events) == ["machine.deploy_failed", "rollout.failed"]
    failed = next(body for _, kind, body in events if kind == "machine.deploy_failed")
    assert (failed["agent_id"], failed["error"]) == (canary, "health check failed")
    done = await fleet.get(rollout["id"])
    assert done["state"] == "aborted"
    assert done["counts"] == {
        "queued": 0,
        "downloading": 0,
        "installing": 0,
        "succeeded": 0,
        "failed": 1,
        "cancelled": 0,
        "skipped": 2,
    }


async def test_rate_starts_at_most_n_machines_a_minute(fleet5: Fleet) -> None:
    fleet = fleet5
    t0 = _now()
    rollout = await fleet.deploy(strategy="rate", rate_per_minute=2)
    assert sorted(m["wave"] for m in rollout["machines"]) == [0, 0, 1, 1, 2]
    assert len(starts(await fleet.drain())) == 2
    async with fleet.state.database.connect() as conn:
        kinds = (await conn.execute(sa.select(jobs.c.kind, jobs.c.run_at))).all()
    # The next wave is a durable job, due a minute after the first.
    assert any(k == engine.ADVANCE and t0 + 59_000 <= at <= _now() + 60_000 for k, at in kinds)
    await fleet.advance(rollout["id"], t0 + 30_000)
    assert starts(await fleet.drain()) == []
    await fleet.advance(rollout["id"], t0 + 61_000)
    second = starts(await fleet.drain())
    assert len(second) == 2
    await fleet.advance(rollout["id"], t0 + 90_000)
    assert starts(await fleet.drain()) == []
    await fleet.advance(rollout["id"], t0 + 122_000)
    assert len(starts(await fleet.drain())) == 1
    for agent in fleet.agents:
        await fleet.update(rollout["id"], agent, "succeeded", now_ms=t0 + 130_000)
    assert (await fleet.get(rollout["id"]))["state"] == "succeeded"


async def test_the_abort_threshold_stops_the_rollout(fleet5: Fleet) -> None:
    fleet = fleet5
    rollout = await fleet.deploy(abort_failure_percent=40, abort_min_count=2)
    await fleet.drain()
    a, b, *rest = fleet.agents
    await fleet.update(rollout["id"], a, "failed", error="boom")
    assert (await fleet.get(rollout["id"]))["state"] == "running"  # 1 finished < min count 2
    await fleet.update(rollout["id"], b, "succeeded")  # 1 failed of 2 = 50 % > 40 %
    done = await fleet.get(rollout["id"])
    assert done["state"] == "aborted"
    events = await fleet.drain()
    still_running = [m["agent_id"] for m in done["machines"] if m["state"] == "cancelled"]
    assert sorted(still_running) == sorted(rest) == sorted(cancels(events))
    assert "rollout.failed" in software(events)


async def test_a_machine_that_says_nothing_times_out(fleet: Fleet) -> None:
    rollout = await fleet.deploy(machine_timeout_seconds=10)
    await fleet.drain()
    a, b, c = fleet.agents
    await fleet.update(rollout["id"], a, "succeeded")
    await fleet.update(rollout["id"], b, "downloading")
    started = min(m["started_at"] for m in rollout["machines"])
    at = int(datetime.fromisoformat(started).timestamp() * 1000)
    await fleet.advance(rollout["id"], at + 5_000)
    assert (await fleet.get(rollout["id"]))["state"] == "running"
    await fleet.advance(rollout["id"], at + 10_001)
    done = await fleet.get(rollout["id"])
    assert done["state"] == "failed"
    states = {m["agent_id"]: (m["state"], m["error"]) for m in done["machines"]}
    assert states[a] == ("succeeded", None)
    assert states[b][0] == states[c][0] == "failed"
    assert "10 s" in (states[b][1] or "")
    events = await fleet.drain()
    assert sorted(cancels(events)) == sorted([b, c])
    assert software(events).count("machine.deploy_failed") == 2


async def test_cancel_stops_unfinished_machines(fleet: Fleet) -> None:
    rollout = await fleet.deploy(strategy="canary")
    await fleet.drain()
    canary = next(m["agent_id"] for m in rollout["machines"] if m["wave"] == 0)
    response = await fleet.client.post(f"/v1/rollouts/{rollout['id']}/cancel")
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["state"] == "cancelled"
    assert cancelled["counts"]["cancelled"] == 3
    events = await fleet.drain()
    assert cancels(events) == [canary]  # only started machines hear about it
    assert software(events) == ["rollout.cancelled"]
    again = await fleet.client.post(f"/v1/rollouts/{rollout['id']}/cancel")
    assert again.status_code == 409
    assert again.json()["code"] == "rollout_finished"
    # A late result from the canary is recorded, the rollout stays cancelled.
    await fleet.update(rollout["id"], canary, "succeeded")
    after = await fleet.get(rollout["id"])
    assert after["state"] == "cancelled"
    assert next(m for m in after["machines"] if m["agent_id"] == canary)["state"] == "succeeded"
    # Now a new deploy is allowed; while it runs, another is a conflict.
    await fleet.deploy()
    conflict = await fleet.client.post(f"/v1/apps/{fleet.app_id}/deploy", json={})
    assert conflict.status_code == 409
    assert conflict.json()["rollout_id"]


async def test_a_scheduled_rollout_fires_from_its_job_after_a_restart(fleet: Fleet) -> None:
    at = datetime.now(UTC) + timedelta(seconds=1.5)
    rollout = await fleet.deploy(schedule_at=at.isoformat())
    assert rollout["state"] == "scheduled"
    assert all(m["started_at"] is None for m in rollout["machines"])
    assert starts(await fleet.drain()) == []
    async with fleet.state.database.connect() as conn:
        job = (
            (await conn.execute(sa.select(jobs).where(jobs.c.kind == engine.START))).one()._mapping
        )
    assert job["payload"] == {"rollout_id": rollout["id"]}
    # A fresh runner (as after a restart) picks the durable job up once it is due.
    runner = JobRunner(
        fleet.state.database, engine.job_handlers(fleet.state.database, fleet.state.bus)
    )
    await anyio.sleep(1.6)
    await runner.run_once()
    # The server's own runner may have claimed the job first and still be running it.
    for _ in range(200):
        running = await fleet.get(rollout["id"])
        if running["state"] != "scheduled":
            break
        await anyio.sleep(0.05)
    assert running["state"] == "running"
    assert sorted(starts(await fleet.drain())) == sorted(fleet.agents)


async def test_cancelling_a_scheduled_rollout_cancels_its_job(fleet: Fleet) -> None:
    at = datetime.now(UTC) + timedelta(hours=1)
    rollout = await fleet.deploy(schedule_at=at.isoformat())
    response = await fleet.client.post(f"/v1/rollouts/{rollout['id']}/cancel")
    assert response.json()["state"] == "cancelled"
    async with fleet.state.database.connect() as conn:
        state = (
            await conn.execute(sa.select(jobs.c.state).where(jobs.c.kind == engine.START))
        ).scalar_one()
    assert state == "cancelled"
    await engine.start_scheduled(
        fleet.state.database, fleet.state.bus, org_id=fleet.org_id, rollout_id=rollout["id"]
    )
    assert (await fleet.get(rollout["id"]))["state"] == "cancelled"


async def test_every_rollout_event_names_the_apps_site(fleet: Fleet) -> None:
    """``site_id`` is in the bodies themselves, so nothing downstream has to look it up."""
    first = await fleet.deploy()
    await fleet.update(first["id"], fleet.agents[0], "failed", error="health check failed")
    for agent in fleet.agents[1:]:
        await fleet.update(first["id"], agent, "succeeded")
    second = await fleet.deploy()
    for agent in fleet.agents:
        await fleet.update(second["id"], agent, "succeeded")
    third = await fleet.deploy()
    response = await fleet.client.post(f"/v1/rollouts/{third['id']}/cancel")
    assert response.status_code == 200, response.text

    bodies = [(kind, body) for t, kind, body in await fleet.drain() if t.endswith(":software")]
    assert [kind for kind, _ in bodies] == [
        "rollout.started",
        "machine.deploy_failed",
        "rollout.failed",
        "rollout.started",
        "rollout.completed",
        "rollout.started",
        "rollout.cancelled",
    ]
    for kind, body in bodies:
        assert body["site_id"] == fleet.site_id, (kind, body)
        assert body["app_id"] == fleet.app_id
        assert body["rollout_id"] in (first["id"], second["id"], third["id"])
