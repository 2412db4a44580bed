"""Software delivery end to end: `yard push`, `yard serve` and two `yard agent run` machines.

A version pushed from the CLI reaches both machines; the next one fails its
health command on one machine, which switches back to the version before; a
canary that fails stops the rollout before the rest; a rollback makes the old
version current; a scheduled rollout fires after the server restarted.
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

from fleetyard import Client, RetryPolicy
from tests.conftest import ADMIN_KEY
from tests.e2e.agents import AgentProcess, eventually, wait_online
from tests.e2e.conftest import YARD, ServerProcess, start_server

pytestmark = pytest.mark.e2e

APP = "app_kiosk"
# Fails on the machine started with FAIL_HEALTH=1 (the agent passes its environment on).
HEALTH = ["sh", "-c", 'test -f index.html && test -z "$FAIL_HEALTH"']


@dataclass
class Fleet:
    server: ServerProcess
    client: Client
    site_id: str
    good: AgentProcess
    bad: AgentProcess
    ids: dict[str, str]
    dist: Path


@pytest.fixture
def fleet(tmp_path: Path, database_url: str) -> Iterator[Fleet]:
    server = start_server(tmp_path / "var", database_url)
    client = Client(base_url=server.url, api_key=ADMIN_KEY, retry=RetryPolicy(max_attempts=1))
    agents: list[AgentProcess] = []
    try:
        site = client.sites.create(name="kiosks")
        ids: dict[str, str] = {}
        for name, env in (("good", {}), ("bad", {"FAIL_HEALTH": "1"})):
            agent = client.agents.create(site_id=site.id, name=name, kind="machine")
            token = client.agents.token(agent.id).secret
            process = AgentProcess(tmp_path / name, server.url, token, env=env)
            process.start()
            agents.append(process)
            ids[name] = agent.id
        for agent_id in ids.values():
            wait_online(client, agent_id)
        dist = tmp_path / "dist"
        (dist / "css").mkdir(parents=True)
        (dist / "index.html").write_text("<h1>one</h1>\n")
        (dist / "css" / "site.css").write_text("h1 { color: teal }\n")
        yield Fleet(server, client, site.id, agents[0], agents[1], ids, dist)
    finally:
        for process in agents:
            process.stop()
        client.close()
        server.stop()


def _yard(server: ServerProcess, *args: str) -> dict[str, object]:
    env = {**os.environ, "FLEETYARD_URL": server.url, "FLEETYARD_API_KEY": ADMIN_KEY}
    done = subprocess.run(
        [YARD, "--json", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def _current(agent: AgentProcess) -> str | None:
    link = agent.apps / APP / "current"
    return (link / "index.html").read_text() if link.exists() else None


def test_push_deploy_health_failure_canary_and_rollback(fleet: Fleet) -> None:
    client, ids = fleet.client, fleet.ids
    one = _yard(fleet.server, "push", str(fleet.dist), APP, "--site", fleet.site_id, "-m", "one")
    assert one["number"] == 1
    client.apps.patch(APP, targets=[ids["good"], ids["bad"]])

    # Both machines get v1 (no health command yet).
    first = client.apps.deploy(APP).wait(timeout=120)
    assert first.state == "succeeded"
    assert _current(fleet.good) == _current(fleet.bad) == "<h1>one</h1>\n"

    # v2 with a health command that fails on one machine: that one switches back to v1.
    client.apps.patch(APP, run={"health_command": HEALTH})
    (fleet.dist / "index.html").write_text("<h1>two</h1>\n")
    two = _yard(fleet.server, "push", str(fleet.dist), APP, "-m", "two")
    assert two["number"] == 2
    rollout = client.apps.deploy(APP).wait(timeout=120)
    states = {m.agent_id: m.state for m in rollout.machines}
    assert states == {ids["good"]: "succeeded", ids["bad"]: "failed"}
    assert rollout.state == "failed"
    failed = next(m for m in rollout.machines if m.agent_id == ids["bad"])
    assert failed.error
    assert _current(fleet.good) == "<h1>two</h1>\n"
    assert _current(fleet.bad) == "<h1>one</h1>\n"

    # v3 as a canary on the failing machine first: the rollout stops, the good one keeps v2.
    (fleet.dist / "index.html").write_text("<h1>three</h1>\n")
    three = _yard(fleet.server, "push", str(fleet.dist), APP, "-m", "three")
    assert three["number"] == 3
    canary = client.apps.deploy(APP, machines=[ids["bad"], ids["good"]], canary=1).wait(timeout=120)
    assert canary.state == "aborted"
    assert {m.agent_id: m.state for m in canary.machines}[ids["good"]] == "skipped"
    assert _current(fleet.good) == "<h1>two</h1>\n"
    assert _current(fleet.bad) == "<h1>one</h1>\n"

    # Without the failing machine v3 goes out; then a rollback makes v1 current again.
    done = client.apps.deploy(APP, machines=[ids["good"]]).wait(timeout=120)
    assert done.state == "succeeded"
    assert _current(fleet.good) == "<h1>three</h1>\n"
    rolled = _yard(fleet.server, "rollback", APP, "--to", "v1")
    assert rolled["current_version"]["number"] == 1  # type: ignore[index]
    back = client.apps.deploy(APP, machines=[ids["good"]]).wait(timeout=120)
    assert back.state == "succeeded"
    assert _current(fleet.good) == "<h1>one</h1>\n"


def test_scheduled_rollout_fires_after_a_server_restart(fleet: Fleet) -> None:
    client, ids = fleet.client, fleet.ids
    _yard(fleet.server, "push", str(fleet.dist), APP, "--site", fleet.site_id, "-m", "one")
    client.apps.patch(APP, targets=[ids["good"]])
    scheduled = client.apps.deploy(APP, schedule_at=timedelta(seconds=4))
    assert scheduled.state == "scheduled"

    due = scheduled.rollout.schedule_at
    assert due is not None
    fleet.server.stop()  # down before the rollout is due…
    eventually(lambda: datetime.now(UTC) > due + timedelta(seconds=1), what="the due time")
    fleet.server.start()  # …and back: the job fires; the agents reconnect on their own

    finished = scheduled.wait(timeout=120)
    assert finished.state == "succeeded"
    assert _current(fleet.good) == "<h1>one</h1>\n"
