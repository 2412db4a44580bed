"""ActionQueue / AsyncActionQueue: what is merged, what flushes, who gets which answer.

Batches are closed by explicit triggers (flush, a label or mode change,
max_actions, close) with a long delay, so no test depends on timing; the
delay timer itself is tested with a short delay and a blocking wait on the
answer, never a sleep.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import pytest
from anyio import wait_all_tasks_blocked

import fleetyard
from fleetyard import ActionQueue, AsyncActionQueue
from fleetyard.sdk import action

from .device_fakes import URL, URL2, started_json
from .fakes import FakeAPI, make_async_client, ok, problem

URL3 = "io://1234-5678-3293/7614902"
LONG = 60.0


class Executions:
    """A fake POST /v1/executions answering exe_1, exe_2… and keeping the bodies."""

    def __init__(self, api: FakeAPI) -> None:
        self.bodies: list[dict[str, Any]] = []
        api.route("POST", "/v1/executions", self)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.bodies.append(json.loads(request.content))
        return ok(started_json(f"exe_{len(self.bodies)}"), status=201)

    def commands(self, n: int = 0) -> dict[str, list[str]]:
        return {
            a["device_url"]: [c["name"] for c in a["commands"]] for a in self.bodies[n]["actions"]
        }


@pytest.fixture
def executions(api: FakeAPI) -> Executions:
    return Executions(api)


@pytest.fixture
def queue(client: fleetyard.Client) -> Iterator[ActionQueue]:
    q = ActionQueue(client, delay=LONG, max_actions=3, gateway_id="agt_gw")
    yield q
    q.close()


def test_same_device_is_appended_and_everyone_gets_the_same_id(
    queue: ActionQueue, executions: Executions
) -> None:
    first = queue.add(action(URL, ("setClosure", 50)))
    second = queue.add({"device_url": URL2, "commands": ["close"]})
    third = queue.add([action(URL, "stop")])
    queue.flush()

    assert {f.result(timeout=5) for f in (first, second, third)} == {"exe_1"}
    assert executions.commands() == {URL: ["setClosure", "stop"], URL2: ["close"]}
    body = executions.bodies[0]
    assert (body["label"], body["mode"], body["gateway_id"], body["queue"]) == (
        "",
        "default",
        "agt_gw",
        False,
    )
    assert body["actions"][0]["commands"][0]["parameters"] == [50]


def test_a_label_change_sends_the_pending_batch_first(
    queue: ActionQueue, executions: Executions
) -> None:
    morning = queue.add(action(URL, "open"), label="morning")
    also_morning = queue.add(action(URL2, "open"), label="morning")
    evening = queue.add(action(URL, "close"), label="evening")

    # The morning batch went without a flush; the evening one waits for its delay.
    assert morning.result(timeout=5) == also_morning.result(timeout=5) == "exe_1"
    assert not evening.done()
    queue.close()
    assert evening.result(timeout=5) == "exe_2"
    assert [b["label"] for b in executions.bodies] == ["morning", "evening"]


def test_a_mode_change_sends_the_pending_batch_first(
    queue: ActionQueue, executions: Executions
) -> None:
    normal = queue.add(action(URL, "open"))
    urgent = queue.add(action(URL2, "open"), mode="high_priority")

    assert normal.result(timeout=5) == "exe_1"
    queue.flush()
    assert urgent.result(timeout=5) == "exe_2"
    assert [b["mode"] for b in executions.bodies] == ["default", "high_priority"]


def test_reaching_max_actions_sends_at_once(queue: ActionQueue, executions: Executions) -> None:
    futures = [queue.add(action(url, "open")) for url in (URL, URL2)]
    # The same device again does not count twice.
    futures.append(queue.add(action(URL, "stop")))
    futures.append(queue.add(action(URL3, "open")))  # third device: full
    later = queue.add(action(URL, "close"))

    assert {f.result(timeout=5) for f in futures} == {"exe_1"}
    assert executions.commands(0) == {URL: ["open", "stop"], URL2: ["open"], URL3: ["open"]}
    assert not later.done()


def test_an_add_that_would_overflow_goes_into_the_next_batch(
    queue: ActionQueue, executions: Executions
) -> None:
    first = queue.add([action(URL, "open"), action(URL2, "open")])
    second = queue.add([action(URL3, "open"), {"device_url": "io://g/4", "commands": ["open"]}])
    queue.flush()

    assert first.result(timeout=5) == "exe_1"
    assert second.result(timeout=5) == "exe_2"
    assert list(executions.commands(1)) == [URL3, "io://g/4"]


def test_an_error_reaches_every_merged_caller(
    api: FakeAPI, client: fleetyard.Client, queue: ActionQueue
) -> None:
    api.route("POST", "/v1/executions", problem(422, "no_such_command", "no command 'fly'"))
    first = queue.add(action(URL, "fly"))
    second = queue.add(action(URL2, "fly"))
    queue.flush()

    errors = [f.exception(timeout=5) for f in (first, second)]
    assert all(isinstance(e, fleetyard.UnprocessableEntityError) for e in errors)
    assert errors[0] is errors[1]
    error = errors[0]
    assert isinstance(error, fleetyard.APIStatusError)
    assert error.code == "no_such_command"


def test_bad_input_raises_in_the_caller(queue: ActionQueue, executions: Executions) -> None:
    with pytest.raises(TypeError):
        queue.add("io://not-an-action")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sideways"):
        queue.add(action(URL, "open"), mode="sideways")
    queue.flush()
    assert executions.bodies == []


def test_the_delay_sends_by_itself(client: fleetyard.Client, executions: Executions) -> None:
    with ActionQueue(client, delay=0.01) as queue:
        future = queue.add(action(URL, "open"))
        assert future.result(timeout=5) == "exe_1"


def test_a_closed_queue_refuses_more(client: fleetyard.Client, executions: Executions) -> None:
    queue = ActionQueue(client, delay=LONG)
    pending = queue.add(action(URL, "open"))
    queue.close()

    assert pending.result(timeout=0) == "exe_1"  # close sent it and waited
    with pytest.raises(RuntimeError, match="closed"):
        queue.add(action(URL, "open"))


def test_settings_are_checked(client: fleetyard.Client) -> None:
    with pytest.raises(ValueError, match="max_actions"):
        ActionQueue(client, max_actions=0)
    with pytest.raises(ValueError, match="delay"):
        ActionQueue(client, delay=-1)


# -- async ---------------------------------------------------------------------------


@pytest.fixture
async def async_client(api: FakeAPI) -> Any:
    async with make_async_client(api, [], api_key="k") as client:
        yield client


@pytest.mark.anyio
async def test_async_merges_and_everyone_gets_the_same_id(
    async_client: fleetyard.AsyncClient, executions: Executions
) -> None:
    queue = AsyncActionQueue(async_client, delay=LONG, max_actions=3)
    results: list[str] = []

    async def add(item: Any) -> None:
        results.append(await queue.add(item))

    async with anyio.create_task_group() as tg:
        tg.start_soon(add, action(URL, "open"))
        tg.start_soon(add, action(URL2, "open"))
        tg.start_soon(add, action(URL, "stop"))
        await wait_all_tasks_blocked()
        await queue.flush()

    assert results == ["exe_1"] * 3
    assert executions.commands() == {URL: ["open", "stop"], URL2: ["open"]}


@pytest.mark.anyio
async def test_async_label_change_and_max_actions(
    async_client: fleetyard.AsyncClient, executions: Executions
) -> None:
    queue = AsyncActionQueue(async_client, delay=LONG, max_actions=2)
    results: dict[str, str] = {}

    async def add(name: str, item: Any, label: str) -> None:
        results[name] = await queue.add(item, label=label)

    async with anyio.create_task_group() as tg:
        tg.start_soon(add, "a", action(URL, "open"), "one")
        await wait_all_tasks_blocked()
        tg.start_soon(add, "b", action(URL, "close"), "two")  # label change: "one" goes
        await wait_all_tasks_blocked()
        tg.start_soon(add, "c", action(URL2, "close"), "two")  # two devices: full, goes
        await wait_all_tasks_blocked()

    assert results == {"a": "exe_1", "b": "exe_2", "c": "exe_2"}
    assert [b["label"] for b in executions.bodies] == ["one", "two"]


@pytest.mark.anyio
async def test_async_errors_reach_every_caller(
    api: FakeAPI, async_client: fleetyard.AsyncClient
) -> None:
    api.route("POST", "/v1/executions", problem(404, "no_such_device"))
    queue = AsyncActionQueue(async_client, delay=LONG)
    errors: list[BaseException] = []

    async def add(url: str) -> None:
        try:
            await queue.add(action(url, "open"))
        except fleetyard.NotFoundError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(add, URL)
        tg.start_soon(add, URL2)
        await wait_all_tasks_blocked()
        await queue.flush()

    assert len(errors) == 2
    assert errors[0] is errors[1]


@pytest.mark.anyio
async def test_async_delay_sends_by_itself(
    async_client: fleetyard.AsyncClient, executions: Executions
) -> None:
    async with AsyncActionQueue(async_client, delay=0.01) as queue:
        with anyio.fail_after(5):
            assert await queue.add(action(URL, "open")) == "exe_1"


@pytest.mark.anyio
async def test_a_cancelled_first_caller_still_sends_for_the_others(
    async_client: fleetyard.AsyncClient, executions: Executions
) -> None:
    queue = AsyncActionQueue(async_client, delay=LONG)
    follower: list[str] = []

    async def follow() -> None:
        follower.append(await queue.add(action(URL2, "open")))

    leader_scope = anyio.CancelScope()

    async def lead() -> None:
        with leader_scope:
            await queue.add(action(URL, "open"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(lead)
        await wait_all_tasks_blocked()
        tg.start_soon(follow)
        await wait_all_tasks_blocked()
        leader_scope.cancel()

    assert follower == ["exe_1"]
    assert executions.commands() == {URL: ["open"], URL2: ["open"]}
