"""``client.stream.subscribe`` and ``client.presence`` against a real server: both twins,
reconnect after a restart, a cut or a silent link, without gap or duplicate."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import anyio
import httpx2
import pytest
import sqlalchemy as sa

import fleetyard
from fleetyard import AsyncClient, Client, ReconnectPolicy
from fleetyard.protocol.stream import AggregateUpdatedEvent, MessageCreatedEvent
from fleetyard.sdk import StreamEvent
from fleetyard.server.settings import Settings
from fleetyard.server.storage.tables import access_tokens
from tests.conftest import ADMIN_KEY
from tests.server.helpers import PASSWORD, execute, make_user
from tests.server.stream.conftest import World
from tests.support.live import TcpProxy

FAST = ReconnectPolicy(base_delay=0.05, max_delay=0.5)


@pytest.fixture
def proxy(world: World) -> Iterator[TcpProxy]:
    tcp = TcpProxy(world.live.port)
    try:
        yield tcp
    finally:
        tcp.close()


def _seqs(events: list[StreamEvent]) -> list[int]:
    return [e.seq for e in events if isinstance(e, MessageCreatedEvent)]


def test_sync_subscribe_replays_then_streams_typed_events(world: World) -> None:
    agent = world.agent("pump-1")
    channel = world.channel(agent, "status")
    world.publish(channel, {"n": 1}, {"n": 2})
    got: list[StreamEvent] = []
    with (
        Client(ADMIN_KEY, base_url=world.live.url) as client,
        client.stream.subscribe([(agent, "status")], after=0, aggregates=True) as events,
    ):
        for event in events:
            got.append(event)
            if len(got) == 2:
                world.publish(channel, {"n": 3})
            if isinstance(event, AggregateUpdatedEvent):
                break
        assert events.positions == {channel: 3}
    assert _seqs(got) == [1, 2, 3]
    assert [e.message.payload for e in got if isinstance(e, MessageCreatedEvent)] == [
        {"n": 1},
        {"n": 2},
        {"n": 3},
    ]
    assert isinstance(got[-1], AggregateUpdatedEvent)
    assert (got[-1].version, got[-1].data) == (3, {"n": 3})


@pytest.mark.anyio
async def test_async_subscribe_is_the_twin(world: World) -> None:
    agent = await anyio.to_thread.run_sync(world.agent, "pump-1")
    channel = await anyio.to_thread.run_sync(world.channel, agent, "status")
    await anyio.to_thread.run_sync(world.publish, channel, {"n": 1})
    got: list[StreamEvent] = []
    async with AsyncClient(ADMIN_KEY, base_url=world.live.url) as client:
        async with client.stream.subscribe([channel], after={channel: 0}) as events:
            async for event in events:
                got.append(event)
                if len(got) == 1:
                    await anyio.to_thread.run_sync(world.publish, channel, {"n": 2})
                if len(got) == 2:
                    break
        agent_now = await client.presence.heartbeat(agent)
    assert _seqs(got) == [1, 2]
    assert agent_now.online


def test_subscribing_from_now_misses_nothing_published_after_the_with_line(world: World) -> None:
    agent = world.agent("pump-1")
    channel = world.channel(agent, "status")
    world.publish(channel, {"n": 1})
    with (
        Client(ADMIN_KEY, base_url=world.live.url) as client,
        client.stream.subscribe([channel], idle_timeout=1.5) as events,
    ):
        world.publish(channel, {"n": 2}, {"n": 3})
        got = list(events)  # ends after 1.5 s without an event, heartbeats or not
    assert _seqs(got) == [2, 3]


@pytest.mark.parametrize("how", ["restart", "cut", "freeze"])
def test_reconnects_and_resumes_without_gap_or_duplicate(
    world: World, proxy: TcpProxy, how: str
) -> None:
    agent = world.agent("pump-1")
    channel = world.channel(agent, "status")
    reconnects: list[tuple[int, float, Exception]] = []
    got: list[StreamEvent] = []
    with (
        Client(ADMIN_KEY, base_url=proxy.url) as client,
        client.stream.subscribe(
            [channel],
            reconnect=FAST,
            on_reconnect=lambda *args: reconnects.append(args),
        ) as events,
    ):
        world.publish(channel, *({"n": n} for n in range(1, 6)))
        for event in events:
            got.append(event)
            if len(got) == 5:
                break
        if how == "restart":
            world.live.restart()
        elif how == "cut":
            proxy.cut()
        else:
            proxy.freeze()  # silent: only the missing heartbeats tell
        # Published while the subscriber is away (or about to find out it is).
        world.publish(channel, *({"n": n} for n in range(6, 11)))
        started = time.monotonic()
        for event in events:
            got.append(event)
            if len(got) == 10:
                break
        took = time.monotonic() - started
    assert _seqs(got) == list(range(1, 11))
    assert reconnects, "the subscription should have reconnected"
    assert proxy.connections >= 2
    if how == "freeze":
        # Three missed heartbeats (0.5 s each in these tests), not a TCP timeout.
        assert 1.0 < took < 10


def test_close_from_another_thread_ends_iteration(world: World) -> None:
    agent = world.agent("pump-1")
    channel = world.channel(agent, "status")
    with (
        Client(ADMIN_KEY, base_url=world.live.url) as client,
        client.stream.subscribe([channel]) as events,
    ):
        threading.Timer(0.3, events.close).start()
        started = time.monotonic()
        assert list(events) == []
        assert time.monotonic() - started < 5
        assert events.closed


def test_errors_that_cannot_be_retried_are_raised(world: World) -> None:
    with Client(ADMIN_KEY, base_url=world.live.url) as client:
        with pytest.raises(fleetyard.NotFoundError) as missing:
            client.stream.subscribe(["ch_doesnotexist"]).__enter__()
        assert missing.value.code == "not_found"
        assert missing.value.status == 404
    with (
        Client("fy_test_" + "x" * 40, base_url=world.live.url) as client,
        pytest.raises(fleetyard.AuthenticationError) as refused,
    ):
        client.stream.subscribe(["ch_x"]).__enter__()
    assert refused.value.code == "unauthenticated"


def test_an_unreachable_server_fails_after_the_first_attempts() -> None:
    from tests.support.live import free_port

    retry = fleetyard.RetryPolicy(max_attempts=2)
    with (
        Client(ADMIN_KEY, base_url=f"http://127.0.0.1:{free_port()}", retry=retry) as client,
        pytest.raises(fleetyard.APIConnectionError),
    ):
        client.stream.subscribe(["ch_x"], reconnect=FAST).__enter__()


def test_an_access_token_expired_early_is_renewed_and_the_stream_goes_on(
    world: World, settings: Settings
) -> None:
    agent = world.agent("pump-1")
    channel = world.channel(agent, "status")
    with httpx2.Client(
        base_url=world.live.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as http:
        make_user(http, "ada@example.com", role="admin")
    with Client(base_url=world.live.url) as client:
        client.auth.login("ada@example.com", PASSWORD)
        # The server ends the token before the client expected it to.
        execute(settings.resolved_database_url, sa.update(access_tokens).values(expires_at=1))
        with client.stream.subscribe([channel], idle_timeout=3) as events:
            world.publish(channel, {"n": 1})
            got = list(events)
    assert _seqs(got) == [1]
