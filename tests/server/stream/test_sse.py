"""``GET /v1/events``: server-sent events with ``Last-Event-ID`` resume, on a real server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
from httpx2 import ServerSentEvent

from fleetyard.server.api.sse import format_event_id, parse_event_id
from tests.conftest import ADMIN_KEY
from tests.server.stream.conftest import World, make_key

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


@contextmanager
def events_of(
    world: World, params: dict[str, Any], headers: dict[str, str] | None = None
) -> Iterator[Iterator[ServerSentEvent]]:
    with (
        httpx2.Client(timeout=10.0) as client,
        client.sse(
            f"{world.live.url}/v1/events", params=params, headers={**AUTH, **(headers or {})}
        ) as source,
    ):
        assert source.response.status_code == 200, source.response.read()
        yield iter(source)


def take(events: Iterator[ServerSentEvent], count: int, kind: str) -> list[ServerSentEvent]:
    return [e for e in (next(events) for _ in range(count)) if e.event == kind]


def test_events_and_resume_with_last_event_id(world: World) -> None:
    agent = world.agent("pump-1")
    status = world.channel(agent, "status")
    other = world.channel(agent, "other")
    world.publish(status, *({"n": n} for n in range(1, 6)))
    params = {"channel_id": status, "agent_id": agent, "name": "other", "after": 0}
    with events_of(world, params) as events:
        subscribed = next(events)
        assert subscribed.event == "subscribed"
        # Aggregate versions start at the current one (5 publishes): only seqs replay.
        assert parse_event_id(subscribed.id) == {status: (0, 5), other: (0, 0)}
        got = [next(events) for _ in range(3)]
    assert [json.loads(e.data)["seq"] for e in got] == [1, 2, 3]
    assert all(e.event == "message.created" for e in got)
    last_id = got[-1].id
    assert parse_event_id(last_id) == {status: (3, 5), other: (0, 0)}
    # Missed while away: 4, 5 (stored), then 6 and another channel's first.
    world.publish(status, {"n": 6})
    world.publish(other, {"x": 1})
    with events_of(world, params, {"Last-Event-ID": last_id}) as events:
        assert next(events).event == "subscribed"
        rest = [json.loads(next(events).data) for _ in range(4)]
    assert [(e["channel_id"], e["seq"]) for e in rest] == [
        (status, 4),
        (status, 5),
        (status, 6),
        (other, 1),
    ]


def test_aggregates_presence_and_heartbeat_comments(world: World) -> None:
    agent = world.agent("pump-1")
    status = world.channel(agent, "status")
    params = {"channel_id": status, "aggregates": "true", "presence_site_id": world.site_id}
    with (
        httpx2.Client(timeout=10.0) as client,
        client.stream("GET", f"{world.live.url}/v1/events", params=params, headers=AUTH) as r,
    ):
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-cache"
        lines = r.iter_lines()
        seen: list[str] = []
        published = False
        while ": heartbeat" not in seen or sum(x.startswith("event: ") for x in seen) < 4:
            seen.append(next(lines))
            if not published and seen[-1] == "event: subscribed":
                published = True
                world.publish(status, {"t": 1})
                response = httpx2.post(
                    f"{world.live.url}/v1/agents/{agent}/heartbeat", headers=AUTH
                )
                assert response.status_code == 200, response.text
    assert "retry: 3000" in seen
    kinds = [x.removeprefix("event: ") for x in seen if x.startswith("event: ")]
    assert set(kinds) == {"subscribed", "message.created", "aggregate.updated", "agent.online"}


def test_errors_before_the_stream_are_problems(world: World) -> None:
    url = f"{world.live.url}/v1/events"
    missing = httpx2.get(url, params={"channel_id": "ch_nope"}, headers=AUTH)
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert missing.headers["content-type"] == "application/problem+json"
    bad_id = httpx2.get(
        url, params={"channel_id": "ch_nope"}, headers={**AUTH, "Last-Event-ID": "42"}
    )
    assert (bad_id.status_code, bad_id.json()["code"]) == (400, "invalid_cursor")
    unpaired = httpx2.get(url, params={"agent_id": "agt_1"}, headers=AUTH)
    assert (unpaired.status_code, unpaired.json()["code"]) == (400, "bad_request")
    nothing = httpx2.get(url, headers=AUTH)
    assert (nothing.status_code, nothing.json()["code"]) == (422, "validation_failed")
    assert httpx2.get(url, params={"channel_id": "ch_x"}).status_code == 401
    reader = make_key(world.live, f"site:{world.site_id}:read")
    other_site = world.site("elsewhere")
    forbidden = httpx2.get(
        url, params={"presence_site_id": other_site}, headers={"Authorization": f"Bearer {reader}"}
    )
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "scope_insufficient")


def test_event_ids_round_trip_and_reject_strangers() -> None:
    positions = {"ch_b": (7, 0), "ch_a": (12, 3)}
    assert parse_event_id(format_event_id(positions)) == positions
    assert format_event_id({}) == "v1"
    assert parse_event_id("v1") == {}
    for bad in ("", "v2;ch_a=1.1", "v1;ch_a=x.1", "v1;ch a=1.1", "v1;ch_a=1"):
        assert parse_event_id(bad) is None
