"""The agent against the real server (uvicorn in a thread), through a proxy that cuts links."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY
from urllib.parse import quote

import httpx2
import pytest

from fleetyard.agent.config import load_config
from fleetyard.agent.local import LocalPublisher
from fleetyard.agent.runner import AgentRunner
from fleetyard.server.settings import Settings
from tests.agent.conftest import AWNING, SETUP
from tests.conftest import ADMIN_KEY
from tests.support.live import LiveServer
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.anyio


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(
        settings.model_copy(
            update={"agent_heartbeat_seconds": 2.0, "retention_interval_seconds": 0}
        )
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


class World:
    def __init__(self, live: LiveServer) -> None:
        self.http = httpx2.Client(
            base_url=live.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
        )
        site = self.ok(self.http.post("/v1/sites", json={"name": f"s{time.time_ns()}"}), 201)
        agent = self.ok(
            self.http.post(
                "/v1/agents", json={"site_id": site["id"], "name": "gw", "kind": "gateway"}
            ),
            201,
        )
        self.agent_id: str = agent["id"]
        self.token: str = self.ok(
            self.http.post(f"/v1/agents/{self.agent_id}/token", json={}), 201
        )["secret"]
        setup = json.loads(SETUP.read_text())
        self.ok(
            self.http.post(
                "/v1/devices/import", json={"gateway_id": self.agent_id, "setup": setup}
            ),
            201,
        )

    @staticmethod
    def ok(response: httpx2.Response, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json()

    def messages(self, channel: str) -> list[dict[str, Any]]:
        found = self.ok(self.http.get(f"/v1/agents/{self.agent_id}/channels/{quote(channel)}"))
        response = self.http.get(f"/v1/channels/{found['id']}/messages", params={"limit": 1000})
        items: list[dict[str, Any]] = self.ok(response)["items"]
        return items


@pytest.fixture
def world(live: LiveServer) -> Iterator[World]:
    w = World(live)
    yield w
    w.http.close()


@pytest.fixture
def proxy(live: LiveServer) -> Iterator[TcpProxy]:
    with TcpProxy(("127.0.0.1", live.port)) as p:
        yield p


class Agent:
    def __init__(self, runner: AgentRunner) -> None:
        self.runner = runner
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.changed = asyncio.Event()

    def on_event(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))
        self.changed.set()

    async def until(self, check: Callable[[], bool], seconds: float = 20.0) -> None:
        """Until ``check()`` holds; re-checked on every agent event and every 50 ms (server-side
        facts have no event to wait on here)."""
        async with asyncio.timeout(seconds):
            while not check():
                self.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), 0.05)

    def connections(self) -> int:
        return sum(1 for kind, _ in self.events if kind == "connected")


@pytest.fixture
def agent_factory(world: World, proxy: TcpProxy, tmp_path: Path) -> Callable[[], Any]:
    def make() -> Any:
        config = load_config(
            None,
            data_dir=str(tmp_path / "agent"),
            local_api={"port": 0},
            simulator={"setup": str(SETUP), "step_seconds": 0.02, "steps": 3},
            connection={"backoff_base_seconds": 0.05, "backoff_max_seconds": 0.2},
        )
        holder: dict[str, Agent] = {}
        runner = AgentRunner(
            config,
            url=f"http://127.0.0.1:{proxy.port}",
            token=world.token,
            on_event=lambda k, d: holder["agent"].on_event(k, d),
        )
        holder["agent"] = Agent(runner)
        return holder["agent"]

    return make


@pytest.fixture
async def agent(agent_factory: Callable[[], Agent]) -> AsyncIterator[Agent]:
    a = agent_factory()
    task = asyncio.create_task(a.runner.run())
    await a.until(lambda: a.connections() >= 1)
    yield a
    a.runner.stop()
    await task


async def test_local_telemetry_survives_a_network_cut_exactly_once(
    agent: Agent, world: World, proxy: TcpProxy
) -> None:
    api = agent.runner.local_api
    assert api is not None
    with LocalPublisher(api.url) as local:
        first = [await asyncio.to_thread(local.publish, "status", {"n": n}) for n in range(5)]
        await agent.until(lambda: agent.runner.outbox.count() == 0)
        proxy.cut()
        await agent.until(lambda: any(k == "disconnected" for k, _ in agent.events))
        offline = [await asyncio.to_thread(local.publish, "status", {"n": n}) for n in range(5, 30)]
        assert agent.runner.outbox.count() == 25
        proxy.restore()
        await agent.until(lambda: agent.connections() >= 2)
        await agent.until(lambda: agent.runner.outbox.count() == 0)
    stored = world.messages("status")
    assert sorted(m["payload"]["n"] for m in stored) == list(range(30))
    assert len(first + offline) == 30


async def test_execution_runs_on_the_simulator_and_states_reach_the_server(
    agent: Agent, world: World
) -> None:
    started = world.ok(
        world.http.post(
            "/v1/executions",
            json={
                "label": "half",
                "gateway_id": world.agent_id,
                "actions": [
                    {"device_url": AWNING, "commands": [{"name": "setClosure", "parameters": [50]}]}
                ],
            },
        ),
        201,
    )

    def execution() -> dict[str, Any]:
        found: dict[str, Any] = world.ok(world.http.get(f"/v1/executions/{started['id']}"))
        return found

    await agent.until(lambda: execution()["state"] == "completed")
    assert execution()["actions"][0]["commands"][0]["state"] == "completed"

    def closure() -> Any:
        page = world.ok(world.http.get("/v1/devices", params={"device_url": AWNING}))
        states = {s["name"]: s["value"] for s in page["items"][0]["states"]}
        return states.get("core:ClosureState")

    await agent.until(lambda: closure() == 50)


async def test_machine_command_ping_and_refused_shell(agent: Agent, world: World) -> None:
    ping = world.ok(
        world.http.post(f"/v1/agents/{world.agent_id}/commands", json={"name": "ping"}), 201
    )
    shell = world.ok(
        world.http.post(
            f"/v1/agents/{world.agent_id}/commands",
            json={"name": "shell", "args": {"command": "id"}},
        ),
        201,
    )

    def state(command_id: str) -> dict[str, Any]:
        found: dict[str, Any] = world.ok(
            world.http.get(f"/v1/agents/{world.agent_id}/commands/{command_id}")
        )
        return found

    await agent.until(lambda: state(ping["id"])["state"] == "completed")
    assert state(ping["id"])["result"]["pong"] is True
    await agent.until(lambda: state(shell["id"])["state"] == "failed")
    assert state(shell["id"])["error"] == "command_not_enabled: shell"


def test_yard_agent_run_process_connects_and_stops_cleanly_on_sigterm(
    live: LiveServer, world: World, tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys

    yard = Path(sys.executable).parent / "yard"
    command = [str(yard), "agent", "run", "--simulate", str(SETUP), "--url", live.url]
    command += ["--data-dir", str(tmp_path / "agent"), "--local-port", "0", "--json"]
    env = {**os.environ, "FLEETYARD_AGENT_TOKEN": world.token}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())
        assert started["event"] == "started"
        assert started["simulated_devices"] == 8
        connected = json.loads(process.stdout.readline())
        assert connected == {"event": "connected", "agent_id": world.agent_id, "site_id": ANY}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert json.loads(process.stdout.readline())["event"] == "stopped"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
