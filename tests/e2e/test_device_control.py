"""Device control end to end: `yard serve` and two `yard agent run --simulate` processes.

Two gateways simulate two real setups; executions go through the SDK and the
CLI, states change on the server, events arrive through a listener, cancel
reaches the agent, the per-gateway limit answers 429 or queues, and a
scheduled scene still fires after the server restarted.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fleetyard import Client, ExecQueueFullError, RetryPolicy
from fleetyard.protocol.executions import CommandState, ExecutionState
from fleetyard.sdk import action
from tests.conftest import ADMIN_KEY
from tests.e2e.agents import AgentProcess, eventually, wait_online
from tests.e2e.conftest import YARD, ServerProcess, start_server
from tests.support.fixtures import LOCAL_TAHOMA, SETUPS

pytestmark = pytest.mark.e2e

AWNING = "io://1234-5678-3293/3541212"
AWNING_2 = "io://1234-5678-3293/5770898"
AWNING_3 = "io://1234-5678-3293/5353900"
OTHER_GATEWAY_AWNING = "io://1234-1234-1234/5928357"


@dataclass
class Fleet:
    server: ServerProcess
    client: Client
    gateways: dict[str, str]
    agents: list[AgentProcess]


def _fleet(tmp_path: Path, database_url: str, env: dict[str, str]) -> Iterator[Fleet]:
    server = start_server(tmp_path / "var", database_url, env)
    agents: list[AgentProcess] = []
    client = Client(base_url=server.url, api_key=ADMIN_KEY, retry=RetryPolicy(max_attempts=1))
    try:
        site = client.sites.create(name="home")
        gateways: dict[str, str] = {}
        for name, setup in (("tahoma", LOCAL_TAHOMA), ("local", SETUPS / "setup_local.json")):
            gateway = client.agents.create(site_id=site.id, name=name, kind="gateway")
            imported = client.devices.import_setup(setup, gateway_id=gateway.id)
            assert imported.skipped == []
            token = client.agents.token(gateway.id).secret
            agent = AgentProcess(tmp_path / name, server.url, token, setup)
            agent.start()
            agents.append(agent)
            gateways[name] = gateway.id
        for gateway_id in gateways.values():
            wait_online(client, gateway_id)
        yield Fleet(server, client, gateways, agents)
    finally:
        for agent in agents:
            agent.stop()
        client.close()
        server.stop()


@pytest.fixture
def fleet(tmp_path: Path, database_url: str) -> Iterator[Fleet]:
    yield from _fleet(tmp_path, database_url, {})


@pytest.fixture
def small_fleet(tmp_path: Path, database_url: str) -> Iterator[Fleet]:
    """A server that lets each gateway run two executions at once."""
    yield from _fleet(tmp_path, database_url, {"FLEETYARD_EXECUTION_LIMIT_PER_GATEWAY": "2"})


def _yard_json(server: ServerProcess, *args: str) -> dict[str, object]:
    env = {**os.environ, "FLEETYARD_URL": server.url, "FLEETYARD_API_KEY": ADMIN_KEY}
    done = subprocess.run(
        [YARD, "--json", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_commands_move_simulated_devices_and_events_tell(fleet: Fleet) -> None:
    client = fleet.client
    listener = client.events.register_listener()

    # SDK: a blind on the first gateway moves to 50 %.
    handle = client.executions.execute(actions=[action(AWNING, ("setClosure", 50))], label="half")
    done = handle.wait(timeout=30)
    assert done.state is ExecutionState.COMPLETED
    assert done.gateway_id == fleet.gateways["tahoma"]
    moves = [t.state for t in done.history]
    assert moves[0] is ExecutionState.INITIALIZED
    assert moves[-1] is ExecutionState.COMPLETED
    assert ExecutionState.IN_PROGRESS in moves
    blind = client.devices.get(AWNING)
    assert blind.state_value("core:ClosureState") == 50

    # CLI: the other gateway's awning opens; `--wait` returns the finished execution.
    opened = _yard_json(fleet.server, "exec", OTHER_GATEWAY_AWNING, "open", "--wait")
    assert opened["state"] == "completed"
    assert opened["gateway_id"] == fleet.gateways["local"]

    # Cancel reaches the agent: a long move stops short of its target.
    slow = client.executions.execute(actions=[action(AWNING_2, ("setClosure", 100))])
    eventually(
        lambda: client.executions.get(slow.id).state is ExecutionState.IN_PROGRESS,
        what="the move to start",
    )
    cancelled = slow.cancel()
    assert cancelled.state is ExecutionState.CANCELLED
    command = eventually(
        lambda: (
            c
            if (c := client.executions.get(slow.id).actions[0].commands[0]).state
            is CommandState.CANCELLED
            else None
        ),
        what="the agent to report the command cancelled",
    )
    assert command.name == "setClosure"
    stopped_at = client.devices.get(AWNING_2).state_value("core:ClosureState")
    assert isinstance(stopped_at, int)
    assert stopped_at < 100

    # The listener saw all of it, in order.
    seen: list[tuple[str, str | None, str | None]] = []

    def saw_everything() -> bool:
        for event in client.events.fetch(listener.id, timeout=2):
            seen.append((str(event.type), event.execution_id, event.device_url))
        return (
            ("execution.state_changed", done.id, None) in seen
            and ("execution.state_changed", slow.id, None) in seen
            and any(t == "device.state_changed" and url == AWNING for t, _, url in seen)
        )

    eventually(saw_everything, what="the events")
    assert seen.index(("execution.registered", done.id, None)) < seen.index(
        ("execution.state_changed", done.id, None)
    )


def test_gateway_limit_refuses_or_queues_in_order(small_fleet: Fleet) -> None:
    client = small_fleet.client
    running = [
        client.executions.execute(actions=[action(url, ("setClosure", 100))])
        for url in (AWNING, AWNING_2)
    ]
    with pytest.raises(ExecQueueFullError) as refused:
        client.executions.execute(actions=[action(AWNING_3, ("setClosure", 100))])
    assert refused.value.status == 429
    assert refused.value.code == "exec_queue_full"

    queued = client.executions.execute(actions=[action(AWNING_3, ("setClosure", 100))], queue=True)
    assert queued.state is ExecutionState.QUEUED
    finished = [h.wait(timeout=60) for h in [*running, queued]]
    assert [e.state for e in finished] == [ExecutionState.COMPLETED] * 3
    # The queued one started only after a slot freed.
    first_done = min(e.finished_at for e in finished[:2] if e.finished_at is not None)
    started = next(t.at for t in finished[2].history if t.state is ExecutionState.INITIALIZED)
    assert finished[2].history[0].state is ExecutionState.QUEUED
    assert started >= first_done


def test_scheduled_scene_fires_after_a_server_restart(fleet: Fleet) -> None:
    client = fleet.client
    scene = client.action_groups.create(
        label="evening", actions=[action(AWNING, ("setClosure", 30))]
    )
    at = datetime.now(UTC) + timedelta(seconds=4)
    schedule = client.action_groups.schedule(scene.id, at=at)
    assert schedule.state == "pending"

    fleet.server.stop()  # down before the schedule is due…
    eventually(lambda: datetime.now(UTC) > at + timedelta(seconds=1), what="the due time")
    fleet.server.start()  # …and back: the durable job fires once.

    fired = eventually(
        lambda: s if (s := client.schedules.get(schedule.id)).state != "pending" else None,
        timeout=30,
        what="the schedule to fire",
    )
    assert fired.state == "fired"
    assert fired.execution_id is not None
    execution = client.executions.wait(fired.execution_id, timeout=60)
    assert execution.state is ExecutionState.COMPLETED
    assert execution.schedule_id == schedule.id
    assert client.devices.get(AWNING).state_value("core:ClosureState") == 30
    fired_again = [
        e
        for e in client.executions.history(gateway_id=fleet.gateways["tahoma"])
        if e.schedule_id == schedule.id
    ]
    assert len(fired_again) == 1
