"""Event listeners: register, fetch, long-poll wake-up, expiry, visibility; gateway events."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import pytest
import sqlalchemy as sa

from fleetyard.protocol.devices import DeviceState
from fleetyard.server.bus import Delivery, Lagged, Subscription
from fleetyard.server.services.devices import devices as devices_service
from fleetyard.server.services.errors import NotFound
from fleetyard.server.services.telemetry.presence import sweep
from fleetyard.server.state import AppState
from fleetyard.server.storage.device_tables import event_listeners
from tests.conftest import ADMIN_KEY
from tests.server.conftest import ClientFor
from tests.server.devices.conftest import device_by_url, load_setup
from tests.server.helpers import create_other_org, execute, make_key, make_site, ok, problem

AWNING = "io://1234-5678-3293/3541212"
BASE = "http://fleetyard.test"


def _fetch(http: httpx2.Client, listener_id: str, timeout: float = 0) -> list[dict[str, Any]]:
    batch = ok(http.post(f"/v1/event-listeners/{listener_id}/fetch", params={"timeout": timeout}))
    assert batch["listener_id"] == listener_id
    events: list[dict[str, Any]] = batch["events"]
    return events


def _report(http: httpx2.Client, device_id: str, value: int) -> None:
    body = {"states": [{"name": "core:ClosureState", "type": 1, "value": value}]}
    ok(http.post(f"/v1/devices/{device_id}/states", json=body))


def test_register_sees_only_what_happens_after(http: httpx2.Client, tahoma: dict[str, Any]) -> None:
    device = device_by_url(http, AWNING)
    _report(http, device["id"], 10)
    listener = ok(http.post("/v1/event-listeners"), 201)  # the body may be omitted
    assert listener["id"].startswith("evl_")
    assert listener["expires_at"] > listener["last_fetch_at"]
    assert _fetch(http, listener["id"]) == []
    for value in (11, 12, 13):
        _report(http, device["id"], value)
    events = _fetch(http, listener["id"])
    assert [e["states"][0]["value"] for e in events] == [11, 12, 13]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 3
    assert _fetch(http, listener["id"]) == []  # the cursor moved
    ok(http.delete(f"/v1/event-listeners/{listener['id']}"))
    problem(http.post(f"/v1/event-listeners/{listener['id']}/fetch"), 404, "invalid_event_listener")
    problem(http.delete(f"/v1/event-listeners/{listener['id']}"), 404, "invalid_event_listener")


def test_expired_listener_is_gone(
    http: httpx2.Client, tahoma: dict[str, Any], database_url: str
) -> None:
    listener = ok(http.post("/v1/event-listeners", json={}), 201)
    assert _fetch(http, listener["id"]) == []
    # Not fetched for longer than the ttl (600 s by default): age it in storage.
    execute(
        database_url,
        sa.update(event_listeners)
        .where(event_listeners.c.id == listener["id"])
        .values(last_fetch_at=event_listeners.c.last_fetch_at - 601_000),
    )
    problem(http.post(f"/v1/event-listeners/{listener['id']}/fetch"), 404, "invalid_event_listener")
    # And it was deleted, not only refused.
    problem(http.delete(f"/v1/event-listeners/{listener['id']}"), 404, "invalid_event_listener")


def test_other_orgs_listener_is_404(
    http: httpx2.Client, client_for: ClientFor, database_url: str
) -> None:
    listener = ok(http.post("/v1/event-listeners", json={}), 201)
    stranger = client_for(create_other_org(database_url)["key"])
    problem(
        stranger.post(f"/v1/event-listeners/{listener['id']}/fetch"),
        404,
        "invalid_event_listener",
    )
    problem(stranger.delete(f"/v1/event-listeners/{listener['id']}"), 404, "invalid_event_listener")
    assert _fetch(http, listener["id"]) == []  # still there for its owner's org


def test_a_listener_belongs_to_the_credential_that_registered_it(
    http: httpx2.Client, client_for: ClientFor, tahoma: dict[str, Any]
) -> None:
    device = device_by_url(http, AWNING)
    listener = ok(http.post("/v1/event-listeners", json={}), 201)
    colleague = client_for(make_key(http, ["*:*:admin"])["secret"])
    for attempt in (
        colleague.post(f"/v1/event-listeners/{listener['id']}/fetch"),
        colleague.delete(f"/v1/event-listeners/{listener['id']}"),
    ):
        problem(attempt, 404, "invalid_event_listener")
    _report(http, device["id"], 42)
    # The colleague neither consumed the owner's events nor deleted the listener.
    assert [e["states"][0]["value"] for e in _fetch(http, listener["id"])] == [42]


def test_events_are_filtered_by_what_the_caller_may_read(
    http: httpx2.Client, client_for: ClientFor, gateway: dict[str, Any], tahoma: dict[str, Any]
) -> None:
    elsewhere = make_site(http, "elsewhere")
    other_gateway = ok(
        http.post(
            "/v1/agents", json={"site_id": elsewhere["id"], "name": "gw-2", "kind": "gateway"}
        ),
        201,
    )
    ok(
        http.post(
            "/v1/devices/import",
            json={"gateway_id": other_gateway["id"], "setup": load_setup("setup_local.json")},
        ),
        201,
    )
    mine = device_by_url(http, AWNING)
    theirs = ok(http.get("/v1/devices", params={"gateway_id": other_gateway["id"]}))["items"][0]
    reader = client_for(make_key(http, [f"site:{gateway['site_id']}:read"])["secret"])
    for_reader = ok(reader.post("/v1/event-listeners", json={}), 201)
    for_admin = ok(http.post("/v1/event-listeners", json={}), 201)
    narrowed = ok(http.post("/v1/event-listeners", json={"site_id": elsewhere["id"]}), 201)
    assert narrowed["site_id"] == elsewhere["id"]
    _report(http, theirs["id"], 1)
    _report(http, mine["id"], 2)
    assert [e["device_id"] for e in _fetch(reader, for_reader["id"])] == [mine["id"]]
    assert [e["device_id"] for e in _fetch(http, for_admin["id"])] == [theirs["id"], mine["id"]]
    assert [e["device_id"] for e in _fetch(http, narrowed["id"])] == [theirs["id"]]
    # A listener for a site the caller cannot read, or that does not exist.
    problem(
        reader.post("/v1/event-listeners", json={"site_id": elsewhere["id"]}),
        403,
        "scope_insufficient",
    )
    problem(http.post("/v1/event-listeners", json={"site_id": "site_nope"}), 404, "not_found")


@pytest.fixture
async def client(async_app_transport: httpx2.ASGITransport) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(
        transport=async_app_transport,
        base_url=BASE,
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as client:
        yield client


def _state(transport: httpx2.ASGITransport) -> AppState:
    state = transport.app.state.fleetyard  # type: ignore[attr-defined]
    assert isinstance(state, AppState)
    return state


async def _gateway_with_devices(client: httpx2.AsyncClient) -> tuple[str, str]:
    site = (await client.post("/v1/sites", json={"name": "home"})).json()
    gateway = (
        await client.post(
            "/v1/agents", json={"site_id": site["id"], "name": "gw", "kind": "gateway"}
        )
    ).json()
    imported = await client.post(
        "/v1/devices/import",
        json={"gateway_id": gateway["id"], "setup": load_setup("setup_local_tahoma.json")},
    )
    assert imported.status_code == 201, imported.text
    return site["id"], gateway["id"]


class _Watched:
    """A bus subscription that says when someone starts waiting on it."""

    def __init__(self, inner: Subscription, parked: anyio.Event) -> None:
        self.inner, self.parked = inner, parked

    async def next_batch(self) -> list[Delivery] | Lagged:
        self.parked.set()
        return await self.inner.next_batch()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.anyio
async def test_long_poll_wakes_up_on_an_event(
    client: httpx2.AsyncClient,
    async_app_transport: httpx2.ASGITransport,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, gateway_id = await _gateway_with_devices(client)
    state = _state(async_app_transport)
    parked = anyio.Event()
    subscribe = state.bus.subscribe

    def watched_subscribe(topics: Any = (), **options: Any) -> Any:
        return _Watched(subscribe(topics, **options), parked)

    monkeypatch.setattr(state.bus, "subscribe", watched_subscribe)
    org_id = (await client.get("/v1/account")).json()["org"]["id"]
    listener = (await client.post("/v1/event-listeners", json={})).json()
    results: list[httpx2.Response] = []

    async def poll() -> None:
        results.append(
            await client.post(f"/v1/event-listeners/{listener['id']}/fetch", params={"timeout": 30})
        )

    started = time.monotonic()
    async with anyio.create_task_group() as group:
        group.start_soon(poll)
        # Wait until the fetch read, found nothing and waits on the bus; then make an event.
        with anyio.fail_after(10):
            await parked.wait()
        await devices_service.apply_states(
            state.database,
            state.bus,
            org_id=org_id,
            agent_id=gateway_id,
            device_url=AWNING,
            states=[DeviceState(name="core:ClosureState", type=1, value=77)],
        )
    assert time.monotonic() - started < 20
    [response] = results
    events = ok(response)["events"]
    assert [(e["type"], e["states"][0]["value"]) for e in events] == [("device.state_changed", 77)]


@pytest.mark.anyio
async def test_long_poll_returns_empty_after_its_timeout(client: httpx2.AsyncClient) -> None:
    listener = (await client.post("/v1/event-listeners", json={})).json()
    started = time.monotonic()
    response = await client.post(
        f"/v1/event-listeners/{listener['id']}/fetch", params={"timeout": 0.3}
    )
    assert ok(response)["events"] == []
    assert time.monotonic() - started >= 0.25
    bad = await client.post(f"/v1/event-listeners/{listener['id']}/fetch", params={"timeout": 61})
    problem(bad, 422, "validation_failed")


@pytest.mark.anyio
async def test_availability_and_gateway_presence_events(
    client: httpx2.AsyncClient, async_app_transport: httpx2.ASGITransport
) -> None:
    site_id, gateway_id = await _gateway_with_devices(client)
    plain = (
        await client.post("/v1/agents", json={"site_id": site_id, "name": "pump", "kind": "device"})
    ).json()
    state = _state(async_app_transport)
    org_id = (await client.get("/v1/account")).json()["org"]["id"]
    listener = (await client.post("/v1/event-listeners", json={})).json()

    async def fetch() -> list[dict[str, Any]]:
        response = await client.post(
            f"/v1/event-listeners/{listener['id']}/fetch", params={"timeout": 0}
        )
        events: list[dict[str, Any]] = ok(response)["events"]
        return events

    for available in (False, False, True):  # the repeat does not flip: no event
        await devices_service.set_available(
            state.database,
            state.bus,
            org_id=org_id,
            agent_id=gateway_id,
            device_url=AWNING,
            available=available,
        )
    events = await fetch()
    assert [e["type"] for e in events] == ["device.unavailable", "device.available"]
    assert events[0]["device_url"] == AWNING
    # Heartbeats flip presence: the gateway gets gateway.online, the plain agent nothing.
    for agent_id in (gateway_id, plain["id"]):
        ok(await client.post(f"/v1/agents/{agent_id}/heartbeat"))
    ok(await client.post(f"/v1/agents/{gateway_id}/heartbeat"))  # already online
    assert [(e["type"], e["gateway_id"]) for e in await fetch()] == [("gateway.online", gateway_id)]
    await sweep(state.database, state.bus, timeout_ms=0, now=int(time.time() * 1000) + 60_000)
    assert [(e["type"], e["site_id"]) for e in await fetch()] == [("gateway.offline", site_id)]
    with pytest.raises(NotFound) as missing:
        await devices_service.apply_states(
            state.database,
            state.bus,
            org_id=org_id,
            agent_id=gateway_id,
            device_url="io://1234-5678-3293/0",
            states=[DeviceState(name="core:ClosureState", value=1)],
        )
    assert missing.value.code == "no_such_device"
