"""``client.apps.deploy``, rollout handles and ``client.rollouts``: request shapes and waits."""

from __future__ import annotations

import doctest
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest

import fleetyard
from fleetyard.protocol.rollouts import Rollout, RolloutState
from fleetyard.sdk.resources import rollouts as rollouts_module

from .device_fakes import page
from .fakes import TS, FakeAPI, make_async_client, make_client, ok, problem

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
VERSION_ID = "ver_" + "a" * 32


class FakeClock:
    """``client._now`` that moves only when the client sleeps."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def machine_json(agent_id: str = "agt_1", state: str = "queued", wave: int = 0) -> dict[str, Any]:
    return {
        "agent_id": agent_id,
        "state": state,
        "wave": wave,
        "error": "health check failed" if state == "failed" else None,
        "started_at": None if state == "queued" else TS,
        "updated_at": TS,
        "finished_at": TS if state in ("succeeded", "failed") else None,
    }


def rollout_json(
    rollout_id: str = "rol_1", state: str = "running", machines: list[str] | None = None
) -> dict[str, Any]:
    states = machines if machines is not None else ["queued", "queued"]
    items = [machine_json(f"agt_{n}", s) for n, s in enumerate(states, 1)]
    counts = {s: states.count(s) for s in set(states)}
    return {
        "id": rollout_id,
        "app_id": "app_kiosk",
        "version_id": VERSION_ID,
        "version_number": 3,
        "state": state,
        "options": {"strategy": "all_at_once"},
        "counts": counts,
        "machines": items,
        "created_at": TS,
        "updated_at": TS,
        "finished_at": None,
        "schedule_at": None,
    }


def test_doctests_of_the_module() -> None:
    result = doctest.testmod(rollouts_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_deploy_sends_only_what_was_given(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(ok(rollout_json(), status=201))

    handle = client.apps.deploy("app_kiosk")

    assert (api.last.method, api.last.url.path) == ("POST", "/v1/apps/app_kiosk/deploy")
    assert json.loads(api.last.content) == {"version": "current"}
    assert "Idempotency-Key" in api.last.headers
    assert isinstance(handle, fleetyard.RolloutHandle)
    assert (handle.id, handle.state) == ("rol_1", RolloutState.RUNNING)
    assert handle.rollout.version_number == 3
    assert repr(handle) == "<RolloutHandle rol_1 running>"


def test_deploy_with_every_option(api: FakeAPI, sleeps: list[float]) -> None:
    client = make_client(api, sleeps, api_key="k")
    client._now = lambda: NOW
    api.reply(ok(rollout_json(state="scheduled"), status=201))

    client.apps.deploy(
        "app_kiosk",
        3,
        machines=("agt_1", "agt_2"),
        canary=2,
        abort_failure_percent=20,
        abort_min_count=3,
        machine_timeout=600,
        schedule_at=timedelta(minutes=10),
        idempotency_key="deploy-1",
    )

    assert api.last.headers["Idempotency-Key"] == "deploy-1"
    assert json.loads(api.last.content) == {
        "version": 3,
        "machines": ["agt_1", "agt_2"],
        "strategy": "canary",
        "canary_count": 2,
        "abort_failure_percent": 20,
        "abort_min_count": 3,
        "machine_timeout_seconds": 600,
        "schedule_at": "2026-11-24T12:10:00.000Z",
    }


@pytest.mark.parametrize(
    ("kwargs", "fields"),
    [
        ({"canary": "10%"}, {"strategy": "canary", "canary_percent": 10.0}),
        ({"canary": "3"}, {"strategy": "canary", "canary_count": 3}),
        ({"strategy": "canary"}, {"strategy": "canary"}),
        ({"rate": 5}, {"strategy": "rate", "rate_per_minute": 5}),
        ({"version": "v2", "dry_run": True}, {"version": "v2", "dry_run": True}),
        (
            {"schedule_at": datetime(2027, 1, 31, 12, 0)},
            {"schedule_at": "2027-01-31T12:00:00.000Z"},
        ),
    ],
)
def test_deploy_bodies(
    api: FakeAPI, client: fleetyard.Client, kwargs: dict[str, Any], fields: dict[str, Any]
) -> None:
    api.reply(ok(rollout_json(), status=201))

    client.apps.deploy("app_kiosk", **kwargs)

    assert json.loads(api.last.content) == {"version": "current", **fields}


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"canary": 2, "rate": 5}, ValueError),
        ({"canary": "0%"}, ValueError),
        ({"canary": "ten"}, ValueError),
        ({"canary": 0}, ValueError),
        ({"canary": 2.5}, TypeError),
        ({"machines": "agt_1"}, TypeError),
        ({"version": True}, TypeError),
        ({"schedule_at": "tomorrow"}, TypeError),
    ],
)
def test_bad_deploy_arguments_fail_before_sending(
    api: FakeAPI, client: fleetyard.Client, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        client.apps.deploy("app_kiosk", **kwargs)

    assert api.requests == []


def test_a_dry_run_handle_answers_its_plan_without_polling(
    api: FakeAPI, client: fleetyard.Client
) -> None:
    plan = rollout_json("rol_dry", state="dry_run")
    api.reply(ok(plan))

    handle = client.apps.deploy("app_kiosk", dry_run=True)

    assert handle.wait() is handle.rollout
    assert handle.get() is handle.rollout
    assert [m.agent_id for m in handle.rollout.machines] == ["agt_1", "agt_2"]
    assert len(api.requests) == 1


def test_wait_polls_until_finished_and_reports_changes(api: FakeAPI, sleeps: list[float]) -> None:
    client = make_client(api, sleeps, api_key="k")
    api.reply(
        ok(rollout_json(), status=201),
        ok(rollout_json(machines=["downloading", "queued"])),
        ok(rollout_json(machines=["downloading", "queued"])),  # no change: no progress call
        ok(rollout_json(machines=["succeeded", "installing"])),
        ok(rollout_json(state="succeeded", machines=["succeeded", "succeeded"])),
    )
    seen: list[Rollout] = []

    handle = client.apps.deploy("app_kiosk")
    done = handle.wait(on_progress=seen.append)

    assert done.state is RolloutState.SUCCEEDED
    assert (handle.state, handle.rollout) == (RolloutState.SUCCEEDED, done)
    assert [[m.state.value for m in r.machines] for r in seen] == [
        ["downloading", "queued"],
        ["succeeded", "installing"],
        ["succeeded", "succeeded"],
    ]
    assert sleeps == [2.0, 2.0, 2.0]  # the rollout poll interval
    assert {r.url.path for r in api.requests[1:]} == {"/v1/rollouts/rol_1"}


@pytest.mark.parametrize("state", ["failed", "aborted", "cancelled"])
def test_wait_stops_at_every_final_state(
    api: FakeAPI, client: fleetyard.Client, state: str
) -> None:
    api.reply(ok(rollout_json(state=state, machines=["failed", "skipped"])))

    assert client.rollouts.wait("rol_1", poll_interval=1).state == state


def test_wait_gives_up_after_the_timeout(api: FakeAPI, sleeps: list[float]) -> None:
    clock = FakeClock()
    client = make_client(api, sleeps, api_key="k")
    client._now = clock

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.sleep(seconds)

    client._sleep = sleep
    api.reply(ok(rollout_json(), status=201))
    api.route("GET", "/v1/rollouts/rol_1", ok(rollout_json(machines=["installing"])))
    handle = client.apps.deploy("app_kiosk")

    with pytest.raises(fleetyard.WaitTimeoutError) as caught:
        handle.wait(timeout=5, poll_interval=2)

    assert sleeps == [2, 2, pytest.approx(1)]
    assert isinstance(caught.value.last, Rollout)
    assert "rollout rol_1 did not finish within 5s" in str(caught.value)
    assert handle.state is RolloutState.RUNNING  # the rollout goes on
    assert len(api.requests) == 5  # the deploy, then polls at 0, 2, 4 and 5 s


def test_handle_get_and_cancel(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(
        ok(rollout_json(), status=201),
        ok(rollout_json(machines=["installing", "queued"])),
        ok(rollout_json(state="cancelled", machines=["installing", "cancelled"])),
        problem(409, "rollout_finished", "the rollout already finished"),
    )

    handle = client.apps.deploy("app_kiosk")
    assert handle.get().machines[0].state == "installing"
    assert handle.cancel().state is RolloutState.CANCELLED
    assert handle.state is RolloutState.CANCELLED
    with pytest.raises(fleetyard.ConflictError) as caught:
        handle.cancel()

    assert caught.value.code == "rollout_finished"
    assert [(r.method, r.url.path) for r in api.requests[1:]] == [
        ("GET", "/v1/rollouts/rol_1"),
        ("POST", "/v1/rollouts/rol_1/cancel"),
        ("POST", "/v1/rollouts/rol_1/cancel"),
    ]


def test_list_follows_cursors(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(
        ok(page([rollout_json("rol_2")], next_cursor="c2")),
        ok(page([rollout_json("rol_1")])),
    )

    found = [r.id for r in client.rollouts.list("app_kiosk", limit=1)]

    assert found == ["rol_2", "rol_1"]
    first, second = api.requests
    assert first.url.path == "/v1/apps/app_kiosk/rollouts"
    assert dict(first.url.params) == {"limit": "1"}
    assert dict(second.url.params) == {"limit": "1", "cursor": "c2"}


def test_list_for_agent_and_pages(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(
        ok(page([rollout_json()])),
        ok(page([rollout_json()], next_cursor="n")),
        ok(page([])),
    )

    assert [r.id for r in client.rollouts.list_for_agent("agt_1")] == ["rol_1"]
    assert client.rollouts.list_page("app_kiosk").next_cursor == "n"
    assert client.rollouts.list_for_agent_page("agt/1", "c").items == []

    paths = [r.url.raw_path.decode().partition("?")[0] for r in api.requests]
    assert list(zip(paths, [dict(r.url.params) for r in api.requests], strict=True)) == [
        ("/v1/agents/agt_1/rollouts", {}),
        ("/v1/apps/app_kiosk/rollouts", {}),
        ("/v1/agents/agt%2F1/rollouts", {"cursor": "c"}),
    ]


def test_get_and_cancel_by_id(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(ok(rollout_json()), ok(rollout_json(state="cancelled")))

    assert client.rollouts.get("rol_1").state is RolloutState.RUNNING
    assert client.rollouts.cancel("rol_1").state is RolloutState.CANCELLED
    assert [(r.method, r.url.path) for r in api.requests] == [
        ("GET", "/v1/rollouts/rol_1"),
        ("POST", "/v1/rollouts/rol_1/cancel"),
    ]
    assert "Idempotency-Key" in api.last.headers


def test_unknown_rollouts_are_not_found(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(problem(404, "not_found", "no rollout rol_9"))

    with pytest.raises(fleetyard.NotFoundError):
        client.rollouts.get("rol_9")


def test_raw_views(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(
        httpx2.Response(200, json=rollout_json(state="failed"), headers={"X-Request-Id": "req_7"}),
        ok(page([rollout_json()])),
    )

    raw = client.with_raw_response.rollouts.wait("rol_1")
    listed = client.with_raw_response.rollouts.list_page("app_kiosk")

    assert raw.request_id == "req_7"
    assert raw.parse().state is RolloutState.FAILED
    assert [r.id for r in listed.parse().items] == ["rol_1"]


@pytest.mark.anyio
async def test_async_deploy_wait_cancel_and_list(api: FakeAPI) -> None:
    sleeps: list[float] = []
    api.reply(
        ok(rollout_json(), status=201),
        ok(rollout_json(machines=["installing", "queued"])),
        ok(rollout_json(state="failed", machines=["failed", "skipped"])),
        problem(409, "rollout_finished"),
        ok(page([rollout_json()], next_cursor="c")),
        ok(page([rollout_json("rol_0")])),
        ok(page([rollout_json()])),
        ok(rollout_json(state="aborted")),
    )
    seen: list[str] = []
    async with make_async_client(api, sleeps, api_key="k") as client:
        handle = await client.apps.deploy("app_kiosk", "v3", rate=2)
        done = await handle.wait(on_progress=lambda r: seen.append(r.state), poll_interval=1)
        with pytest.raises(fleetyard.ConflictError):
            await handle.cancel()
        listed = [r.id async for r in client.rollouts.list("app_kiosk")]
        for_agent = [r.id async for r in client.rollouts.list_for_agent("agt_1")]
        got = await client.rollouts.get("rol_1")

    assert isinstance(handle, fleetyard.AsyncRolloutHandle)
    assert json.loads(api.requests[0].content) == {
        "version": "v3",
        "strategy": "rate",
        "rate_per_minute": 2,
    }
    assert done.state is RolloutState.FAILED
    assert seen == ["running", "failed"]
    assert sleeps == [1]
    assert (listed, for_agent, got.state) == (["rol_1", "rol_0"], ["rol_1"], "aborted")


@pytest.mark.anyio
async def test_async_dry_run_and_raw(api: FakeAPI) -> None:
    api.reply(
        ok(rollout_json("rol_dry", state="dry_run")),
        httpx2.Response(200, json=rollout_json(), headers={"X-Request-Id": "req_8"}),
    )
    async with make_async_client(api, [], api_key="k") as client:
        handle = await client.apps.deploy("app_kiosk", dry_run=True)
        assert await handle.wait() is handle.rollout
        assert await handle.get() is handle.rollout
        raw = await client.with_raw_response.rollouts.get("rol_1")

    assert raw.request_id == "req_8"
    assert len(api.requests) == 2
