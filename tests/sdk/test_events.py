"""``client.events``: listener calls, and ``listen`` (re-registration, cleanup), both twins."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx2
import pytest

import fleetyard

from .device_fakes import batch_json, listener_json
from .fakes import FakeAPI, make_async_client, ok, problem


def expired() -> httpx2.Response:
    return problem(404, "invalid_event_listener", "the listener expired")


def test_register_fetch_unregister(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(
        ok(listener_json(), status=201),
        ok(batch_json("evl_1", 1, 2)),
        ok({"id": "evl_1", "deleted": True}),
    )

    listener = client.events.register_listener(site_id="site_1")
    events = client.events.fetch(listener.id, timeout=5)
    client.events.unregister(listener.id)

    assert [e.seq for e in events] == [1, 2]
    register, fetch, delete = api.requests
    assert (register.method, register.url.path) == ("POST", "/v1/event-listeners")
    assert json.loads(register.content) == {"site_id": "site_1"}
    assert (fetch.method, fetch.url.path) == ("POST", "/v1/event-listeners/evl_1/fetch")
    assert fetch.url.params["timeout"] == "5"
    # The HTTP request outlives the long poll.
    assert fetch.extensions["timeout"]["read"] == 15.0
    assert (delete.method, delete.url.path) == ("DELETE", "/v1/event-listeners/evl_1")


def test_fetch_default_waits_longer_than_the_client_timeout(
    api: FakeAPI, client: fleetyard.Client
) -> None:
    api.reply(ok(batch_json("evl_1")))

    assert client.events.fetch("evl_1") == []
    assert "timeout" not in api.last.url.params
    assert api.last.extensions["timeout"]["read"] == 40.0


def test_fetch_timeout_is_checked(client: fleetyard.Client) -> None:
    with pytest.raises(ValueError, match="between 0 and 60"):
        client.events.fetch("evl_1", timeout=61)


def test_an_expired_listener_raises_its_own_error(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(expired())

    with pytest.raises(fleetyard.InvalidEventListenerError) as caught:
        client.events.fetch("evl_1")

    assert isinstance(caught.value, fleetyard.NotFoundError)


def take(events: Iterator[object], n: int) -> list[object]:
    return [next(events) for _ in range(n)]


def test_listen_registers_fetches_reregisters_and_unregisters(
    api: FakeAPI, client: fleetyard.Client
) -> None:
    api.reply(
        ok(listener_json("evl_1"), status=201),
        ok(batch_json("evl_1", 1)),
        ok(batch_json("evl_1")),  # a long poll that saw nothing
        ok(batch_json("evl_1", 2, 3)),
        expired(),
        ok(listener_json("evl_2"), status=201),
        ok(batch_json("evl_2", 7)),
        ok({"id": "evl_2", "deleted": True}),
    )

    with client.events.listen(site_id="site_1", timeout=20) as events:
        assert events.listener_id == "evl_1"  # registered on entry
        got = [e.seq for e in take(iter(events), 4)]  # type: ignore[attr-defined]
        assert events.listener_id == "evl_2"
        assert events.registrations == 2

    assert got == [1, 2, 3, 7]
    assert events.listener_id is None
    calls = [(r.method, r.url.path) for r in api.requests]
    assert calls == [
        ("POST", "/v1/event-listeners"),
        ("POST", "/v1/event-listeners/evl_1/fetch"),
        ("POST", "/v1/event-listeners/evl_1/fetch"),
        ("POST", "/v1/event-listeners/evl_1/fetch"),
        ("POST", "/v1/event-listeners/evl_1/fetch"),
        ("POST", "/v1/event-listeners"),
        ("POST", "/v1/event-listeners/evl_2/fetch"),
        ("DELETE", "/v1/event-listeners/evl_2"),
    ]
    assert all(
        json.loads(r.content) == {"site_id": "site_1"}
        for r in api.requests
        if r.url.path == "/v1/event-listeners"
    )
    assert {r.url.params.get("timeout") for r in api.requests if "fetch" in r.url.path} == {"20"}
    # Every fetch is a new logical call: no replayed answers.
    keys = [r.headers["Idempotency-Key"] for r in api.requests if r.method == "POST"]
    assert len(set(keys)) == len(keys)


def test_listen_gives_up_when_a_fresh_listener_is_refused(
    api: FakeAPI, client: fleetyard.Client
) -> None:
    api.reply(
        ok(listener_json("evl_1"), status=201),
        expired(),
        ok(listener_json("evl_2"), status=201),
        expired(),
    )
    events = client.events.listen()

    with pytest.raises(fleetyard.InvalidEventListenerError):
        next(iter(events))


def test_closing_an_expired_listener_is_quiet(api: FakeAPI, client: fleetyard.Client) -> None:
    api.reply(ok(listener_json(), status=201), expired())

    with client.events.listen():
        pass

    assert api.last.method == "DELETE"


def test_a_listener_never_registered_needs_no_cleanup(
    api: FakeAPI, client: fleetyard.Client
) -> None:
    client.events.listen().close()

    assert api.requests == []


@pytest.mark.anyio
async def test_async_listen(api: FakeAPI) -> None:
    api.reply(
        ok(listener_json("evl_1"), status=201),
        ok(batch_json("evl_1", 1)),
        expired(),
        ok(listener_json("evl_2"), status=201),
        ok(batch_json("evl_2", 2)),
        ok({"id": "evl_2", "deleted": True}),
    )
    got: list[int] = []
    async with (
        make_async_client(api, [], api_key="k") as client,
        client.events.listen() as events,
    ):
        async for event in events:
            got.append(event.seq)
            if len(got) == 2:
                break
        assert events.registrations == 2

    assert got == [1, 2]
    assert (api.last.method, api.last.url.path) == ("DELETE", "/v1/event-listeners/evl_2")


@pytest.mark.anyio
async def test_async_register_fetch_unregister(api: FakeAPI) -> None:
    api.reply(
        ok(listener_json(), status=201),
        ok(batch_json("evl_1", 4)),
        ok({"id": "evl_1", "deleted": True}),
    )
    async with make_async_client(api, [], api_key="k") as client:
        listener = await client.events.register_listener()
        events = await client.events.fetch(listener.id, timeout=0)
        deleted = await client.events.unregister(listener.id)

    assert [e.seq for e in events] == [4]
    assert deleted.deleted is True
    assert api.requests[1].url.params["timeout"] == "0"
