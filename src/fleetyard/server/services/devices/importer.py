"""Import a gateway setup document (``{"devices": [...], ...}``) into a gateway agent.

The document is the gateway's own JSON, in either of its two shapes:

- cloud: ``widget`` and ``uiClass`` on the device, ``definition.states`` with
  ``qualifiedName``/``type``/``values``;
- local API: ``widgetName`` and ``uiClass`` inside ``definition`` only,
  ``definition.states`` with ``name`` and commands with ``paramsSig``.

Both become the same :class:`~fleetyard.protocol.devices.Device` rows. The
import is tolerant: a device that is not an object, has no valid
``deviceURL``, repeats one, or has a malformed definition, states or
attributes is reported in ``skipped`` (index and reason) and the rest is
imported. A document without a ``devices`` list is 422 ``setup_invalid``.
Devices already known by URL on that gateway are updated in place; devices
the document does not mention are left alone. Everything is one transaction.

Example::

    result = await import_setup(database, principal, DeviceImport(gateway_id=gw, setup=doc))
    result.created, result.updated, [s.reason for s in result.skipped]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from fleetyard.protocol.devices import (
    DEVICE_ID_PREFIX,
    DeviceAttribute,
    DeviceDefinition,
    DeviceImport,
    DeviceImportResult,
    DeviceState,
    DeviceUrlError,
    SkippedDevice,
    parse_device_url,
)
from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.ids import new_id
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import now_ms
from fleetyard.server.services.errors import NotFound, Unprocessable
from fleetyard.server.services.telemetry import access
from fleetyard.server.services.telemetry.agents import load_agent
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import devices as repo

MAX_DEVICES = 10_000
_LABEL_MAX = 200

_STATES: TypeAdapter[list[DeviceState]] = TypeAdapter(list[DeviceState])
_ATTRIBUTES: TypeAdapter[list[DeviceAttribute]] = TypeAdapter(list[DeviceAttribute])


class BadDevice(ValueError):
    """One device of a setup that cannot be imported; the message is the reason."""


@dataclass(frozen=True, slots=True)
class ParsedDevice:
    device_url: str
    values: dict[str, Any]


def _text(value: Any, limit: int = _LABEL_MAX) -> str | None:
    if isinstance(value, str) and value.strip():
        return value[:limit]
    return None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    loc = ".".join(str(p) for p in error["loc"])
    return f"{loc}: {error['msg']}" if loc else str(error["msg"])


def parse_definition(raw: Any) -> DeviceDefinition:
    """A gateway ``definition`` object as a :class:`DeviceDefinition` (raises :class:`BadDevice`).

    >>> parse_definition({"commands": [{"commandName": "up"}]}).commands[0].command_name
    'up'
    """
    if raw is None:
        return DeviceDefinition()
    if not isinstance(raw, dict):
        raise BadDevice("definition is not an object")
    commands_raw = raw.get("commands") or []
    states_raw = raw.get("states") or []
    if not isinstance(commands_raw, list):
        raise BadDevice("definition.commands is not a list")
    if not isinstance(states_raw, list):
        raise BadDevice("definition.states is not a list")
    commands: list[dict[str, Any]] = []
    for i, command in enumerate(commands_raw):
        if not isinstance(command, dict) or not isinstance(command.get("commandName"), str):
            raise BadDevice(f"definition.commands[{i}] has no commandName")
        nparams = command.get("nparams", 0)
        if isinstance(nparams, bool) or not isinstance(nparams, int) or nparams < 0:
            raise BadDevice(f"definition.commands[{i}].nparams is not a count")
        sig = command.get("paramsSig")
        commands.append(
            {
                "command_name": command["commandName"],
                "nparams": nparams,
                "params_sig": sig if isinstance(sig, str) else None,
            }
        )
    states: list[dict[str, Any]] = []
    for i, state in enumerate(states_raw):
        name = state.get("qualifiedName") or state.get("name") if isinstance(state, dict) else None
        if not isinstance(name, str):
            raise BadDevice(f"definition.states[{i}] has no name")
        assert isinstance(state, dict)
        values = state.get("values")
        states.append(
            {
                "name": name,
                "type": state.get("type") if isinstance(state.get("type"), str) else None,
                "values": [str(v) for v in values] if isinstance(values, list) else None,
            }
        )
    profiles = raw.get("uiProfiles")
    try:
        return DeviceDefinition.model_validate(
            {
                "commands": commands,
                "states": states,
                "widget_name": _text(raw.get("widgetName")),
                "ui_class": _text(raw.get("uiClass")),
                "ui_profiles": [p for p in profiles if isinstance(p, str)]
                if isinstance(profiles, list)
                else [],
                "type": _text(raw.get("type")),
                "qualified_name": _text(raw.get("qualifiedName")),
            }
        )
    except ValidationError as exc:
        raise BadDevice(f"definition: {_first_error(exc)}") from exc


def parse_device(raw: Any) -> ParsedDevice:
    """One gateway device as the values of a device row (raises :class:`BadDevice`)."""
    if not isinstance(raw, dict):
        raise BadDevice("device is not an object")
    url = raw.get("deviceURL")
    if not isinstance(url, str):
        raise BadDevice("deviceURL is missing")
    try:
        parse_device_url(url)
    except DeviceUrlError as exc:
        raise BadDevice(str(exc)) from exc
    definition = parse_definition(raw.get("definition"))
    try:
        states = _STATES.validate_python(raw.get("states") or [])
    except ValidationError as exc:
        raise BadDevice(f"states: {_first_error(exc)}") from exc
    try:
        attributes = _ATTRIBUTES.validate_python(raw.get("attributes") or [])
    except ValidationError as exc:
        raise BadDevice(f"attributes: {_first_error(exc)}") from exc
    controllable = _text(raw.get("controllableName")) or definition.qualified_name or ""
    type_ = raw.get("type")
    enabled, available = raw.get("enabled", True), raw.get("available", True)
    values: dict[str, Any] = {
        "label": _text(raw.get("label")) or controllable or url[:_LABEL_MAX],
        "controllable_name": controllable,
        "widget": _text(raw.get("widget")) or definition.widget_name,
        "ui_class": _text(raw.get("uiClass")) or definition.ui_class,
        "type": type_ if isinstance(type_, int) and not isinstance(type_, bool) else None,
        "available": available if isinstance(available, bool) else True,
        "enabled": enabled if isinstance(enabled, bool) else True,
        "definition": definition.model_dump(mode="json"),
        # Typed values are kept exactly as the gateway gave them (int, float, str, bool, objects).
        "states": [s.model_dump(mode="json") for s in states],
        "attributes": [a.model_dump(mode="json") for a in attributes],
    }
    return ParsedDevice(url, values)


def setup_devices(setup: dict[str, Any]) -> list[Any]:
    """The ``devices`` list of a setup document; 422 ``setup_invalid`` without one."""
    devices = setup.get("devices")
    if not isinstance(devices, list):
        raise Unprocessable(
            "The setup has no `devices` list.",
            code=ErrorCode.SETUP_INVALID,
            errors=[
                {
                    "loc": ["body", "setup", "devices"],
                    "message": "a list of devices is required",
                    "type": "missing" if devices is None else "list_type",
                }
            ],
        )
    if len(devices) > MAX_DEVICES:
        raise Unprocessable(
            f"A setup holds at most {MAX_DEVICES} devices.", code=ErrorCode.SETUP_INVALID
        )
    return devices


async def import_setup(
    database: Database, principal: Principal, body: DeviceImport
) -> DeviceImportResult:
    """Create or update the devices of a setup behind ``body.gateway_id`` (``admin`` on it)."""
    devices = setup_devices(body.setup)
    parsed: list[tuple[int, ParsedDevice]] = []
    skipped: list[SkippedDevice] = []
    seen: set[str] = set()
    for index, raw in enumerate(devices):
        url = raw.get("deviceURL") if isinstance(raw, dict) else None
        named = url if isinstance(url, str) else None
        try:
            device = parse_device(raw)
        except BadDevice as exc:
            skipped.append(SkippedDevice(index=index, device_url=named, reason=str(exc)))
            continue
        if device.device_url in seen:
            skipped.append(
                SkippedDevice(index=index, device_url=named, reason="duplicate deviceURL")
            )
            continue
        seen.add(device.device_url)
        parsed.append((index, device))
    now = now_ms()
    created = updated = 0
    device_ids: list[str] = []
    async with database.begin() as conn:
        gateway = await load_agent(conn, principal, body.gateway_id, access.ADMIN)
        # Two imports into one gateway run one after the other, never interleaved.
        if not await repo.lock_gateway(conn, gateway.id, org_id=principal.org_id):
            raise NotFound(f"Agent {body.gateway_id!r} was not found.")
        known = await repo.by_urls(
            conn,
            org_id=principal.org_id,
            agent_id=gateway.id,
            device_urls=[d.device_url for _, d in parsed],
        )
        for _, device in parsed:
            values = {**device.values, "site_id": gateway.site_id}
            existing = known.get(device.device_url)
            if existing is None:
                device_id = new_id(DEVICE_ID_PREFIX, now_ms=now)
                await repo.insert(
                    conn,
                    org_id=principal.org_id,
                    device_id=device_id,
                    agent_id=gateway.id,
                    device_url=device.device_url,
                    values=values,
                    now_ms=now,
                )
                created += 1
            else:
                device_id = existing.id
                await repo.replace(
                    conn, device_id, org_id=principal.org_id, values=values, now_ms=now
                )
                updated += 1
            device_ids.append(device_id)
    return DeviceImportResult(
        gateway_id=body.gateway_id,
        created=created,
        updated=updated,
        skipped=skipped,
        device_ids=device_ids,
    )
