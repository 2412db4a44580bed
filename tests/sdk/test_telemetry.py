"""Agents and channels: every method sends the contract's route, query and body, in both twins.

The contract is the module docstring of ``fleetyard.protocol.telemetry``.
"""

from __future__ import annotations

import inspect
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx2
import pytest
from pydantic import BaseModel, ValidationError

import fleetyard
from fleetyard.protocol.common import Deleted, Page
from fleetyard.protocol.identity import ApiKeyCreated
from fleetyard.protocol.telemetry import (
    Agent,
    Aggregate,
    BatchPublishAck,
    BatchPublishItem,
    Channel,
    ChannelNameError,
    Message,
    PublishAck,
    Retention,
    Timeseries,
)

from .fakes import (
    TS,
    FakeAPI,
    ack_json,
    agent_json,
    aggregate_json,
    channel_json,
    make_async_client,
    make_client,
    message_json,
    ok,
    problem,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
KEY = {
    "id": "key_1",
    "name": "pump-7",
    "prefix": "fy_live_ab",
    "environment": "live",
    "scopes": ["agent:agt_1:write"],
    "created_at": TS,
    "secret": "fy_live_secret",
}
TIMESERIES = {
    "channel_id": "ch_1",
    "start": TS,
    "end": None,
    "interval": "5m",
    "timestamps": [TS],
    "series": [{"field": "t", "aggregate": "avg", "values": [21.5]}],
}
LATEST = {
    "agent_id": "agt_1",
    "channel_id": "ch_1",
    "name": "status",
    "aggregate": aggregate_json(),
    "message": message_json(),
}


def page(item: dict[str, Any]) -> dict[str, Any]:
    return {"items": [item], "next_cursor": None}


@dataclass
class Route:
    call: Callable[[Any], Any]
    method: str
    path: str
    answer: Any
    returns: type
    body: Any = None
    params: list[tuple[str, str]] = field(default_factory=list)
    status: int = 200


ROUTES = {
    # -- agents --------------------------------------------------------------------
    "agents.list_page": Route(
        lambda c: c.agents.list_page(
            "cur",
            site_id="site_1",
            kind="gateway",
            labels={"line": "3", "zone": "a"},
            online=False,
            limit=10,
        ),
        "GET",
        "/v1/agents",
        page(agent_json()),
        Page,
        params=[
            ("cursor", "cur"),
            ("kind", "gateway"),
            ("label", "line=3"),
            ("label", "zone=a"),
            ("limit", "10"),
            ("online", "false"),
            ("site_id", "site_1"),
        ],
    ),
    "agents.list_page.plain": Route(
        lambda c: c.agents.list_page(), "GET", "/v1/agents", page(agent_json()), Page
    ),
    "agents.create": Route(
        lambda c: c.agents.create(
            "site_1", "pump-7", kind="machine", labels={"line": "3"}, metadata={"fw": [1, 2]}
        ),
        "POST",
        "/v1/agents",
        agent_json(),
        Agent,
        body={
            "site_id": "site_1",
            "name": "pump-7",
            "kind": "machine",
            "labels": {"line": "3"},
            "metadata": {"fw": [1, 2]},
        },
        status=201,
    ),
    "agents.create.defaults": Route(
        lambda c: c.agents.create("site_1", "pump-7"),
        "POST",
        "/v1/agents",
        agent_json(),
        Agent,
        body={"site_id": "site_1", "name": "pump-7", "kind": "device"},
        status=201,
    ),
    "agents.get": Route(
        lambda c: c.agents.get("agt_1"), "GET", "/v1/agents/agt_1", agent_json(), Agent
    ),
    "agents.update": Route(
        lambda c: c.agents.update("agt_1", name="pump-8", labels={}, kind="service"),
        "PATCH",
        "/v1/agents/agt_1",
        agent_json(),
        Agent,
        body={"name": "pump-8", "kind": "service", "labels": {}},
    ),
    "agents.update.nothing": Route(
        lambda c: c.agents.update("agt_1"), "PATCH", "/v1/agents/agt_1", agent_json(), Agent, {}
    ),
    "agents.delete": Route(
        lambda c: c.agents.delete("agt_1"),
        "DELETE",
        "/v1/agents/agt_1",
        {"id": "agt_1", "deleted": True},
        Deleted,
    ),
    "agents.token": Route(
        lambda c: c.agents.token(
            "agt_1",
            name="fw",
            expires_at=datetime(2027, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        ),
        "POST",
        "/v1/agents/agt_1/token",
        KEY,
        ApiKeyCreated,
        body={"name": "fw", "expires_at": "2027-01-01T00:00:00.000Z"},
        status=201,
    ),
    "agents.token.defaults": Route(
        lambda c: c.agents.token("agt_1"), "POST", "/v1/agents/agt_1/token", KEY, ApiKeyCreated, {}
    ),
    # -- channels --------------------------------------------------------------------
    "channels.create": Route(
        lambda c: c.channels.create("agt_1", "status"),
        "POST",
        "/v1/agents/agt_1/channels",
        channel_json(),
        Channel,
        body={"name": "status"},
        status=201,
    ),
    "channels.create.processor": Route(
        lambda c: c.channels.create("agt_1", "#my-processor"),
        "POST",
        "/v1/agents/agt_1/channels",
        channel_json(name="#my-processor"),
        Channel,
        body={"name": "#my-processor"},
    ),
    "channels.create.everything": Route(
        lambda c: c.channels.create(
            "agt_1",
            "reboot",
            kind="task",
            is_private=True,
            retention={"max_age_seconds": 86_400},
            json_schema={"type": "object"},
        ),
        "POST",
        "/v1/agents/agt_1/channels",
        channel_json(name="!reboot"),
        Channel,
        body={
            "name": "reboot",
            "kind": "task",
            "is_private": True,
            "retention": {"max_age_seconds": 86_400, "max_messages": None},
            "json_schema": {"type": "object"},
        },
        status=201,
    ),
    "client.create_channel": Route(
        lambda c: c.create_channel("!my-task", "agt_1"),
        "POST",
        "/v1/agents/agt_1/channels",
        channel_json(name="!my-task"),
        Channel,
        body={"name": "!my-task"},
        status=201,
    ),
    "channels.get": Route(
        lambda c: c.channels.get("ch_1"), "GET", "/v1/channels/ch_1", channel_json(), Channel
    ),
    "channels.get_by_name": Route(
        lambda c: c.channels.get_by_name("agt_1", "status"),
        "GET",
        "/v1/agents/agt_1/channels/status",
        channel_json(),
        Channel,
    ),
    "channels.list_page": Route(
        lambda c: c.channels.list_page("agt_1", "cur", kind="processor", limit=5),
        "GET",
        "/v1/agents/agt_1/channels",
        page(channel_json()),
        Page,
        params=[("cursor", "cur"), ("kind", "processor"), ("limit", "5")],
    ),
    "channels.update": Route(
        lambda c: c.channels.update(
            "ch_1", is_private=False, retention=Retention(max_messages=10), json_schema=None
        ),
        "PATCH",
        "/v1/channels/ch_1",
        channel_json(),
        Channel,
        body={
            "is_private": False,
            "retention": {"max_age_seconds": None, "max_messages": 10},
            "json_schema": None,
        },
    ),
    "channels.update.clear_retention": Route(
        lambda c: c.channels.update("ch_1", retention=None),
        "PATCH",
        "/v1/channels/ch_1",
        channel_json(),
        Channel,
        body={"retention": None},
    ),
    "channels.delete": Route(
        lambda c: c.channels.delete("ch_1"),
        "DELETE",
        "/v1/channels/ch_1",
        {"id": "ch_1", "deleted": True},
        Deleted,
    ),
    # -- publishing ----------------------------------------------------------------------
    "channels.publish.by_id": Route(
        lambda c: c.channels.publish("ch_1", {"t": 21.5}),
        "POST",
        "/v1/channels/ch_1/messages",
        ack_json(),
        PublishAck,
        body={"payload": {"t": 21.5}},
        status=201,
    ),
    "channels.publish.by_name": Route(
        lambda c: c.channels.publish(
            ("agt_1", "status"),
            [1, "two", None],
            timestamp=datetime(2026, 1, 2, 3, 4, 5, 678901),
            client_message_id="pump-7:1",
            save_log=False,
            log_aggregate=True,
            override_aggregate=True,
        ),
        "POST",
        "/v1/agents/agt_1/channels/status/messages",
        ack_json(seq=None),
        PublishAck,
        body={
            "payload": [1, "two", None],
            "timestamp": "2026-01-02T03:04:05.678Z",
            "client_message_id": "pump-7:1",
            "save_log": False,
            "log_aggregate": True,
            "override_aggregate": True,
        },
        status=201,
    ),
    "channels.publish.null": Route(
        lambda c: c.channels.publish("ch_1", None),
        "POST",
        "/v1/channels/ch_1/messages",
        ack_json(duplicate=True),
        PublishAck,
        body={"payload": None},
    ),
    "channels.publish_batch": Route(
        lambda c: c.channels.publish_batch(
            [
                BatchPublishItem(channel_id="ch_1", payload={"t": 1}),
                {"agent_id": "agt_1", "channel": "#proc", "payload": 2, "client_message_id": "m2"},
                {"channel_id": "ch_2", "payload": "x", "timestamp": datetime(2026, 1, 1)},
            ]
        ),
        "POST",
        "/v1/messages/batch",
        {"items": [ack_json(1), ack_json(2), ack_json(3)]},
        BatchPublishAck,
        body={
            "items": [
                {"channel_id": "ch_1", "payload": {"t": 1}},
                {"agent_id": "agt_1", "channel": "#proc", "payload": 2, "client_message_id": "m2"},
                {"channel_id": "ch_2", "payload": "x", "timestamp": "2026-01-01T00:00:00.000Z"},
            ]
        },
        status=201,
    ),
    # -- messages and timeseries ------------------------------------------------------------
    "channels.messages_page": Route(
        lambda c: c.channels.messages_page(
            "ch_1",
            "s9",
            start=datetime(2026, 11, 1, tzinfo=UTC),
            end=timedelta(minutes=30),
            order="asc",
            limit=50,
        ),
        "GET",
        "/v1/channels/ch_1/messages",
        page(message_json()),
        Page,
        params=[
            ("cursor", "s9"),
            ("end", "2026-11-24T11:30:00.000Z"),
            ("limit", "50"),
            ("order", "asc"),
            ("start", "2026-11-01T00:00:00.000Z"),
        ],
    ),
    "channels.messages_page.latest": Route(
        lambda c: c.channels.messages_page("ch_1"),
        "GET",
        "/v1/channels/ch_1/messages",
        page(message_json()),
        Page,
    ),
    "channels.message": Route(
        lambda c: c.channels.message("ch_1", 42),
        "GET",
        "/v1/channels/ch_1/messages/42",
        message_json(42),
        Message,
    ),
    "channels.update_message": Route(
        lambda c: c.channels.update_message("ch_1", 42, {"t": 1}),
        "PATCH",
        "/v1/channels/ch_1/messages/42",
        message_json(42),
        Message,
        body={"payload": {"t": 1}},
    ),
    "channels.delete_message": Route(
        lambda c: c.channels.delete_message("ch_1", 42),
        "DELETE",
        "/v1/channels/ch_1/messages/42",
        {"id": "42", "deleted": True},
        Deleted,
    ),
    "channels.timeseries": Route(
        lambda c: c.channels.timeseries(
            "ch_1",
            ["t", "battery.level"],
            start=timedelta(days=1),
            end=NOW,
            interval=timedelta(minutes=5),
            aggregates=["avg", "max"],
            limit=500,
        ),
        "GET",
        "/v1/channels/ch_1/timeseries",
        TIMESERIES,
        Timeseries,
        params=[
            ("agg", "avg"),
            ("agg", "max"),
            ("end", "2026-11-24T12:00:00.000Z"),
            ("field", "battery.level"),
            ("field", "t"),
            ("interval", "5m"),
            ("limit", "500"),
            ("start", "2026-11-23T12:00:00.000Z"),
        ],
    ),
    "channels.timeseries.raw": Route(
        lambda c: c.channels.timeseries("ch_1", "t"),
        "GET",
        "/v1/channels/ch_1/timeseries",
        TIMESERIES,
        Timeseries,
        params=[("field", "t")],
    ),
    # -- aggregates and latest -----------------------------------------------------------------
    "channels.aggregate": Route(
        lambda c: c.channels.aggregate("ch_1"),
        "GET",
        "/v1/channels/ch_1/aggregate",
        aggregate_json(),
        Aggregate,
    ),
    "channels.update_aggregate": Route(
        lambda c: c.channels.update_aggregate("ch_1", {"mode": "eco", "old": None}),
        "PATCH",
        "/v1/channels/ch_1/aggregate",
        aggregate_json(),
        Aggregate,
        body={"mode": "eco", "old": None},
    ),
    "channels.replace_aggregate": Route(
        lambda c: c.channels.replace_aggregate("ch_1", [1, 2], if_version=3),
        "PUT",
        "/v1/channels/ch_1/aggregate",
        aggregate_json([1, 2], 4),
        Aggregate,
        body=[1, 2],
    ),
    "channels.latest_page": Route(
        lambda c: c.channels.latest_page(
            "#proc", "agt_0", site_id="site_1", agent_ids=["agt_1", "agt_2"], limit=2
        ),
        "GET",
        "/v1/channels/latest",
        page(LATEST),
        Page,
        params=[
            ("agent_id", "agt_1"),
            ("agent_id", "agt_2"),
            ("cursor", "agt_0"),
            ("limit", "2"),
            ("name", "#proc"),
            ("site_id", "site_1"),
        ],
    ),
}


def check(route: Route, api: FakeAPI, result: Any) -> None:
    assert len(api.requests) == 1
    request = api.last
    assert request.method == route.method
    assert request.url.path == route.path
    assert sorted(request.url.params.multi_items()) == sorted(route.params)
    if route.body is None:
        assert request.content == b""
    else:
        assert json.loads(request.content) == route.body
        assert request.headers["Content-Type"] == "application/json"
    if route.method == "POST":
        assert request.headers["Idempotency-Key"]
    assert isinstance(result, route.returns)
    assert isinstance(result, BaseModel)
    if route.returns is Page:
        assert len(result.items) == 1
        assert isinstance(result.items[0], BaseModel)


def fixed_clock(client: fleetyard.Client | fleetyard.AsyncClient) -> None:
    client._now = lambda: NOW


@pytest.mark.parametrize("name", list(ROUTES))
def test_sync_route(name: str, api: FakeAPI) -> None:
    route = ROUTES[name]
    api.reply(ok(route.answer, route.status))
    with make_client(api, [], api_key="fy_test_key") as c:
        fixed_clock(c)
        result = route.call(c)
    check(route, api, result)


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(ROUTES))
async def test_async_route(name: str, api: FakeAPI) -> None:
    route = ROUTES[name]
    api.reply(ok(route.answer, route.status))
    async with make_async_client(api, [], api_key="fy_test_key") as c:
        fixed_clock(c)
        pending = route.call(c)
        assert inspect.isawaitable(pending)
        result = await pending
    check(route, api, result)


# -- names in paths ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "raw_path"),
    [
        ("#my-processor", b"/v1/agents/agt_1/channels/%23my-processor"),
        ("!reboot", b"/v1/agents/agt_1/channels/%21reboot"),
        ("a b?c%d", b"/v1/agents/agt_1/channels/a%20b%3Fc%25d"),
        ("température", b"/v1/agents/agt_1/channels/temp%C3%A9rature"),
    ],
)
def test_names_are_percent_encoded_in_paths(
    client: fleetyard.Client, api: FakeAPI, name: str, raw_path: bytes
) -> None:
    api.reply(ok(channel_json(name=name)), ok(ack_json(), 201))

    client.channels.get_by_name("agt_1", name)
    client.channels.publish(("agt_1", name), 1)

    assert api.requests[0].url.raw_path == raw_path
    assert api.requests[1].url.raw_path == raw_path + b"/messages"
    assert api.requests[0].url.path == f"/v1/agents/agt_1/channels/{name}"


@pytest.mark.parametrize("name", ["", "a/b", "#", "!", "tab\there", "x" * 201])
def test_bad_names_fail_before_any_request(
    client: fleetyard.Client, api: FakeAPI, name: str
) -> None:
    with pytest.raises(ChannelNameError):
        client.channels.get_by_name("agt_1", name)
    with pytest.raises(ChannelNameError):
        client.channels.create("agt_1", name)
    with pytest.raises(ChannelNameError):
        client.channels.publish(("agt_1", name), 1)
    with pytest.raises(ChannelNameError):
        client.channels.latest(name).pages().__next__()
    assert api.requests == []


def test_a_kind_that_contradicts_the_prefix_fails_early(
    client: fleetyard.Client, api: FakeAPI
) -> None:
    with pytest.raises(ChannelNameError, match="makes a processor, not a task"):
        client.channels.create("agt_1", "#proc", kind="task")
    assert api.requests == []


@pytest.mark.parametrize("target", [("agt_1",), ("agt_1", "a", "b"), ["agt_1", "a"], 42, ""])
def test_publish_targets_are_an_id_or_a_pair(
    client: fleetyard.Client, api: FakeAPI, target: Any
) -> None:
    with pytest.raises((TypeError, ValueError)):
        client.channels.publish(target, 1)
    assert api.requests == []


# -- conditional aggregate writes --------------------------------------------------------------


@pytest.mark.parametrize("method", ["update_aggregate", "replace_aggregate"])
def test_if_version_becomes_if_match(client: fleetyard.Client, api: FakeAPI, method: str) -> None:
    api.reply(ok(aggregate_json()), ok(aggregate_json()))
    write = getattr(client.channels, method)

    write("ch_1", {"a": 1}, if_version=7)
    write("ch_1", {"a": 1})

    assert api.requests[0].headers["If-Match"] == '"7"'
    assert "If-Match" not in api.requests[1].headers


def test_a_null_aggregate_is_sent_as_json_null(client: fleetyard.Client, api: FakeAPI) -> None:
    api.reply(ok(aggregate_json()), ok(aggregate_json()))

    client.channels.replace_aggregate("ch_1", None)
    client.channels.update_aggregate("ch_1", None)

    assert [r.content for r in api.requests] == [b"null", b"null"]


def test_version_stale_is_a_precondition_failed_error(
    client: fleetyard.Client, api: FakeAPI, sleeps: list[float]
) -> None:
    api.reply(problem(412, "version_stale", "The aggregate changed.", current_version=9))

    with pytest.raises(fleetyard.PreconditionFailedError) as caught:
        client.channels.update_aggregate("ch_1", {"a": 1}, if_version=7)

    error = caught.value
    assert error.status == 412
    assert error.code == "version_stale"
    assert error.problem is not None
    assert error.problem.model_extra == {"current_version": 9}
    assert len(api.requests) == 1  # not retried: trying again cannot succeed
    assert sleeps == []


@pytest.mark.anyio
async def test_version_stale_in_the_async_twin(api: FakeAPI) -> None:
    api.reply(problem(412, "version_stale", current_version=9))
    async with make_async_client(api, [], api_key="fy_test_key") as c:
        with pytest.raises(fleetyard.PreconditionFailedError) as caught:
            await c.channels.replace_aggregate("ch_1", {}, if_version=1)
    assert caught.value.problem is not None
    assert caught.value.problem.model_extra == {"current_version": 9}


@pytest.mark.parametrize("version", ["7", 7.0, True])
def test_if_version_must_be_an_int(client: fleetyard.Client, version: Any) -> None:
    with pytest.raises(TypeError):
        client.channels.update_aggregate("ch_1", {}, if_version=version)


# -- errors and retries ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (404, "not_found", fleetyard.NotFoundError),
        (422, "payload_invalid", fleetyard.UnprocessableEntityError),
        (422, "channel_name_invalid", fleetyard.UnprocessableEntityError),
        (413, "payload_too_large", fleetyard.PayloadTooLargeError),
    ],
)
def test_problems_map_to_the_error_tree(
    client: fleetyard.Client, api: FakeAPI, status: int, code: str, error: type[Exception]
) -> None:
    api.reply(problem(status, code))
    with pytest.raises(error) as caught:
        client.channels.publish("ch_1", {"t": 1})
    assert isinstance(caught.value, fleetyard.APIStatusError)
    assert caught.value.code == code


def test_an_overloaded_publish_is_retried_with_the_same_idempotency_key(
    client: fleetyard.Client, api: FakeAPI, sleeps: list[float]
) -> None:
    overloaded = problem(503, "overloaded")
    overloaded.headers["Retry-After"] = "1"
    api.reply(overloaded, httpx2.ConnectError("reset"), ok(ack_json(), 201))

    ack = client.channels.publish(("agt_1", "status"), {"t": 1}, client_message_id="m1")

    assert ack.seq == 4
    keys = {r.headers["Idempotency-Key"] for r in api.requests}
    assert len(api.requests) == 3
    assert len(keys) == 1
    assert sleeps[0] == 1.0
    assert all(json.loads(r.content)["client_message_id"] == "m1" for r in api.requests)


def test_a_batch_keeps_its_key_across_retries(
    client: fleetyard.Client, api: FakeAPI, sleeps: list[float]
) -> None:
    api.reply(problem(503, "overloaded"), ok({"items": [ack_json()]}, 201))

    client.channels.publish_batch([{"channel_id": "ch_1", "payload": 1}])

    assert len({r.headers["Idempotency-Key"] for r in api.requests}) == 1
    assert api.requests[0].content == api.requests[1].content


def test_a_given_idempotency_key_is_used(client: fleetyard.Client, api: FakeAPI) -> None:
    api.reply(ok(ack_json(), 201))
    client.channels.publish("ch_1", 1, idempotency_key="job-7")
    assert api.last.headers["Idempotency-Key"] == "job-7"


# -- batches -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "error"),
    [
        ([], ValueError),
        ({"channel_id": "ch_1", "payload": 1}, TypeError),
        ([{"payload": 1}], ValidationError),
        ([{"channel_id": "ch_1", "agent_id": "agt_1", "channel": "x", "payload": 1}], ValueError),
        ([{"channel_id": "ch_1", "payload": 1, "colour": "red"}], ValidationError),
        ([{"agent_id": "agt_1", "channel": "a/b", "payload": 1}], ChannelNameError),
        ([{"channel_id": "ch_1", "payload": i} for i in range(10_001)], ValueError),
    ],
)
def test_bad_batches_fail_before_any_request(
    client: fleetyard.Client, api: FakeAPI, items: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        client.channels.publish_batch(items)
    assert api.requests == []


def test_a_batch_may_come_from_a_generator(client: fleetyard.Client, api: FakeAPI) -> None:
    api.reply(ok({"items": [ack_json(1), ack_json(2)]}, 201))

    acks = client.channels.publish_batch({"channel_id": "ch_1", "payload": i} for i in range(2))

    assert [a.seq for a in acks.items] == [1, 2]
    assert json.loads(api.last.content)["items"][1] == {"channel_id": "ch_1", "payload": 1}


# -- pagination ----------------------------------------------------------------------------------


def paged_messages(api: FakeAPI) -> FakeAPI:
    """Five messages, newest first, two per page."""
    pages = {None: ([5, 4], "s4"), "s4": ([3, 2], "s2"), "s2": ([1], None)}

    def handler(request: httpx2.Request) -> httpx2.Response:
        seqs, next_cursor = pages[request.url.params.get("cursor")]
        return ok({"items": [message_json(s) for s in seqs], "next_cursor": next_cursor})

    return api.route("GET", "/v1/channels/ch_1/messages", handler)


def test_messages_iterate_across_pages_with_one_window(
    client: fleetyard.Client, api: FakeAPI
) -> None:
    paged_messages(api)
    ticks = itertools.count()
    client._now = lambda: NOW + timedelta(minutes=next(ticks))  # time passes on every look

    pager = client.channels.messages("ch_1", start=timedelta(hours=1), limit=2)
    seqs = [m.seq for m in pager]

    assert seqs == [5, 4, 3, 2, 1]
    assert [r.url.params.get("cursor") for r in api.requests] == [None, "s4", "s2"]
    # "an hour ago" is fixed when the pager is made, not again for every page.
    assert {r.url.params["start"] for r in api.requests} == {"2026-11-24T11:00:00.000Z"}
    assert {r.url.params["limit"] for r in api.requests} == {"2"}
    assert all(isinstance(m, Message) for m in client.channels.messages("ch_1"))


@pytest.mark.anyio
async def test_async_messages_iterate_across_pages(api: FakeAPI) -> None:
    paged_messages(api)
    async with make_async_client(api, [], api_key="fy_test_key") as c:
        seqs = [m.seq async for m in c.channels.messages("ch_1", order="asc")]
        pages = [p async for p in c.channels.messages("ch_1").pages()]
    assert seqs == [5, 4, 3, 2, 1]
    assert [len(p.items) for p in pages] == [2, 2, 1]
    assert api.requests[0].url.params["order"] == "asc"


def test_agents_and_channels_and_latest_paginate(client: fleetyard.Client, api: FakeAPI) -> None:
    api.reply(
        ok({"items": [agent_json("agt_1")], "next_cursor": "a2"}),
        ok({"items": [agent_json("agt_2")], "next_cursor": None}),
        ok({"items": [channel_json()], "next_cursor": None}),
        ok({"items": [LATEST], "next_cursor": "agt_1"}),
        ok({"items": [LATEST | {"agent_id": "agt_2"}], "next_cursor": None}),
    )

    agents = [a.id for a in client.agents.list(online=True, labels={"line": "3"})]
    channels = [ch.name for ch in client.channels.list("agt_1")]
    latest = [row.agent_id for row in client.channels.latest("status", site_id="site_1")]

    assert agents == ["agt_1", "agt_2"]
    assert channels == ["status"]
    assert latest == ["agt_1", "agt_2"]
    assert api.requests[1].url.params.multi_items() == [
        ("cursor", "a2"),
        ("label", "line=3"),
        ("online", "true"),
    ]
    assert api.requests[4].url.params["cursor"] == "agt_1"


# -- argument checks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.channels.timeseries("ch_1", []),
        lambda c: c.channels.timeseries("ch_1", "a..b"),
        lambda c: c.channels.timeseries("ch_1", "t", interval="5 minutes"),
        lambda c: c.channels.timeseries("ch_1", "t", interval=timedelta(microseconds=5)),
        lambda c: c.channels.timeseries("ch_1", "t", aggregates=["median"]),
        lambda c: c.channels.messages_page("ch_1", order="newest"),
        lambda c: c.channels.messages_page("ch_1", start="yesterday"),
        lambda c: c.channels.message("ch_1", 0),
        lambda c: c.channels.message("ch_1", True),
        lambda c: c.channels.get(""),
        lambda c: c.agents.get(""),
        lambda c: c.channels.create("agt_1", "status", retention={"max_age_seconds": 0}),
        lambda c: c.channels.publish("ch_1", 1, timestamp=timedelta(hours=1)),
        lambda c: c.channels.latest_page("status", agent_ids="agt_1"),
    ],
)
def test_bad_arguments_fail_before_any_request(
    client: fleetyard.Client, api: FakeAPI, call: Callable[[fleetyard.Client], Any]
) -> None:
    with pytest.raises((TypeError, ValueError)):
        call(client)
    assert api.requests == []


def test_the_raw_view_shows_created_or_existing(client: fleetyard.Client, api: FakeAPI) -> None:
    api.reply(ok(channel_json(), 201), ok(channel_json(), 200), ok(aggregate_json(), ETag='"3"'))

    first = client.with_raw_response.channels.create("agt_1", "status")
    again = client.with_raw_response.channels.create("agt_1", "status")
    raw = client.with_raw_response.channels.aggregate("ch_1")

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.parse().id == again.parse().id == "ch_1"
    assert raw.headers["ETag"] == '"3"'
    assert raw.parse().version == 3
