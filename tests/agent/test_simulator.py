"""The simulator on the devices of setup_local_tahoma.json."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fleetyard.agent.simulator import CommandFailed, Simulator
from fleetyard.protocol.devices import DeviceState
from tests.agent.conftest import ALARM, AWNING, LIGHT

pytestmark = pytest.mark.anyio

Reports = list[tuple[str, list[DeviceState]]]


def simulator(setup_path: Path, reports: Reports, step: float = 0.0) -> Simulator:
    return Simulator.from_setup(
        setup_path, lambda url, states: reports.append((url, states)), step_seconds=step, steps=4
    )


def values(reports: Reports, name: str) -> list[object]:
    return [s.value for _, states in reports for s in states if s.name == name]


async def test_loads_the_setup(setup_path: Path) -> None:
    sim = simulator(setup_path, [])
    assert len(sim.devices) == 8
    device = sim.device(AWNING)
    assert device is not None
    assert device.controllable_name == "io:VerticalExteriorAwningIOComponent"
    assert device.value("core:ClosureState") == 0
    assert sim.accepts(AWNING, "setClosure")
    assert not sim.accepts(AWNING, "setTargetTemperature")


async def test_set_closure_moves_in_steps_and_sets_open_closed(setup_path: Path) -> None:
    reports: Reports = []
    sim = simulator(setup_path, reports)
    await sim.run(AWNING, "setClosure", [50])
    assert values(reports, "core:ClosureState") == [12, 25, 38, 50]
    assert values(reports, "core:TargetClosureState") == [50]
    assert values(reports, "core:MovingState") == [True, False]
    assert all(url == AWNING for url, _ in reports)
    # 0 → 50: still open; the OpenClosedState did not change, so it is not reported.
    assert values(reports, "core:OpenClosedState") == []
    await sim.run(AWNING, "close", [])
    assert values(reports, "core:ClosureState")[-1] == 100
    assert values(reports, "core:OpenClosedState") == ["closed"]
    await sim.run(AWNING, "open", [])
    assert values(reports, "core:OpenClosedState") == ["closed", "open"]
    device = sim.device(AWNING)
    assert device is not None
    assert device.value("core:ClosureState") == 0


async def test_cancel_mid_move_stops_where_it_is(setup_path: Path) -> None:
    reports: Reports = []
    sim = simulator(setup_path, reports, step=0.05)
    moved = asyncio.Event()

    def report(url: str, states: list[DeviceState]) -> None:
        reports.append((url, states))
        if any(s.name == "core:ClosureState" for s in states):
            moved.set()

    sim._report = report
    task = asyncio.create_task(sim.run(AWNING, "setClosure", [100]))
    await moved.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    device = sim.device(AWNING)
    assert device is not None
    assert device.value("core:ClosureState") == 25
    assert device.value("core:MovingState") is False
    assert values(reports, "core:ClosureState") == [25]


async def test_stop_halts_a_move_from_another_execution(setup_path: Path) -> None:
    reports: Reports = []
    sim = simulator(setup_path, reports, step=0.05)
    move = asyncio.create_task(sim.run(AWNING, "setClosure", [100]))
    await asyncio.sleep(0)  # the move has begun (its first report is synchronous)
    await sim.run(AWNING, "stop", [])
    await move
    device = sim.device(AWNING)
    assert device is not None
    assert device.value("core:ClosureState") == 0
    assert device.value("core:MovingState") is False


async def test_on_off_and_intensity(setup_path: Path) -> None:
    reports: Reports = []
    sim = simulator(setup_path, reports)
    await sim.run(LIGHT, "on", [])
    await sim.run(LIGHT, "setIntensity", [40])
    await sim.run(LIGHT, "off", [])
    assert values(reports, "core:OnOffState")[-1] == "off"
    assert values(reports, "core:LightIntensityState") == [40]


async def test_bad_parameters_and_unknown_commands_fail(setup_path: Path) -> None:
    sim = simulator(setup_path, [])
    with pytest.raises(CommandFailed) as bad:
        await sim.run(AWNING, "setClosure", [150])
    assert bad.value.failure_type == "invalid_parameters"
    with pytest.raises(CommandFailed) as count:
        await sim.run(AWNING, "setClosure", [])
    assert count.value.failure_type == "invalid_parameters"
    with pytest.raises(CommandFailed) as unknown:
        await sim.run(AWNING, "setTargetTemperature", [20])
    assert unknown.value.failure_type == "no_handler"


async def test_other_commands_of_the_definition_succeed(setup_path: Path) -> None:
    reports: Reports = []
    sim = simulator(setup_path, reports)
    await sim.run(ALARM, "refreshAlarmDelay", [])
    await sim.run(AWNING, "wink", [3])
    assert reports == []


async def test_set_target_temperature_moves_temperature(tmp_path: Path) -> None:
    setup = tmp_path / "setup.json"
    setup.write_text(
        '{"devices": [{"deviceURL": "io://g/1", "controllableName": "io:Heater",'
        ' "definition": {"commands": [{"commandName": "setTargetTemperature", "nparams": 1}],'
        ' "states": [{"name": "core:TargetTemperatureState"}, {"name": "core:TemperatureState"}]},'
        ' "states": [{"name": "core:TemperatureState", "type": 2, "value": 18.0}]}]}'
    )
    reports: Reports = []
    sim = Simulator.from_setup(setup, lambda u, s: reports.append((u, s)), step_seconds=0, steps=2)
    await sim.run("io://g/1", "setTargetTemperature", [21])
    assert values(reports, "core:TargetTemperatureState") == [21.0]
    assert values(reports, "core:TemperatureState") == [19.5, 21.0]
