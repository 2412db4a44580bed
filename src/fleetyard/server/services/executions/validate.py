"""Checking an action group against the devices it names, before anything is written.

The rules, in this order (the first rule that fails answers, with every
action it fails for in ``errors``):

1. a device URL unknown in the caller's organisation (or hidden from the
   caller) → 404 ``no_such_device``;
2. a URL behind several gateways and no ``gateway_id`` → 422
   ``device_ambiguous`` (``candidates``: the devices it could be);
3. devices of more than one gateway → 422 ``mixed_gateways``;
4. two actions on one device → 400 ``duplicate_action_on_device``;
5. a command the device's definition lacks → 422 ``no_such_command``;
6. a parameter count outside the definition's ``[min_params, max_params]``, or
   a known-typed parameter of the wrong type → 422 ``invalid_parameters``.

Example::

    resolved = await resolve(conn, org_id=org, actions=body.actions,
                             gateway_id=body.gateway_id, readable=can_read)
    resolved.agent_id, resolved.site_id, resolved.device_ids
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.devices import CommandDefinition
from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.executions import Action, Command
from fleetyard.server.services.errors import BadRequest, NotFound, Unprocessable
from fleetyard.server.storage.repositories import executions as repo
from fleetyard.server.storage.repositories.executions import DeviceTarget

Loc = tuple[str | int, ...]

PERCENT_COMMANDS = frozenset(
    {"setClosure", "setDeployment", "setPosition", "setIntensity", "setOrientation"}
)
"""Commands whose first parameter is an integer percentage, 0 to 100."""
NUMBER_COMMANDS = frozenset(
    {
        "setTargetTemperature",
        "setHeatingTargetTemperature",
        "setCoolingTargetTemperature",
        "setComfortTemperature",
        "setEcoTemperature",
    }
)
"""Commands whose first parameter is a number."""


@dataclass(frozen=True, slots=True)
class Resolved:
    """An action group that passed: its gateway, site, and the device behind each action."""

    agent_id: str
    site_id: str
    devices: list[DeviceTarget]

    @property
    def device_ids(self) -> list[str]:
        return [d.id for d in self.devices]


def _error(loc: Loc, message: str, type_: str) -> dict[str, Any]:
    return {"loc": list(loc), "message": message, "type": type_}


def command_definitions(definition: dict[str, Any]) -> dict[str, CommandDefinition]:
    """The commands of a stored definition by name (our snake_case or the gateway's camelCase)."""
    found: dict[str, CommandDefinition] = {}
    for raw in definition.get("commands") or []:
        if not isinstance(raw, dict):
            continue
        name = raw.get("command_name", raw.get("commandName"))
        if not isinstance(name, str):
            continue
        nparams = raw.get("nparams", 0)
        sig = raw.get("params_sig", raw.get("paramsSig"))
        found[name] = CommandDefinition(
            command_name=name,
            nparams=nparams if isinstance(nparams, int) else 0,
            params_sig=sig if isinstance(sig, str) else None,
        )
    return found


def _is_percent(value: JsonValue) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100


def _is_number(value: JsonValue) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parameter_problem(command: Command, definition: CommandDefinition) -> str | None:
    """Why ``command``'s parameters do not fit ``definition``, or None when they do."""
    count = len(command.parameters)
    low, high = definition.min_params, definition.max_params
    if not low <= count <= high:
        wanted = str(low) if low == high else f"{low} to {high}"
        return f"{command.name} takes {wanted} parameter(s), got {count}"
    if not command.parameters:
        return None
    first = command.parameters[0]
    if command.name in PERCENT_COMMANDS and not _is_percent(first):
        return f"{command.name} takes an integer from 0 to 100, got {first!r}"
    if command.name in NUMBER_COMMANDS and not _is_number(first):
        return f"{command.name} takes a number, got {first!r}"
    return None


async def resolve(
    conn: AsyncConnection,
    *,
    org_id: str,
    actions: Sequence[Action],
    gateway_id: str | None,
    readable: Callable[[DeviceTarget], bool] | None,
    loc: Loc = ("body", "actions"),
) -> Resolved:
    """Resolve and check ``actions`` (see the module docstring); raises the first failure.

    ``readable`` hides devices the caller may not read (they answer
    ``no_such_device`` like devices that do not exist); None: every device.
    """
    urls = {a.device_url for a in actions}
    targets = await repo.devices_by_url(conn, org_id=org_id, device_urls=urls)
    by_url: dict[str, list[DeviceTarget]] = defaultdict(list)
    for target in targets:
        if readable is not None and not readable(target):
            continue
        if gateway_id is not None and target.agent_id != gateway_id:
            continue
        by_url[target.device_url].append(target)

    missing = [
        _error((*loc, i, "device_url"), f"No device {a.device_url!r}.", "no_such_device")
        for i, a in enumerate(actions)
        if not by_url[a.device_url]
    ]
    if missing:
        behind = "" if gateway_id is None else f" behind gateway {gateway_id!r}"
        raise NotFound(
            f"Unknown device URL{'s' if len(missing) > 1 else ''}{behind}.",
            code=ErrorCode.NO_SUCH_DEVICE,
            errors=missing,
        )

    ambiguous = [(i, a) for i, a in enumerate(actions) if len(by_url[a.device_url]) > 1]
    if ambiguous:
        raise Unprocessable(
            "A device URL exists behind several gateways: name one with gateway_id.",
            code=ErrorCode.DEVICE_AMBIGUOUS,
            errors=[
                _error((*loc, i, "device_url"), "Behind several gateways.", "device_ambiguous")
                for i, _ in ambiguous
            ],
            candidates=[
                {"device_url": d.device_url, "gateway_id": d.agent_id, "device_id": d.id}
                for i, a in ambiguous
                for d in by_url[a.device_url]
            ],
        )

    chosen = [by_url[a.device_url][0] for a in actions]
    gateways = sorted({d.agent_id for d in chosen})
    if len(gateways) > 1:
        raise Unprocessable(
            "The devices of one execution must all be behind one gateway.",
            code=ErrorCode.MIXED_GATEWAYS,
            errors=[
                _error((*loc, i, "device_url"), f"Behind gateway {d.agent_id}.", "mixed_gateways")
                for i, d in enumerate(chosen)
            ],
            gateway_ids=gateways,
        )

    seen: set[str] = set()
    duplicates = []
    for i, device in enumerate(chosen):
        if device.id in seen:
            duplicates.append(
                _error(
                    (*loc, i, "device_url"),
                    "Another action already targets this device; put its commands there.",
                    "duplicate_action_on_device",
                )
            )
        seen.add(device.id)
    if duplicates:
        raise BadRequest(
            "One action per device.", code=ErrorCode.DUPLICATE_ACTION_ON_DEVICE, errors=duplicates
        )

    definitions = [command_definitions(d.definition) for d in chosen]
    unknown = [
        _error(
            (*loc, i, "commands", j, "name"),
            f"{device.device_url} has no command {command.name!r}.",
            "no_such_command",
        )
        for i, (action, device) in enumerate(zip(actions, chosen, strict=True))
        for j, command in enumerate(action.commands)
        if command.name not in definitions[i]
    ]
    if unknown:
        raise Unprocessable(
            "A command is not in the device's definition.",
            code=ErrorCode.NO_SUCH_COMMAND,
            errors=unknown,
        )

    invalid = []
    for i, action in enumerate(actions):
        for j, command in enumerate(action.commands):
            problem = parameter_problem(command, definitions[i][command.name])
            if problem is not None:
                invalid.append(
                    _error((*loc, i, "commands", j, "parameters"), problem, "invalid_parameters")
                )
    if invalid:
        raise Unprocessable(
            "Command parameters do not fit the device's definition.",
            code=ErrorCode.INVALID_PARAMETERS,
            errors=invalid,
        )
    return Resolved(agent_id=gateways[0], site_id=chosen[0].site_id, devices=chosen)
