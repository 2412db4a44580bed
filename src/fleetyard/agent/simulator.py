"""Simulated devices: a gateway setup JSON brought to life, for demos and tests.

``yard agent run --simulate setup.json`` loads the devices of a setup (the
gateway's own shape: ``deviceURL``, ``controllableName``, ``definition``,
``states``) and answers their commands the way the real devices would,
reporting every state change:

- ``setClosure(p)`` / ``setPosition(p)``, ``open``/``up``, ``close``/``down``:
  ``core:ClosureState`` moves towards the target in a few steps, with
  ``core:TargetClosureState``, ``core:MovingState`` and at the end
  ``core:OpenClosedState`` (``closed`` at 100, else ``open``);
  ``setDeployment(p)``, ``deploy``, ``undeploy``: the same on
  ``core:DeploymentState``; ``my`` goes to ``core:Memorized1PositionState``;
- ``stop`` halts a move where it is (so does cancelling the execution);
- ``on``/``off``/``setOnOff``, ``setIntensity``: ``core:OnOffState``,
  ``core:LightIntensityState``;
- ``setTargetTemperature(t)``: ``core:TargetTemperatureState`` at once, then
  ``core:TemperatureState`` (when the device has it) moves towards ``t``;
- ``setOrientation``, ``openSlats``, ``closeSlats``: ``core:SlatsOrientationState``;
- any other ``setX(v)`` whose device reports ``core:XState`` sets it;
- any other command of the device's definition succeeds after a short delay.

Example::

    sim = Simulator.from_setup(Path("setup.json"), report=print, step_seconds=0.1)
    await sim.run("io://1234-5678-3293/3541212", "setClosure", [50])
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import JsonValue

from fleetyard.protocol.devices import (
    CommandDefinition,
    DataType,
    DeviceDefinition,
    DeviceState,
    StateDefinition,
)
from fleetyard.protocol.executions import FailureType

__all__ = ["CommandFailed", "SimulatedDevice", "Simulator", "StateReport", "load_setup"]

StateReport = Callable[[str, list[DeviceState]], None]
"""``report(device_url, changed_states)``: where state changes go (the outbox)."""


class CommandFailed(Exception):
    """A command that did not succeed, with the ``failure_type`` to report.

    Handlers raise it too::

        raise CommandFailed(FailureType.DEVICE_ERROR, "motor blocked")
    """

    def __init__(self, failure_type: str, detail: str | None = None) -> None:
        super().__init__(detail or failure_type)
        self.failure_type = str(failure_type)
        self.detail = detail


@dataclass
class SimulatedDevice:
    """One device of the setup: what it accepts, what it reports now."""

    device_url: str
    label: str
    controllable_name: str | None
    definition: DeviceDefinition
    states: dict[str, DeviceState] = field(default_factory=dict)
    generation: int = 0
    """Bumped by every move and by ``stop``: a move whose generation is stale halts."""

    def value(self, name: str) -> JsonValue:
        state = self.states.get(name)
        return None if state is None else state.value

    def has_state(self, name: str) -> bool:
        return name in self.states or any(s.name == name for s in self.definition.states)


def load_setup(path: Path) -> list[SimulatedDevice]:
    """The devices of a setup JSON (``{"devices": [...]}``, the gateway's camelCase shape)."""
    data = json.loads(path.read_text())
    devices = data.get("devices", []) if isinstance(data, dict) else []
    return [_device(raw) for raw in devices if isinstance(raw, dict) and raw.get("deviceURL")]


def _device(raw: dict[str, Any]) -> SimulatedDevice:
    definition = raw.get("definition") or {}
    commands = [
        CommandDefinition(
            command_name=c["commandName"],
            nparams=c.get("nparams", 0),
            params_sig=c.get("paramsSig"),
        )
        for c in definition.get("commands", [])
        if c.get("commandName")
    ]
    state_defs = [
        StateDefinition(name=s["name"], type=s.get("type"), values=s.get("values"))
        for s in definition.get("states", [])
        if s.get("name")
    ]
    states = {
        s["name"]: DeviceState(name=s["name"], type=s.get("type", 0), value=s.get("value"))
        for s in raw.get("states") or []
        if s.get("name")
    }
    return SimulatedDevice(
        device_url=raw["deviceURL"],
        label=raw.get("label", ""),
        controllable_name=raw.get("controllableName"),
        definition=DeviceDefinition(
            commands=commands,
            states=state_defs,
            widget_name=definition.get("widgetName"),
            ui_class=definition.get("uiClass"),
            type=definition.get("type"),
            qualified_name=definition.get("qualifiedName"),
        ),
        states=states,
    )


_POSITION_COMMANDS = {
    "setClosure": "core:ClosureState",
    "setPosition": "core:ClosureState",
    "setDeployment": "core:DeploymentState",
    "setOrientation": "core:SlatsOrientationState",
}
_FIXED_MOVES = {
    "open": ("core:ClosureState", 0),
    "up": ("core:ClosureState", 0),
    "close": ("core:ClosureState", 100),
    "down": ("core:ClosureState", 100),
    "deploy": ("core:DeploymentState", 100),
    "undeploy": ("core:DeploymentState", 0),
    "openSlats": ("core:SlatsOrientationState", 0),
    "closeSlats": ("core:SlatsOrientationState", 100),
}


class Simulator:
    """The simulated devices of one setup and how they answer commands."""

    def __init__(
        self,
        devices: list[SimulatedDevice],
        report: StateReport,
        *,
        step_seconds: float = 0.5,
        steps: int = 4,
    ) -> None:
        self.devices = {device.device_url: device for device in devices}
        self._report = report
        self.step_seconds = step_seconds
        self.steps = max(steps, 1)

    @classmethod
    def from_setup(cls, path: Path, report: StateReport, **options: Any) -> Simulator:
        return cls(load_setup(path), report, **options)

    def device(self, device_url: str) -> SimulatedDevice | None:
        return self.devices.get(device_url)

    def accepts(self, device_url: str, command: str) -> bool:
        device = self.devices.get(device_url)
        return device is not None and device.definition.command(command) is not None

    async def run(self, device_url: str, command: str, parameters: list[JsonValue]) -> None:
        """Perform one command; raises :class:`CommandFailed`. Cancelling halts a move."""
        device = self.devices.get(device_url)
        if device is None or device.definition.command(command) is None:
            raise CommandFailed(FailureType.NO_HANDLER, f"{command} is not a command of the device")
        spec = device.definition.command(command)
        assert spec is not None
        if not spec.min_params <= len(parameters) <= max(spec.max_params, spec.min_params):
            raise CommandFailed(
                FailureType.INVALID_PARAMETERS,
                f"{command} takes {spec.min_params}..{spec.max_params} parameters",
            )
        if command in _POSITION_COMMANDS:
            await self._move(device, _POSITION_COMMANDS[command], _percent(command, parameters))
        elif command in _FIXED_MOVES:
            name, target = _FIXED_MOVES[command]
            await self._move(device, name, target)
        elif command == "my":
            memorized = device.value("core:Memorized1PositionState")
            await self._move(device, "core:ClosureState", _int(memorized, 0))
        elif command == "stop":
            device.generation += 1
            self._set(device, {"core:MovingState": False})
        elif command in ("on", "off"):
            self._set(device, {"core:OnOffState": command})
        elif command == "setOnOff":
            self._set(device, {"core:OnOffState": "on" if parameters[0] in ("on", True) else "off"})
        elif command == "setIntensity":
            level = _percent(command, parameters)
            self._set(
                device,
                {"core:LightIntensityState": level, "core:OnOffState": "on" if level else "off"},
            )
        elif command == "setTargetTemperature":
            await self._temperature(device, parameters)
        else:
            await self._generic(device, command, parameters)

    # -- behaviours ---------------------------------------------------------------------

    async def _move(self, device: SimulatedDevice, name: str, target: int) -> None:
        device.generation += 1
        generation = device.generation
        start = _int(device.value(name), 0)
        target_name = {"core:ClosureState": "core:TargetClosureState"}.get(name)
        first: dict[str, JsonValue] = {"core:MovingState": True}
        if target_name:
            first[target_name] = target
        self._set(device, first)
        try:
            for step in range(1, self.steps + 1):
                await asyncio.sleep(self.step_seconds)
                if device.generation != generation:  # stopped, or another move took over
                    return
                position = round(start + (target - start) * step / self.steps)
                self._set(device, {name: position})
        finally:
            if device.generation == generation:
                done: dict[str, JsonValue] = {"core:MovingState": False}
                if name == "core:ClosureState":
                    closure = _int(device.value(name), 0)
                    done["core:OpenClosedState"] = "closed" if closure >= 100 else "open"
                self._set(device, done)

    async def _temperature(self, device: SimulatedDevice, parameters: list[JsonValue]) -> None:
        value = parameters[0] if parameters else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CommandFailed(FailureType.INVALID_PARAMETERS, "a temperature is a number")
        target = float(value)
        self._set(device, {"core:TargetTemperatureState": target})
        current = device.value("core:TemperatureState")
        if not isinstance(current, int | float) or isinstance(current, bool):
            return
        start = float(current)
        for step in range(1, self.steps + 1):
            await asyncio.sleep(self.step_seconds)
            self._set(
                device,
                {"core:TemperatureState": round(start + (target - start) * step / self.steps, 1)},
            )

    async def _generic(
        self, device: SimulatedDevice, command: str, parameters: list[JsonValue]
    ) -> None:
        await asyncio.sleep(min(self.step_seconds, 0.2))
        if command.startswith("set") and len(parameters) == 1:
            name = f"core:{command[3:]}State"
            if device.has_state(name):
                self._set(device, {name: parameters[0]})

    def _set(self, device: SimulatedDevice, values: dict[str, JsonValue]) -> None:
        changed: list[DeviceState] = []
        for name, value in values.items():
            old = device.states.get(name)
            if old is not None and old.value == value:
                continue
            if old is None and not device.has_state(name):
                continue  # the device does not report this state
            state = DeviceState(name=name, type=_type_of(value, old), value=value)
            device.states[name] = state
            changed.append(state)
        if changed:
            self._report(device.device_url, changed)


def _percent(command: str, parameters: list[JsonValue]) -> int:
    value = parameters[0] if parameters else None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise CommandFailed(FailureType.INVALID_PARAMETERS, f"{command} takes an integer 0..100")
    return value


def _int(value: JsonValue, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return int(value)


def _type_of(value: JsonValue, old: DeviceState | None) -> int:
    if old is not None and old.type:
        return old.type
    if isinstance(value, bool):
        return DataType.BOOLEAN
    if isinstance(value, int):
        return DataType.INTEGER
    if isinstance(value, float):
        return DataType.FLOAT
    if isinstance(value, str):
        return DataType.STRING
    return DataType.JSON_OBJECT if isinstance(value, dict) else DataType.NONE
