"""Loading handlers from module:function and running them, sync and async."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetyard.agent.config import HandlerConfig
from fleetyard.agent.handlers import CommandFailed, Dispatcher, HandlerError, load_callable
from fleetyard.agent.simulator import Simulator
from fleetyard.protocol.devices import DeviceState
from tests.agent import sample_handlers
from tests.agent.conftest import AWNING

pytestmark = pytest.mark.anyio
MODULE = "tests.agent.sample_handlers"


def test_load_callable() -> None:
    assert load_callable(f"{MODULE}:sync_handler") is sample_handlers.sync_handler
    for bad in ("nocolon", f"{MODULE}:missing", "no_such_module_x:f", f"{MODULE}:NOT_CALLABLE"):
        with pytest.raises(HandlerError):
            load_callable(bad)


async def test_sync_and_async_handlers_are_called_with_device_command_parameters() -> None:
    reports: list[tuple[str, list[DeviceState]]] = []
    dispatcher = Dispatcher(
        [
            HandlerConfig(function=f"{MODULE}:async_handler", command="set*", device="io://*"),
            HandlerConfig(function=f"{MODULE}:sync_handler", command="on"),
        ],
        report=lambda url, states: reports.append((url, states)),
    )
    sample_handlers.calls.clear()
    await dispatcher.run("io://g/1", "setClosure", [10], execution_id="exe_1")
    await dispatcher.run("rts://g/2", "on", [], execution_id="exe_1")
    assert sample_handlers.calls == [("io://g/1", "setClosure", [10]), ("rts://g/2", "on", [])]
    assert reports[0][0] == "rts://g/2"
    assert reports[0][1][0].value == "on"
    # The device pattern matters: setClosure on rts:// has no handler.
    with pytest.raises(CommandFailed) as missing:
        await dispatcher.run("rts://g/2", "setClosure", [1], execution_id="exe_1")
    assert missing.value.failure_type == "no_handler"


async def test_handler_failures_carry_their_type() -> None:
    dispatcher = Dispatcher(
        [
            HandlerConfig(function=f"{MODULE}:failing", command="open"),
            HandlerConfig(function=f"{MODULE}:broken", command="close"),
        ],
        report=lambda url, states: None,
    )
    with pytest.raises(CommandFailed) as failed:
        await dispatcher.run("io://g/1", "open", [], execution_id="e")
    assert (failed.value.failure_type, failed.value.detail) == ("device_error", "motor blocked")
    with pytest.raises(CommandFailed) as broken:
        await dispatcher.run("io://g/1", "close", [], execution_id="e")
    assert broken.value.failure_type == "handler_error"
    assert "RuntimeError: bug" in str(broken.value.detail)


async def test_configured_handlers_come_before_the_simulator(setup_path: Path) -> None:
    sim = Simulator.from_setup(setup_path, lambda u, s: None, step_seconds=0)
    dispatcher = Dispatcher(
        [
            HandlerConfig(
                function=f"{MODULE}:async_handler",
                controllable="io:VerticalExteriorAwning*",
                command="open",
            )
        ],
        report=lambda url, states: None,
        simulator=sim,
    )
    sample_handlers.calls.clear()
    await dispatcher.run(AWNING, "open", [], execution_id="e")
    await dispatcher.run(AWNING, "setClosure", [30], execution_id="e")
    assert sample_handlers.calls == [(AWNING, "open", [])]
    device = sim.device(AWNING)
    assert device is not None
    assert device.value("core:ClosureState") == 30


async def test_a_command_over_its_timeout_fails() -> None:
    dispatcher = Dispatcher(
        [HandlerConfig(function=f"{MODULE}:forever")],
        report=lambda u, s: None,
        command_timeout_seconds=0.01,
    )
    with pytest.raises(CommandFailed) as late:
        await dispatcher.run("io://g/1", "x", [], execution_id="e")
    assert late.value.failure_type == "timeout"
