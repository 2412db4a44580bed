"""The I/O-free stream core: positions, resubscription, duplicates, errors, backoff; and twins."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

import fleetyard
from fleetyard.protocol.stream import (
    ChannelSubscription,
    MessageCreatedEvent,
    PresenceSubscription,
    parse_server_message,
)
from fleetyard.sdk import AsyncStreamSubscription, StreamSubscription
from fleetyard.sdk._stream_state import (
    ReconnectPolicy,
    StreamState,
    channel_specs,
    presence_spec,
)
from tests.sdk.test_twins import public_members, signature_of


def message(channel_id: str, seq: int) -> str:
    return json.dumps(
        {
            "type": "message.created",
            "sub": "s1",
            "channel_id": channel_id,
            "agent_id": "agt_1",
            "name": "status",
            "seq": seq,
            "message": {
                "channel_id": channel_id,
                "seq": seq,
                "ts": "2026-01-01T00:00:00.000Z",
                "received_at": "2026-01-01T00:00:00.000Z",
                "payload": {"n": seq},
            },
        }
    )


def subscribed(*channels: tuple[str, int, int]) -> str:
    return json.dumps(
        {
            "type": "subscribed",
            "id": "s1",
            "channels": [
                {
                    "channel_id": c,
                    "agent_id": "agt_1",
                    "name": "status",
                    "seq": s,
                    "aggregate_version": v,
                }
                for c, s, v in channels
            ],
        }
    )


def frame(state: StreamState) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(state.subscribe_frame())
    return data


def test_first_subscribe_sends_what_was_asked_then_resumes_by_id() -> None:
    state = StreamState(channel_specs([("agt_1", "status"), "ch_2"], after=3), aggregates=True)
    assert frame(state)["channels"] == [
        {"agent_id": "agt_1", "name": "status", "after": 3},
        {"channel_id": "ch_2", "after": 3},
    ]
    assert (
        state.receive(json.dumps({"type": "connected", "org_id": "o", "heartbeat_seconds": 2}))
        is None
    )
    assert state.liveness_timeout == 6
    assert state.receive(subscribed(("ch_1", 3, 7), ("ch_2", 3, 0))) is None
    assert state.subscribed
    event = state.receive(message("ch_1", 4))
    assert isinstance(event, MessageCreatedEvent)
    assert event.message.payload == {"n": 4}
    # After a reconnect: channels by id, each after the last seq and version seen.
    assert frame(state)["channels"] == [
        {"channel_id": "ch_1", "after": 4, "aggregate_after": 7},
        {"channel_id": "ch_2", "after": 3, "aggregate_after": 0},
    ]


def test_what_was_delivered_before_is_never_delivered_again() -> None:
    state = StreamState(channel_specs(["ch_1"], after=None))
    state.receive(subscribed(("ch_1", 10, 0)))
    assert state.receive(message("ch_1", 10)) is None
    assert state.receive(message("ch_1", 11)) is not None
    assert state.receive(message("ch_1", 11)) is None
    # A resubscription acknowledged at an older position does not move backwards.
    state.receive(subscribed(("ch_1", 5, 0)))
    assert state.positions["ch_1"].seq == 11
    assert state.receive(message("ch_1", 9)) is None
    aggregate = {
        "type": "aggregate.updated",
        "sub": "s1",
        "channel_id": "ch_1",
        "agent_id": "a",
        "name": "n",
        "version": 3,
        "data": 1,
    }
    assert state.receive(json.dumps(aggregate)) is not None
    assert state.receive(json.dumps(aggregate)) is None


def test_control_frames_and_unknown_types_yield_nothing() -> None:
    state = StreamState(channel_specs(["ch_1"], after=None))
    for text in (
        '{"type": "heartbeat"}',
        '{"type": "unsubscribed", "id": "s1"}',
        '{"type": "from.the.future", "x": 1}',
    ):
        assert state.receive(text) is None


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("not_found", 404, fleetyard.NotFoundError),
        ("scope_insufficient", 403, fleetyard.PermissionDeniedError),
        ("unauthenticated", 401, fleetyard.AuthenticationError),
        ("token_expired", 401, fleetyard.TokenExpiredError),
        ("validation_failed", 422, fleetyard.UnprocessableEntityError),
    ],
)
def test_error_frames_raise_the_sdk_error_tree(code: str, status: int, error: type) -> None:
    state = StreamState(channel_specs(["ch_1"], after=None))
    body = {"type": "error", "code": code, "detail": "nope", "status": status, "id": "s1"}
    with pytest.raises(error) as raised:
        state.receive(json.dumps(body))
    assert (raised.value.code, raised.value.status) == (code, status)
    assert raised.value.problem.detail == "nope"


def test_inputs_are_checked_early() -> None:
    with pytest.raises(TypeError):
        channel_specs("ch_1", after=None)
    with pytest.raises(TypeError):
        channel_specs([42], after=None)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="at least one"):
        StreamState([])
    assert channel_specs(["ch_1", "ch_2"], after={"ch_2": 9})[1].after == 9
    assert channel_specs(["ch_1"], after={"ch_2": 9})[0].after is None
    explicit = ChannelSubscription(channel_id="ch_1", after=1)
    assert channel_specs([explicit], after=5)[0].after == 1
    assert presence_spec("site_1") == PresenceSubscription(site_id="site_1")
    assert presence_spec({"agent_ids": ["agt_1"]}) == PresenceSubscription(agent_ids=["agt_1"])
    assert presence_spec(None) is None


def test_reconnect_delays_grow_to_a_cap_with_jitter() -> None:
    policy = ReconnectPolicy(base_delay=0.5, max_delay=4.0)
    assert [policy.delay(n, rand=lambda: 1.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert policy.delay(3, rand=lambda: 0.0) == 1.0  # the upper half only


def test_liveness_follows_the_servers_heartbeat() -> None:
    now = [100.0]
    state = StreamState(channel_specs(["ch_1"], after=None), clock=lambda: now[0])
    state.connected()
    assert state.seconds_until_dead() == 45.0
    now[0] += 44
    state.receive('{"type": "heartbeat"}')  # heartbeats count as life
    assert state.seconds_until_dead() == 45.0


def test_parse_server_message_models() -> None:
    parsed = parse_server_message(message("ch_1", 1))
    assert isinstance(parsed, MessageCreatedEvent)


def test_the_subscriptions_are_twins() -> None:
    sync, async_ = public_members(StreamSubscription), public_members(AsyncStreamSubscription)
    assert set(sync) - {"__enter__"} == set(async_) - {"__aenter__"}
    for name in set(sync) - {"__enter__"}:
        member = sync[name]
        if isinstance(member, property):
            continue
        assert signature_of(member) == signature_of(async_[name]), name
    assert inspect.iscoroutinefunction(AsyncStreamSubscription.close)
    assert not inspect.iscoroutinefunction(StreamSubscription.close)
