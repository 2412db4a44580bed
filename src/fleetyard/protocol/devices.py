"""Devices on the wire: identifiers, definitions, typed states and attributes.

A *device* sits behind a gateway agent (``kind=gateway`` usually): a blind, a
thermostat, a siren. It is named by a device URL,
``protocol://gateway-id/address`` with an optional ``#subsystem``
(``io://1234-5678-3293/3541212#2``), and carries a *definition* (the commands
it accepts and the states it reports), its current *states* (typed values)
and *attributes* (firmware, manufacturer…).

State and attribute types follow the gateway's numeric codes, kept as they
arrive so nothing is lost: see :class:`DataType`.

Example::

    ident = parse_device_url("io://1234-5678-3293/3541212#2")
    ident.base_device_url        # "io://1234-5678-3293/3541212"
    device.state_value("core:ClosureState")
    device.first_supported_command(["setClosure", "open"])
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import IntEnum, StrEnum

from pydantic import Field, JsonValue

from fleetyard.protocol.common import RequestModel, ResponseModel, Timestamp

DEVICE_ID_PREFIX = "dev"
DEVICE_URL_MAX_LENGTH = 400
_DEVICE_URL = re.compile(
    r"^(?P<protocol>[A-Za-z][A-Za-z0-9+\-.]*)://(?P<gateway>[^/\s#]+)/(?P<address>[^#\s]+)"
    r"(?:#(?P<subsystem>\d+))?$"
)


class DataType(IntEnum):
    """The type code of a state or attribute value, as gateways report it."""

    NONE = 0
    INTEGER = 1
    FLOAT = 2
    STRING = 3
    BLOB = 4
    DATE = 5
    BOOLEAN = 6
    PASSWORD = 9
    JSON_ARRAY = 10
    JSON_OBJECT = 11


class DeviceUrlError(ValueError):
    """A device URL that is not ``protocol://gateway-id/address[#subsystem]``."""


class DeviceIdentifier(ResponseModel):
    """The parts of a device URL.

    >>> parse_device_url("io://1234-5678-3293/3541212#2").subsystem_id
    2
    """

    protocol: str
    gateway_id: str
    device_address: str
    subsystem_id: int | None = None
    base_device_url: str
    is_sub_device: bool = False


def parse_device_url(url: str) -> DeviceIdentifier:
    """Split a device URL; raises :class:`DeviceUrlError` when it does not parse.

    ``#1`` is the main device of a multi-part device; ``#2`` and above are
    sub-devices.

    >>> parse_device_url("rts://1234-5678-1234/16756006").protocol
    'rts'
    """
    match = _DEVICE_URL.match(url) if len(url) <= DEVICE_URL_MAX_LENGTH else None
    if match is None:
        raise DeviceUrlError(f"{url!r} is not protocol://gateway-id/address[#subsystem]")
    subsystem = match["subsystem"]
    subsystem_id = int(subsystem) if subsystem is not None else None
    base = f"{match['protocol']}://{match['gateway']}/{match['address']}"
    return DeviceIdentifier(
        protocol=match["protocol"],
        gateway_id=match["gateway"],
        device_address=match["address"],
        subsystem_id=subsystem_id,
        base_device_url=base,
        is_sub_device=subsystem_id is not None and subsystem_id > 1,
    )


class DeviceState(ResponseModel):
    """One state: ``core:ClosureState`` = 50 (``type`` 1, integer)."""

    name: str
    type: int = DataType.NONE
    value: JsonValue = None


class DeviceAttribute(ResponseModel):
    """One attribute: ``core:Manufacturer`` = "Somfy"."""

    name: str
    type: int = DataType.NONE
    value: JsonValue = None


class CommandDefinition(ResponseModel):
    """A command a device accepts: its name and how many parameters.

    ``params_sig`` (``"p1,*p2"``) marks optional parameters with ``*``; a
    command then accepts between :attr:`min_params` and :attr:`max_params`.
    """

    command_name: str
    nparams: int = 0
    params_sig: str | None = None

    @property
    def max_params(self) -> int:
        if self.params_sig:
            return max(self.nparams, len(self.params_sig.split(",")))
        return self.nparams

    @property
    def min_params(self) -> int:
        if self.params_sig:
            return sum(1 for p in self.params_sig.split(",") if not p.strip().startswith("*"))
        return self.nparams


class StateDefinition(ResponseModel):
    """A state a device reports: its type (``DiscreteState``, ``ContinuousState``,
    ``DataState``) and, for discrete states, the allowed values."""

    name: str
    type: str | None = None
    values: list[str] | None = None


class DeviceDefinition(ResponseModel):
    """What a device can do and report."""

    commands: list[CommandDefinition] = Field(default_factory=list)
    states: list[StateDefinition] = Field(default_factory=list)
    widget_name: str | None = None
    ui_class: str | None = None
    ui_profiles: list[str] = Field(default_factory=list)
    type: str | None = None
    qualified_name: str | None = None

    def command(self, name: str) -> CommandDefinition | None:
        return next((c for c in self.commands if c.command_name == name), None)


class Device(ResponseModel):
    """A device behind a gateway agent, with helpers to read it.

    Example::

        device = client.devices.get("io://1234-5678-3293/3541212")
        if device.supports_command("setClosure"):
            client.executions.execute(...)
        device.first_state_value(["core:ClosureState", "core:TargetClosureState"])
    """

    id: str
    gateway_id: str
    """The agent this device is behind."""
    site_id: str
    device_url: str
    identifier: DeviceIdentifier
    label: str
    controllable_name: str
    widget: str | None = None
    ui_class: str | None = None
    type: int | None = None
    available: bool = True
    enabled: bool = True
    definition: DeviceDefinition = Field(default_factory=DeviceDefinition)
    states: list[DeviceState] = Field(default_factory=list)
    attributes: list[DeviceAttribute] = Field(default_factory=list)
    created_at: Timestamp
    updated_at: Timestamp

    # --- states -----------------------------------------------------------------

    def state(self, name: str) -> DeviceState | None:
        return next((s for s in self.states if s.name == name), None)

    def state_value(self, name: str) -> JsonValue:
        """The value of state ``name``, or None when the device has no such state."""
        found = self.state(name)
        return None if found is None else found.value

    def first_state_value(self, names: Iterable[str]) -> JsonValue:
        """The value of the first of ``names`` the device has with a value."""
        for name in names:
            value = self.state_value(name)
            if value is not None:
                return value
        return None

    def has_state_value(self, name: str) -> bool:
        return self.state_value(name) is not None

    def has_any_state_value(self, names: Iterable[str]) -> bool:
        return any(self.has_state_value(n) for n in names)

    def state_definition(self, name: str) -> StateDefinition | None:
        return next((s for s in self.definition.states if s.name == name), None)

    def first_state_definition(self, names: Iterable[str]) -> StateDefinition | None:
        for name in names:
            found = self.state_definition(name)
            if found is not None:
                return found
        return None

    # --- commands ---------------------------------------------------------------

    def supports_command(self, name: str) -> bool:
        return self.definition.command(name) is not None

    def supports_any_command(self, names: Iterable[str]) -> bool:
        return any(self.supports_command(n) for n in names)

    def first_supported_command(self, names: Iterable[str]) -> str | None:
        return next((n for n in names if self.supports_command(n)), None)

    # --- attributes -------------------------------------------------------------

    def attribute_value(self, name: str) -> JsonValue:
        found = next((a for a in self.attributes if a.name == name), None)
        return None if found is None else found.value

    def first_attribute_value(self, names: Iterable[str]) -> JsonValue:
        for name in names:
            value = self.attribute_value(name)
            if value is not None:
                return value
        return None


class DeviceUpdate(RequestModel):
    """What a user may change on a device: its label."""

    label: str = Field(min_length=1, max_length=200)


class DeviceImport(RequestModel):
    """A gateway setup document (``{"devices": [...], ...}``) to import into a gateway agent.

    The shape is the gateway's own (``deviceURL``, ``controllableName``,
    ``definition``, ``states``…); unknown members are ignored. Devices
    already known by URL are updated in place.
    """

    gateway_id: str = Field(min_length=1, max_length=40)
    setup: dict[str, JsonValue]


class SkippedDevice(ResponseModel):
    """A device the import left out, and why."""

    index: int
    device_url: str | None = None
    reason: str


class DeviceImportResult(ResponseModel):
    """What an import did: counts and the devices it skipped."""

    gateway_id: str
    created: int
    updated: int
    skipped: list[SkippedDevice] = Field(default_factory=list)
    device_ids: list[str] = Field(default_factory=list)


class DeviceStatesUpdate(RequestModel):
    """States reported by a gateway for one device (its agent session or an HTTP call)."""

    states: list[DeviceState] = Field(min_length=1, max_length=500)


class DeviceEventType(StrEnum):
    """Device and execution events, on ``/v1/stream`` and through event listeners."""

    EXECUTION_REGISTERED = "execution.registered"
    EXECUTION_STATE_CHANGED = "execution.state_changed"
    DEVICE_STATE_CHANGED = "device.state_changed"
    DEVICE_AVAILABLE = "device.available"
    DEVICE_UNAVAILABLE = "device.unavailable"
    GATEWAY_ONLINE = "gateway.online"
    GATEWAY_OFFLINE = "gateway.offline"


class DeviceEvent(ResponseModel):
    """One event. ``seq`` orders an organisation's events (gap-free, commit order).

    Members present depend on ``type``: ``execution_id``, ``old_state``,
    ``new_state``, ``failed_commands`` for executions; ``device_url``,
    ``device_id``, ``states`` for devices; ``gateway_id`` always.
    """

    seq: int
    type: DeviceEventType | str
    at: Timestamp
    gateway_id: str
    site_id: str
    execution_id: str | None = None
    old_state: str | None = None
    new_state: str | None = None
    failed_commands: list[dict[str, JsonValue]] | None = None
    device_id: str | None = None
    device_url: str | None = None
    states: list[DeviceState] | None = None


class EventListener(ResponseModel):
    """A pollable event listener: fetch what happened since the last fetch."""

    id: str
    created_at: Timestamp
    last_fetch_at: Timestamp
    expires_at: Timestamp
    site_id: str | None = None


class EventListenerCreate(RequestModel):
    """Register a listener, optionally for one site only."""

    site_id: str | None = Field(default=None, max_length=40)


class EventBatch(ResponseModel):
    """What a fetch returns: events in order, oldest first."""

    listener_id: str
    events: list[DeviceEvent]
