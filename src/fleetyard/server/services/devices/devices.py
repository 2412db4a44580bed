"""Devices: read and relabel them, and apply what gateways report (states, availability).

Access (see :mod:`fleetyard.server.services.telemetry.access`): a device
belongs to its gateway agent's site. Reading needs ``read`` on the site or
the gateway agent; relabelling and reporting states need ``write``. What a
caller may not read answers 404, so its existence is never confirmed.

The gateway-facing functions (:func:`apply_states`, :func:`set_available`,
:func:`record_gateway_presence`) take an ``org_id`` instead of a principal:
their callers (the agent session, the presence sweep) have authenticated
the gateway already. Each records its device event in the same transaction
as the change and publishes it after commit.

Example::

    await apply_states(
        database, bus, org_id=org, agent_id=gateway, device_url="io://1234-5678-3293/3541212",
        states=[DeviceState(name="core:ClosureState", type=1, value=40)],
    )
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.devices import (
    DataType,
    Device,
    DeviceAttribute,
    DeviceDefinition,
    DeviceEvent,
    DeviceEventType,
    DeviceState,
    DeviceStatesUpdate,
    DeviceUpdate,
    parse_device_url,
)
from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.telemetry import AgentKind
from fleetyard.server.bus import Bus
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import now_ms, to_datetime
from fleetyard.server.services.devices.events import publish_events, record_event
from fleetyard.server.services.errors import NotFound
from fleetyard.server.services.pagination import PageRequest, PageResult, cut
from fleetyard.server.services.telemetry import access
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import devices as repo
from fleetyard.server.storage.repositories.devices import DeviceRecord
from fleetyard.server.storage.repositories.telemetry import agents as agents_repo

STATE_FILTER_BATCH = 500
STATE_FILTER_MAX_SCAN = 10_000
"""Rows one state-filtered page may scan before it answers with what it found so far."""


def device_model(record: DeviceRecord) -> Device:
    """The wire model of a stored device."""
    return Device(
        id=record.id,
        gateway_id=record.agent_id,
        site_id=record.site_id,
        device_url=record.device_url,
        identifier=parse_device_url(record.device_url),
        label=record.label,
        controllable_name=record.controllable_name,
        widget=record.widget,
        ui_class=record.ui_class,
        type=record.type,
        available=record.available,
        enabled=record.enabled,
        definition=DeviceDefinition.model_validate(record.definition),
        states=[DeviceState.model_validate(s) for s in record.states],
        attributes=[DeviceAttribute.model_validate(a) for a in record.attributes],
        created_at=to_datetime(record.created_at),
        updated_at=to_datetime(record.updated_at),
    )


def _not_found(device_id: str) -> NotFound:
    return NotFound(f"Device {device_id!r} was not found.", code=ErrorCode.NO_SUCH_DEVICE)


async def load_device(
    conn: AsyncConnection, principal: Principal, device_id: str, permission: str
) -> DeviceRecord:
    """The caller's device, checked for ``permission`` (404 when it may not even read it)."""
    record = await repo.get(conn, device_id, org_id=principal.org_id)
    if record is None or not access.can(
        principal, site_id=record.site_id, agent_id=record.agent_id, permission=access.READ
    ):
        raise _not_found(device_id)
    access.require(
        principal, site_id=record.site_id, agent_id=record.agent_id, permission=permission
    )
    return record


# --- state filters -------------------------------------------------------------------


def parse_state_filter(text: str) -> tuple[str, str]:
    """``"core:OpenClosedState=open"`` → ``("core:OpenClosedState", "open")``."""
    name, _, wanted = text.partition("=")
    return name, wanted


def value_matches(value: Any, wanted: str) -> bool:
    """Whether a typed state value equals a query-string value.

    Strings compare as they are; numbers, booleans and objects by their JSON
    text (``0``, ``true``, ``{"a":1}``), so ``state=core:ClosureState=0``
    finds the integer 0.
    """
    if isinstance(value, str):
        return value == wanted
    return json.dumps(value, separators=(",", ":"), sort_keys=True) == wanted


def _has_state(record: DeviceRecord, name: str, wanted: str) -> bool:
    return any(
        s.get("name") == name and value_matches(s.get("value"), wanted) for s in record.states
    )


# --- reads and label -----------------------------------------------------------------


async def list_devices(
    database: Database,
    principal: Principal,
    page: PageRequest,
    *,
    gateway_id: str | None = None,
    site_id: str | None = None,
    protocol: str | None = None,
    ui_class: str | None = None,
    device_url: str | None = None,
    state: tuple[str, str] | None = None,
) -> PageResult[Device]:
    """The devices the caller may read, by id, narrowed by the filters.

    ``state`` (name, value) is checked on the typed values after the SQL
    filters, scanning forward in batches until the page is full; a page that
    scanned :data:`STATE_FILTER_MAX_SCAN` rows answers early with a cursor, so
    pagination stays exact without unbounded work per request.
    """
    sites, agent_ids = access.visible(principal)
    filters: dict[str, Any] = {
        "org_id": principal.org_id,
        "visible_sites": sites,
        "visible_agents": agent_ids,
        "gateway_id": gateway_id,
        "site_id": site_id,
        "protocol": protocol,
        "ui_class": ui_class,
        "device_url": device_url,
    }
    async with database.connect() as conn:
        if state is None:
            rows = await repo.list_page(conn, after=page.after, limit=page.limit, **filters)
            return cut(rows, page, lambda r: r.id, device_model)
        name, wanted = state
        matched: list[DeviceRecord] = []
        after, scanned = page.after, 0
        while len(matched) <= page.limit:
            batch = await repo.list_page(conn, after=after, limit=STATE_FILTER_BATCH - 1, **filters)
            if not batch:
                break
            for record in batch:
                scanned += 1
                after = record.id
                if _has_state(record, name, wanted):
                    matched.append(record)
                    if len(matched) > page.limit:
                        break
            if len(batch) < STATE_FILTER_BATCH or len(matched) > page.limit:
                break
            if scanned >= STATE_FILTER_MAX_SCAN:
                # Answer with what was found; the cursor continues after the last row scanned.
                return PageResult([device_model(r) for r in matched], after)
    return cut(matched, page, lambda r: r.id, device_model)


async def get_device(database: Database, principal: Principal, device_id: str) -> Device:
    async with database.connect() as conn:
        return device_model(await load_device(conn, principal, device_id, access.READ))


async def get_states(database: Database, principal: Principal, device_id: str) -> list[DeviceState]:
    device = await get_device(database, principal, device_id)
    return device.states


async def update_device(
    database: Database, principal: Principal, device_id: str, body: DeviceUpdate
) -> Device:
    """Relabel a device (``write`` on its site or gateway)."""
    async with database.begin() as conn:
        await load_device(conn, principal, device_id, access.WRITE)
        record = await repo.update_label(
            conn, device_id, org_id=principal.org_id, label=body.label, now_ms=now_ms()
        )
    if record is None:
        raise _not_found(device_id)
    return device_model(record)


async def report_states(
    database: Database, bus: Bus, principal: Principal, device_id: str, body: DeviceStatesUpdate
) -> Device:
    """States a gateway reports over HTTP (``write`` on the device's site or gateway)."""
    at = now_ms()
    async with database.begin() as conn:
        found = await load_device(conn, principal, device_id, access.WRITE)
        record, event = await _merge_states(
            conn,
            org_id=principal.org_id,
            agent_id=found.agent_id,
            device_url=found.device_url,
            states=body.states,
            at_ms=at,
        )
    if event is not None:
        await publish_events(bus, principal.org_id, [event])
    return device_model(record)


# --- what gateways report ------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    # JSON text, not ==: True == 1 and 0 == False in Python, but not for a device.
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


async def _merge_states(
    conn: AsyncConnection,
    *,
    org_id: str,
    agent_id: str,
    device_url: str,
    states: Sequence[DeviceState],
    at_ms: int,
) -> tuple[DeviceRecord, DeviceEvent | None]:
    record = await repo.get_for_update(
        conn, org_id=org_id, agent_id=agent_id, device_url=device_url
    )
    if record is None:
        raise NotFound(
            f"Device {device_url!r} was not found behind gateway {agent_id!r}.",
            code=ErrorCode.NO_SUCH_DEVICE,
        )
    merged: dict[str, dict[str, Any]] = {str(s["name"]): dict(s) for s in record.states}
    changed: dict[str, DeviceState] = {}
    for state in states:
        old = merged.get(state.name)
        type_ = state.type
        if type_ == DataType.NONE and old is not None:
            type_ = int(old.get("type") or DataType.NONE)  # keep the known type
        if old is not None and _same(old.get("value"), state.value):
            continue
        new = DeviceState(name=state.name, type=type_, value=state.value)
        merged[state.name] = new.model_dump(mode="json")
        changed[state.name] = new
    if not changed:
        return record, None
    states_json = list(merged.values())
    await repo.write_states(conn, record.id, org_id=org_id, states=states_json, now_ms=at_ms)
    event = await record_event(
        conn,
        org_id=org_id,
        site_id=record.site_id,
        agent_id=agent_id,
        type=DeviceEventType.DEVICE_STATE_CHANGED,
        at_ms=at_ms,
        device_id=record.id,
        device_url=record.device_url,
        states=list(changed.values()),
    )
    updated = await repo.get(conn, record.id, org_id=org_id)
    assert updated is not None  # held since get_for_update
    return updated, event


async def apply_states(
    database: Database,
    bus: Bus,
    *,
    org_id: str,
    agent_id: str,
    device_url: str,
    states: Sequence[DeviceState],
    at_ms: int | None = None,
) -> None:
    """Merge reported states by name; ``device.state_changed`` with only the changed ones.

    Idempotent: the same report twice changes nothing and emits nothing the
    second time. An unknown device is 404 ``no_such_device``.
    """
    async with database.begin() as conn:
        _, event = await _merge_states(
            conn,
            org_id=org_id,
            agent_id=agent_id,
            device_url=device_url,
            states=states,
            at_ms=now_ms() if at_ms is None else at_ms,
        )
    if event is not None:
        await publish_events(bus, org_id, [event])


async def set_available(
    database: Database,
    bus: Bus,
    *,
    org_id: str,
    agent_id: str,
    device_url: str,
    available: bool,
) -> None:
    """Mark a device (un)available; ``device.available``/``device.unavailable`` when it flips."""
    at = now_ms()
    async with database.begin() as conn:
        record = await repo.get_by_url(
            conn, org_id=org_id, agent_id=agent_id, device_url=device_url
        )
        if record is None:
            raise NotFound(
                f"Device {device_url!r} was not found behind gateway {agent_id!r}.",
                code=ErrorCode.NO_SUCH_DEVICE,
            )
        flipped = await repo.set_available(
            conn, record.id, org_id=org_id, available=available, now_ms=at
        )
        event = None
        if flipped:
            event = await record_event(
                conn,
                org_id=org_id,
                site_id=record.site_id,
                agent_id=agent_id,
                type=DeviceEventType.DEVICE_AVAILABLE
                if available
                else DeviceEventType.DEVICE_UNAVAILABLE,
                at_ms=at,
                device_id=record.id,
                device_url=record.device_url,
            )
    if event is not None:
        await publish_events(bus, org_id, [event])


async def record_gateway_presence(
    database: Database,
    bus: Bus,
    *,
    org_id: str,
    site_id: str,
    agent_id: str,
    online: bool,
    at_ms: int,
) -> None:
    """``gateway.online`` / ``gateway.offline`` for a gateway (call where presence flips).

    Only agents that are gateways (``kind=gateway``) or hold at least one
    device get the event; for other agents this is a no-op (one indexed read).
    """
    async with database.begin() as conn:
        agent = await agents_repo.get(conn, agent_id, org_id=org_id)
        if agent is None:
            return
        if agent.kind != AgentKind.GATEWAY.value and not await repo.has_devices(
            conn, agent_id, org_id=org_id
        ):
            return
        event = await record_event(
            conn,
            org_id=org_id,
            site_id=site_id,
            agent_id=agent_id,
            type=DeviceEventType.GATEWAY_ONLINE if online else DeviceEventType.GATEWAY_OFFLINE,
            at_ms=at_ms,
        )
    await publish_events(bus, org_id, [event])
