"""`yard events`: one fetch window, --follow until Ctrl-C, JSON Lines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from unittest.mock import MagicMock

from tests.cli.conftest import Yard
from tests.cli.device_fakes import URL, event
from tests.cli.fakes import FakeSDK

EVENTS = [
    event(
        1,
        device_url=URL,
        device_id="dev_1",
        states=[{"name": "core:ClosureState", "type": 1, "value": 50}],
    ),
    event(
        2,
        "execution.state_changed",
        execution_id="exe_1",
        old_state="in_progress",
        new_state="completed",
    ),
    event(3, "gateway.offline"),
]
LINES = (
    "2026-11-02T09:30:15.123Z  #1  device.state_changed  io://1234-5678-3293/3541212"
    "  core:ClosureState=50\n"
    "2026-11-02T09:30:15.123Z  #2  execution.state_changed  exe_1  in_progress -> completed\n"
    "2026-11-02T09:30:15.123Z  #3  gateway.offline  agt_gw\n"
)


def test_one_window_registers_fetches_and_unregisters(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.events.register_listener.return_value = MagicMock(id="evl_1")
    sdk.client.events.fetch.return_value = EVENTS

    result = yard("events", "--site", "site_1", "--timeout", "5")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == LINES
    sdk.client.events.register_listener.assert_called_once_with(site_id="site_1")
    sdk.client.events.fetch.assert_called_once_with("evl_1", timeout=5.0)
    sdk.client.events.unregister.assert_called_once_with("evl_1")


def test_json_lines(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.events.register_listener.return_value = MagicMock(id="evl_1")
    sdk.client.events.fetch.return_value = EVENTS[1:2]

    result = yard("events", "--json")

    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {
            "seq": 2,
            "type": "execution.state_changed",
            "at": "2026-11-02T09:30:15.123Z",
            "gateway_id": "agt_gw",
            "site_id": "site_1",
            "execution_id": "exe_1",
            "old_state": "in_progress",
            "new_state": "completed",
        }
    ]


class Subscription:
    """A stand-in for DeviceEventSubscription: some events, then Ctrl-C."""

    def __init__(self, registrations: list[int]) -> None:
        self._registrations = registrations
        self.registrations = 0
        self.closed = False

    def __iter__(self) -> Iterator[object]:
        for n, item in enumerate(EVENTS):
            self.registrations = self._registrations[n]
            yield item
        raise KeyboardInterrupt

    def close(self) -> None:
        self.closed = True


def test_follow_until_ctrl_c_exits_0_and_unregisters(sdk: FakeSDK, yard: Yard) -> None:
    subscription = Subscription([1, 1, 1])
    sdk.client.events.listen.return_value = subscription

    result = yard("events", "--follow")

    assert result.exit_code == 0
    assert result.stdout == LINES
    assert result.stderr == ""
    assert subscription.closed
    sdk.client.events.listen.assert_called_once_with(site_id=None, timeout=30.0)


def test_follow_warns_when_the_listener_was_replaced(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.events.listen.return_value = Subscription([1, 2, 2])

    result = yard("events", "-f")

    assert result.stderr == (
        "warning: the event listener expired and was replaced; events may be missing\n"
    )
