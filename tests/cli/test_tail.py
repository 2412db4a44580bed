"""`yard tail`: lines for people, JSON Lines for scripts, --since/--after, reconnects, Ctrl-C."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest.mock import MagicMock

from fleetyard.protocol.common import Page
from fleetyard.protocol.stream import (
    AgentPresenceEvent,
    AggregateUpdatedEvent,
    MessageCreatedEvent,
)
from fleetyard.sdk import APIConnectionError, StreamEvent
from tests.cli.conftest import Yard
from tests.cli.fakes import T0, FakeSDK, channel, message


def _message(seq: int, payload: Any) -> MessageCreatedEvent:
    return MessageCreatedEvent(
        sub="s1",
        channel_id="ch_1",
        agent_id="agt_1",
        name="status",
        seq=seq,
        message=message(seq, payload),
    )


def _aggregate(version: int, data: Any) -> AggregateUpdatedEvent:
    return AggregateUpdatedEvent(
        sub="s1",
        channel_id="ch_1",
        agent_id="agt_1",
        name="status",
        version=version,
        data=data,
        updated_at=T0,
    )


def _stream(sdk: FakeSDK, events: Any) -> MagicMock:
    """``client.stream.subscribe(...)`` yields ``events`` (an iterable or a generator function)."""
    subscription = MagicMock(name="subscription")

    def subscribe(*args: Any, **kwargs: Any) -> MagicMock:
        items = events(kwargs) if callable(events) else events
        subscription.__enter__.return_value = iter(items)
        return subscription

    sdk.client.stream.subscribe.side_effect = subscribe
    sdk.client.channels.get_by_name.return_value = channel()
    return subscription


def test_lines_for_people(sdk: FakeSDK, yard: Yard) -> None:
    presence = AgentPresenceEvent(
        type="agent.offline", sub="s1", agent_id="agt_1", site_id="site_1", at=T0
    )
    _stream(sdk, [_message(43, {"t": 21.5, "note": "ok"}), _aggregate(41, {"t": 21.5}), presence])
    result = yard("tail", "agt_1", "status", "--aggregate")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        '2026-11-02T09:30:15.123Z  #43  {"t":21.5,"note":"ok"}',
        '2026-11-02T09:30:15.123Z  aggregate v41  {"t":21.5}',
        "2026-11-02T09:30:15.123Z  agent.offline  agt_1",
    ]
    sdk.client.channels.get_by_name.assert_called_once_with("agt_1", "status")
    _, kwargs = sdk.client.stream.subscribe.call_args
    assert sdk.client.stream.subscribe.call_args.args == (["ch_1"],)
    assert (kwargs["aggregates"], kwargs["after"]) == (True, None)


def test_json_lines_for_scripts(sdk: FakeSDK, yard: Yard) -> None:
    _stream(sdk, [_message(43, {"t": 1}), _message(44, "text")])
    result = yard("tail", "agt_1", "status", "--json", "--after", "42")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == [
        {
            "type": "message.created",
            "channel_id": "ch_1",
            "agent_id": "agt_1",
            "name": "status",
            "seq": seq,
            "message": {
                "channel_id": "ch_1",
                "seq": seq,
                "ts": "2026-11-02T09:30:15.123Z",
                "received_at": "2026-11-02T09:30:15.123Z",
                "payload": payload,
                "client_message_id": None,
            },
        }
        for seq, payload in ((43, {"t": 1}), (44, "text"))
    ]
    assert sdk.client.stream.subscribe.call_args.kwargs["after"] == 42


def test_since_starts_at_the_first_message_of_the_window(sdk: FakeSDK, yard: Yard) -> None:
    _stream(sdk, [])
    sdk.client.channels.messages_page.return_value = Page(items=[message(17)])
    assert yard("tail", "agt_1", "status", "--since", "1h").exit_code == 0
    assert sdk.client.stream.subscribe.call_args.kwargs["after"] == 16
    _, kwargs = sdk.client.channels.messages_page.call_args
    assert (kwargs["start"], kwargs["order"], kwargs["limit"]) == (timedelta(hours=1), "asc", 1)
    # Nothing stored since then: follow from the channel's last seq.
    sdk.client.channels.messages_page.return_value = Page(items=[])
    assert yard("tail", "agt_1", "status", "--since", "1h").exit_code == 0
    assert sdk.client.stream.subscribe.call_args.kwargs["after"] == 42


def test_since_and_after_together_is_a_usage_error(sdk: FakeSDK, yard: Yard) -> None:
    result = yard("tail", "agt_1", "status", "--since", "1h", "--after", "3")
    assert result.exit_code == 2
    assert "give --since or --after, not both" in result.stderr
    sdk.client.stream.subscribe.assert_not_called()


def test_reconnects_are_announced_once_per_outage(sdk: FakeSDK, yard: Yard) -> None:
    def events(kwargs: dict[str, Any]) -> Iterator[StreamEvent]:
        lost = APIConnectionError("the server is restarting (close code 1012)", request=None)
        yield _message(1, 1)
        for attempt in (1, 2, 3):
            kwargs["on_reconnect"](attempt, 0.1, lost)
        yield _message(2, 2)
        kwargs["on_reconnect"](1, 0.1, lost)
        yield _message(3, 3)

    _stream(sdk, events)
    result = yard("tail", "agt_1", "status")
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 3
    warning = "warning: connection lost (the server is restarting (close code 1012)); reconnecting…"
    assert result.stderr.splitlines() == [warning, warning]


def test_ctrl_c_ends_tail_with_exit_0(sdk: FakeSDK, yard: Yard) -> None:
    def events(kwargs: dict[str, Any]) -> Iterator[StreamEvent]:
        yield _message(1, 1)
        raise KeyboardInterrupt

    subscription = _stream(sdk, events)
    result = yard("tail", "agt_1", "status")
    assert result.exit_code == 0
    assert result.stdout.count("\n") == 1
    subscription.__exit__.assert_called_once()
