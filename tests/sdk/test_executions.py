"""``client.executions``, handles and their wait, scenes, schedules and agent commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx2
import pytest

import fleetyard
from fleetyard.protocol.executions import (
    Action,
    ActionGroup,
    Command,
    Execution,
    ExecutionCreate,
    ExecutionState,
)
from fleetyard.sdk import action

from .device_fakes import (
    URL,
    URL2,
    command_json,
    execution_json,
    page,
    scene_json,
    schedule_json,
    started_json,
)
from .fakes import FakeAPI, make_async_client, make_client, ok, problem

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


class FakeClock:
    """``client._now`` that moves only when the client sleeps."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_execute_with_actions_and_keywords(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(ok(started_json(), status=201))

    handle = client.executions.execute(
        actions=[
            action(URL, ("setClosure", 50), "stop"),
            {"device_url": URL2, "commands": [{"name": "open"}, ("setDeployment", 10)]},
        ],
        label="Half closed",
        mode="high_priority",
        gateway_id="agt_gw",
        queue=True,
    )

    assert (handle.id, handle.state, handle.gateway_id) == ("exe_1", "initialized", "agt_gw")
    assert (api.last.method, api.last.url.path) == ("POST", "/v1/executions")
    assert "Idempotency-Key" in api.last.headers
    assert json.loads(api.last.content) == {
        "actions": [
            {
                "device_url": URL,
                "commands": [
                    {"name": "setClosure", "parameters": [50]},
                    {"name": "stop", "parameters": []},
                ],
            },
            {
                "device_url": URL2,
                "commands": [
                    {"name": "open", "parameters": []},
                    {"name": "setDeployment", "parameters": [10]},
                ],
            },
        ],
        "label": "Half closed",
        "mode": "high_priority",
        "gateway_id": "agt_gw",
        "queue": True,
    }


def test_execute_a_model_keywords_win(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(ok(started_json(), status=201), ok(started_json("exe_2", "queued"), status=201))
    group = ActionGroup(
        label="From a model",
        actions=[Action(device_url=URL, commands=[Command(name="open")])],
    )

    client.executions.execute(group, label="Renamed")
    queued = client.executions.execute(ExecutionCreate(actions=group.actions, queue=True))

    first, second = api.bodies()
    assert first == {
        "label": "Renamed",
        "mode": "default",
        "actions": [{"device_url": URL, "commands": [{"name": "open", "parameters": []}]}],
    }
    assert second["queue"] is True
    assert queued.state is ExecutionState.QUEUED


def test_execute_needs_actions(client: fleetyard.Client) -> None:
    with pytest.raises(TypeError, match="actions"):
        client.executions.execute()
    with pytest.raises(TypeError, match="not both"):
        client.executions.execute(
            ActionGroup(actions=[action(URL, "open")]), actions=[action(URL, "open")]
        )


def test_queue_full_and_finished_have_their_own_errors(api: FakeAPI, sleeps: list[float]) -> None:
    client = make_client(api, sleeps, api_key="k", retry=fleetyard.RetryPolicy(max_attempts=1))
    api.reply(
        problem(429, "exec_queue_full", "10 executions running"),
        problem(409, "execution_finished", "already completed"),
    )

    with pytest.raises(fleetyard.ExecQueueFullError) as full:
        client.executions.execute(actions=[action(URL, "open")])
    with pytest.raises(fleetyard.ExecutionFinishedError):
        client.executions.cancel("exe_1")

    assert isinstance(full.value, fleetyard.RateLimitError)
    assert full.value.code == "exec_queue_full"


def test_a_full_queue_is_retried_with_the_same_key(
    api: FakeAPI, client: fleetyard.Client, sleeps: list[float]
) -> None:
    full = problem(429, "exec_queue_full")
    full.headers["Retry-After"] = "2"
    api.reply(full, ok(started_json(), status=201))

    handle = client.executions.execute(actions=[action(URL, "open")])

    assert handle.id == "exe_1"
    assert sleeps == [2.0]
    first, second = api.requests
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]


def test_wait_polls_until_finished_and_reports_changes(api: FakeAPI, sleeps: list[float]) -> None:
    client = make_client(api, sleeps, api_key="k")
    api.reply(
        ok(started_json(), status=201),
        ok(execution_json(state="transmitted")),
        ok(execution_json(state="transmitted")),  # no change: no progress call
        ok(execution_json(state="in_progress", command_state="in_progress")),
        ok(execution_json(state="completed", command_state="completed")),
    )
    seen: list[Execution] = []

    handle = client.executions.execute(actions=[action(URL, ("setClosure", 50))])
    done = handle.wait(on_progress=seen.append, poll_interval=0.25)

    assert done.state is ExecutionState.COMPLETED
    assert handle.state is ExecutionState.COMPLETED
    assert [e.state for e in seen] == ["transmitted", "in_progress", "completed"]
    assert sleeps == [0.25, 0.25, 0.25]
    assert {r.url.path for r in api.requests[1:]} == {"/v1/executions/exe_1"}


def test_wait_gives_up_after_the_timeout(api: FakeAPI, sleeps: list[float]) -> None:
    clock = FakeClock()
    client = make_client(api, sleeps, api_key="k")
    client._now = clock

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.sleep(seconds)

    client._sleep = sleep
    api.route("GET", "/v1/executions/exe_1", ok(execution_json(state="in_progress")))

    with pytest.raises(fleetyard.WaitTimeoutError) as caught:
        client.executions.wait("exe_1", timeout=1.2, poll_interval=0.5)

    assert sleeps == [0.5, 0.5, pytest.approx(0.2)]
    assert isinstance(caught.value, TimeoutError)
    assert isinstance(caught.value.last, Execution)
    assert "exe_1 did not finish within 1.2s" in str(caught.value)


def test_handle_get_and_cancel(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(
        ok(started_json(), status=201),
        ok(execution_json(state="in_progress")),
        ok(execution_json(state="cancelled")),
    )

    handle = client.executions.execute(actions=[action(URL, "open")])
    assert handle.get().state == "in_progress"
    cancelled = handle.cancel()

    assert cancelled.state is ExecutionState.CANCELLED
    assert repr(handle) == "<ExecutionHandle exe_1 cancelled>"
    assert (api.last.method, api.last.url.path) == ("POST", "/v1/executions/exe_1/cancel")


def test_current_and_history(api: FakeAPI, client: fleetyard.Client) -> None:
    client._now = lambda: NOW
    api.reply(
        ok(page([execution_json("exe_1")], next_cursor="c2")),
        ok(page([execution_json("exe_2")])),
        ok(page([execution_json("exe_3", state="failed")])),
    )

    current = [e.id for e in client.executions.current(gateway_id="agt_gw")]
    history = list(
        client.executions.history(
            gateway_id="agt_gw",
            device_url=URL,
            state="failed",
            start=timedelta(hours=1),
            end=datetime(2026, 11, 24, 11, 30, tzinfo=UTC),
            limit=10,
        )
    )

    assert current == ["exe_1", "exe_2"]
    assert [r.url.path for r in api.requests[:2]] == ["/v1/executions/current"] * 2
    assert api.requests[1].url.params["cursor"] == "c2"
    assert history[0].state is ExecutionState.FAILED
    assert dict(api.last.url.params) == {
        "limit": "10",
        "gateway_id": "agt_gw",
        "device_url": URL,
        "state": "failed",
        "start": "2026-11-24T11:00:00.000Z",
        "end": "2026-11-24T11:30:00.000Z",
    }


def test_scenes(api: FakeAPI, client: fleetyard.Client) -> None:
    client._now = lambda: NOW
    api.reply(
        ok(scene_json(), status=201),
        ok(page([scene_json()])),
        ok(scene_json()),
        ok(scene_json()),
        ok(started_json("exe_9"), status=201),
        ok(schedule_json(), status=201),
        ok({"id": "scn_1", "deleted": True}),
    )

    scene = client.action_groups.create(
        label="Good night", actions=[action(URL, "close")], gateway_id="agt_gw"
    )
    listed = list(client.action_groups.list(site_id="site_1"))
    client.action_groups.get("scn_1")
    client.action_groups.update("scn_1", label="Night", actions=[action(URL2, "close")])
    handle = client.action_groups.execute("scn_1", queue=True)
    schedule = client.action_groups.schedule("scn_1", at=timedelta(minutes=10))
    client.action_groups.delete("scn_1")

    assert scene.id == listed[0].id == "scn_1"
    assert handle.id == "exe_9"
    assert schedule.state == "pending"
    calls = [(r.method, r.url.path) for r in api.requests]
    assert calls == [
        ("POST", "/v1/action-groups"),
        ("GET", "/v1/action-groups"),
        ("GET", "/v1/action-groups/scn_1"),
        ("PATCH", "/v1/action-groups/scn_1"),
        ("POST", "/v1/action-groups/scn_1/execute"),
        ("POST", "/v1/action-groups/scn_1/schedules"),
        ("DELETE", "/v1/action-groups/scn_1"),
    ]
    bodies = api.bodies()
    assert bodies[0] == {
        "actions": [{"device_url": URL, "commands": [{"name": "close", "parameters": []}]}],
        "label": "Good night",
        "gateway_id": "agt_gw",
    }
    assert bodies[3] == {
        "label": "Night",
        "actions": [{"device_url": URL2, "commands": [{"name": "close", "parameters": []}]}],
    }
    assert bodies[4] == {"queue": True}
    assert bodies[5] == {"at": "2026-11-24T12:10:00.000Z", "queue": True}


def test_schedule_at_an_instant(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(ok(schedule_json(), status=201))

    client.action_groups.schedule("scn_1", at=datetime(2027, 1, 1, 8, 0), queue=False)

    assert api.bodies() == [{"at": "2027-01-01T08:00:00.000Z", "queue": False}]


def test_schedules(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(
        ok(page([schedule_json()])),
        ok(schedule_json()),
        ok(schedule_json(state="cancelled")),
    )

    listed = list(client.schedules.list(scene_id="scn_1", state="pending"))
    client.schedules.get("sch_1")
    cancelled = client.schedules.cancel("sch_1")

    assert listed[0].id == "sch_1"
    assert cancelled.state == "cancelled"
    assert dict(api.requests[0].url.params) == {"scene_id": "scn_1", "state": "pending"}
    assert [(r.method, r.url.path) for r in api.requests[1:]] == [
        ("GET", "/v1/schedules/sch_1"),
        ("POST", "/v1/schedules/sch_1/cancel"),
    ]


def test_agent_commands(api: FakeAPI, client: fleetyard.Client, sleeps: list[float]) -> None:
    api.reply(
        ok(command_json(), status=201),
        ok(command_json(state="sent")),
        ok(command_json(state="completed", result={"pong": True})),
        ok(page([command_json()])),
        ok(command_json()),
    )

    command = client.agents.dispatch_command(
        "agt_1", "ping", {"count": 1}, timeout_seconds=5, idempotency_key="k-1"
    )
    done = client.agents.wait_command("agt_1", command.id, timeout=30)
    listed = list(client.agents.list_commands("agt_1"))
    client.agents.get_command("agt_1", "cmd_1")

    assert done.result == {"pong": True}
    assert sleeps == [0.5]
    assert listed[0].id == "cmd_1"
    first = api.requests[0]
    assert (first.method, first.url.path) == ("POST", "/v1/agents/agt_1/commands")
    assert first.headers["Idempotency-Key"] == "k-1"
    assert json.loads(first.content) == {"name": "ping", "args": {"count": 1}, "timeout_seconds": 5}
    assert [r.url.path for r in api.requests[1:]] == [
        "/v1/agents/agt_1/commands/cmd_1",
        "/v1/agents/agt_1/commands/cmd_1",
        "/v1/agents/agt_1/commands",
        "/v1/agents/agt_1/commands/cmd_1",
    ]


def test_raw_wait_answers_the_last_poll(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(
        httpx2.Response(200, json=command_json(state="failed"), headers={"X-Request-Id": "req_7"})
    )

    raw = client.with_raw_response.agents.wait_command("agt_1", "cmd_1")

    assert raw.request_id == "req_7"
    assert raw.parse().state == "failed"


@pytest.mark.anyio
async def test_async_execute_wait_and_cancel(api: FakeAPI) -> None:
    sleeps: list[float] = []
    api.reply(
        ok(started_json(), status=201),
        ok(execution_json(state="in_progress")),
        ok(execution_json(state="failed")),
        ok(started_json("exe_2"), status=201),
        problem(409, "execution_finished"),
    )
    seen: list[str] = []
    async with make_async_client(api, sleeps, api_key="k") as client:
        handle = await client.executions.execute(actions=[action(URL, "open")], label="x")
        done = await handle.wait(on_progress=lambda e: seen.append(e.state))
        scene_handle = await client.action_groups.execute("scn_1")
        with pytest.raises(fleetyard.ExecutionFinishedError):
            await scene_handle.cancel()

    assert done.state is ExecutionState.FAILED
    assert seen == ["in_progress", "failed"]
    assert sleeps == [0.5]
    assert isinstance(scene_handle, fleetyard.AsyncExecutionHandle)
    assert api.last.url.path == "/v1/executions/exe_2/cancel"


@pytest.mark.anyio
async def test_async_history_and_schedules(api: FakeAPI) -> None:
    api.reply(ok(page([execution_json()])), ok(page([schedule_json()])))
    async with make_async_client(api, [], api_key="k") as client:
        history = [e.id async for e in client.executions.history(state="completed")]
        schedules = [s.id async for s in client.schedules.list()]

    assert (history, schedules) == (["exe_1"], ["sch_1"])


def test_bad_answers_are_validation_errors(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(httpx2.Response(201, json={"id": "exe_1"}))

    with pytest.raises(fleetyard.APIResponseValidationError):
        client.executions.execute(actions=[action(URL, "open")])
