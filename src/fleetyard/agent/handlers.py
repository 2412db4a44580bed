"""Who runs a device command: a configured Python function, else the simulator, else nobody.

A handler is any callable named ``module:function`` in ``[[handlers]]``; it is
called as ``function(device, command, parameters)``:

- ``device`` is a :class:`Device` (its URL, controllable name when known, the
  execution id, and :meth:`Device.report_states` to publish state changes);
- ``command`` the command name (``"setClosure"``), ``parameters`` its list;
- ``async def`` handlers are awaited (and cancelled when the execution is);
  plain functions run in a worker thread (a cancel then takes effect when
  they return);
- returning means the command completed; raising
  :class:`~fleetyard.agent.simulator.CommandFailed` fails it with that
  ``failure_type``; any other exception fails it with ``handler_error``.

Example handler module::

    from fleetyard.agent import CommandFailed

    async def set_closure(device, command, parameters):
        await my_motor.move_to(parameters[0])
        device.report_states([{"name": "core:ClosureState", "type": 1, "value": parameters[0]}])
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from pydantic import JsonValue

from fleetyard.agent.config import HandlerConfig
from fleetyard.agent.simulator import CommandFailed, Simulator, StateReport
from fleetyard.protocol.devices import DeviceState
from fleetyard.protocol.executions import FailureType

__all__ = ["CommandFailed", "Device", "Dispatcher", "HandlerError", "load_callable"]

Handler = Callable[..., Any]


class HandlerError(ValueError):
    """A ``module:function`` that cannot be loaded."""


def load_callable(spec: str) -> Handler:
    """Import ``module:function`` (``function`` may be dotted: ``module:Class.method``).

    >>> load_callable("json:dumps")([1])
    '[1]'
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise HandlerError(f"{spec!r} is not module:function")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise HandlerError(f"cannot import {module_name!r} for {spec!r}: {exc}") from None
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise HandlerError(f"{module_name!r} has no {attr!r} (from {spec!r})") from None
    if not callable(target):
        raise HandlerError(f"{spec!r} is not callable")
    return target  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Device:
    """The device a handler is asked to act on (its first argument)."""

    device_url: str
    controllable_name: str | None
    execution_id: str
    _report: StateReport

    def report_states(self, states: Sequence[DeviceState | Mapping[str, Any]]) -> None:
        """Publish state changes of this device (durably, through the outbox).
        Safe from sync handlers (worker threads) too."""
        parsed = [
            s if isinstance(s, DeviceState) else DeviceState.model_validate(s) for s in states
        ]
        if parsed:
            self._report(self.device_url, parsed)


@dataclass(frozen=True)
class _Route:
    config: HandlerConfig
    function: Handler


class Dispatcher:
    """Finds and runs the handler of each command (see the module docstring)."""

    def __init__(
        self,
        handlers: Sequence[HandlerConfig],
        *,
        report: StateReport,
        simulator: Simulator | None = None,
        command_timeout_seconds: float | None = None,
    ) -> None:
        self._routes = [_Route(h, load_callable(h.function)) for h in handlers]
        self._report = report
        self.simulator = simulator
        self._timeout = command_timeout_seconds

    def _controllable(self, device_url: str) -> str | None:
        device = self.simulator.device(device_url) if self.simulator else None
        return device.controllable_name if device else None

    def find(self, device_url: str, command: str) -> Handler | None:
        """The configured function for this command, if any (first match wins)."""
        controllable = self._controllable(device_url) or ""
        for route in self._routes:
            c = route.config
            if (
                fnmatchcase(command, c.command)
                and fnmatchcase(device_url, c.device)
                and (c.controllable == "*" or fnmatchcase(controllable, c.controllable))
            ):
                return route.function
        return None

    async def run(
        self, device_url: str, command: str, parameters: list[JsonValue], *, execution_id: str
    ) -> None:
        """Run one command to its end; raises :class:`CommandFailed` when it did not succeed."""
        try:
            if self._timeout is None:
                await self._run(device_url, command, parameters, execution_id)
            else:
                async with asyncio.timeout(self._timeout):
                    await self._run(device_url, command, parameters, execution_id)
        except TimeoutError:
            raise CommandFailed(
                FailureType.TIMEOUT, f"{command} took over {self._timeout}s"
            ) from None

    async def _run(
        self, device_url: str, command: str, parameters: list[JsonValue], execution_id: str
    ) -> None:
        function = self.find(device_url, command)
        if function is None:
            if self.simulator is not None and self.simulator.device(device_url) is not None:
                await self.simulator.run(device_url, command, parameters)
                return
            raise CommandFailed(FailureType.NO_HANDLER, f"no handler for {command} on {device_url}")
        device = Device(device_url, self._controllable(device_url), execution_id, self._report)
        try:
            if inspect.iscoroutinefunction(function):
                await function(device, command, list(parameters))
            else:
                result = await asyncio.to_thread(function, device, command, list(parameters))
                if inspect.isawaitable(result):
                    await result
        except CommandFailed:
            raise
        except Exception as exc:
            raise CommandFailed(FailureType.HANDLER_ERROR, f"{type(exc).__name__}: {exc}") from exc
