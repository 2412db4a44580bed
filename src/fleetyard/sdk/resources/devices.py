"""Devices behind gateway agents: ``client.devices``.

A device is named by its id (``dev_…``) or its device URL
(``io://1234-5678-3293/3541212``); :meth:`Devices.get` takes either.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Unpack

import httpx2
from pydantic import JsonValue, RootModel

from fleetyard.protocol.common import Page
from fleetyard.protocol.devices import Device, DeviceImportResult, DeviceState
from fleetyard.protocol.errors import ErrorCode, Problem
from fleetyard.sdk._exceptions import APIStatusError, error_from_response
from fleetyard.sdk._operation import Operation, path_param
from fleetyard.sdk._pagination import AsyncPager, SyncPager
from fleetyard.sdk._types import ReadOptions, WriteOptions
from fleetyard.sdk.resources._base import (
    AsyncAPIResource,
    SyncAPIResource,
    async_raw_method,
    raw_method,
)

__all__ = ["AsyncDevices", "AsyncDevicesWithRawResponse", "Devices", "DevicesWithRawResponse"]

SetupSource = str | Path | Mapping[str, Any]
"""A gateway setup document: a path to its JSON file, or the parsed document."""

StateLike = DeviceState | Mapping[str, Any]
"""A state: a :class:`DeviceState` or a dict ``{"name": …, "type": …, "value": …}``."""


class _StateList(RootModel[list[DeviceState]]):
    """``GET /v1/devices/{id}/states`` answers a bare JSON array."""


def device_path(device_id: str) -> str:
    """``/v1/devices/{device_id}``, the id quoted."""
    return f"/v1/devices/{path_param(device_id, 'device_id')}"


def is_device_url(value: str) -> bool:
    """Whether ``value`` is a device URL rather than an id.

    >>> is_device_url("io://1234-5678-3293/3541212"), is_device_url("dev_01")
    (True, False)
    """
    return "://" in value


def _state_filter(state: str | tuple[str, JsonValue] | None) -> str | None:
    if state is None:
        return None
    if isinstance(state, tuple):
        name, value = state
        return f"{name}={value if isinstance(value, str) else json.dumps(value)}"
    name, sep, _ = state.partition("=")
    if not sep or not name:
        raise ValueError(
            f"state filter {state!r} must be NAME=VALUE, e.g. core:OpenClosedState=open"
        )
    return state


def _list_page(
    cursor: str | None,
    limit: int | None,
    gateway_id: str | None,
    site_id: str | None,
    protocol: str | None,
    ui_class: str | None,
    device_url: str | None,
    state: str | tuple[str, JsonValue] | None,
) -> Operation[Page[Device]]:
    params = {
        "cursor": cursor,
        "limit": limit,
        "gateway_id": gateway_id,
        "site_id": site_id,
        "protocol": protocol,
        "ui_class": ui_class,
        "device_url": device_url,
        "state": _state_filter(state),
    }
    return Operation("GET", "/v1/devices", Page[Device], params=params)


def _by_url(url: str, gateway_id: str | None) -> Operation[Page[Device]]:
    # Two are enough to tell "one" from "ambiguous".
    return _list_page(None, 2, gateway_id, None, None, None, url, None)


def pick_by_url(page: Page[Device], url: str, request: httpx2.Request | None = None) -> Device:
    """The one device a lookup by URL found; 404 ``no_such_device`` or 422 ``device_ambiguous``."""
    if len(page.items) == 1:
        return page.items[0]
    if not page.items:
        raise _problem(404, ErrorCode.NO_SUCH_DEVICE, f"no device has the URL {url}", request)
    candidates = [d.gateway_id for d in page.items]
    raise _problem(
        422,
        ErrorCode.DEVICE_AMBIGUOUS,
        f"{url} is behind several gateways; name one with gateway_id",
        request,
        candidates=candidates,
    )


def _problem(
    status: int, code: str, detail: str, request: httpx2.Request | None, **extra: Any
) -> APIStatusError:
    # The same error the server sends for a lookup by id, so callers catch one thing.
    title = code.replace("_", " ").capitalize()
    problem = Problem.build(status, code, title=title, detail=detail, **extra)
    response = httpx2.Response(
        status, json=problem.model_dump(mode="json", exclude_none=True), request=request
    )
    return error_from_response(response)


def _states_body(states: Sequence[StateLike]) -> dict[str, Any]:
    if isinstance(states, Mapping):
        raise TypeError("states must be a list of states, not one mapping")
    items = [s if isinstance(s, DeviceState) else DeviceState.model_validate(s) for s in states]
    return {"states": [s.model_dump(mode="json") for s in items]}


def read_setup(setup: SetupSource) -> dict[str, Any]:
    """A setup document from a path or a mapping (a file must hold a JSON object)."""
    if isinstance(setup, Mapping):
        return dict(setup)
    path = Path(setup)
    parsed = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(parsed, dict):
        raise ValueError(f"{path} must hold a JSON object (a gateway setup)")
    return parsed


def _import(setup: SetupSource, gateway_id: str) -> Operation[DeviceImportResult]:
    body = {"gateway_id": gateway_id, "setup": read_setup(setup)}
    return Operation("POST", "/v1/devices/import", DeviceImportResult, json=body)


class Devices(SyncAPIResource):
    """The devices behind the organisation's gateway agents.

    Example::

        for device in client.devices.list(ui_class="RollerShutter"):
            print(device.device_url, device.label, device.state_value("core:ClosureState"))
        blind = client.devices.get("io://1234-5678-3293/3541212")
    """

    def list(
        self,
        *,
        gateway_id: str | None = None,
        site_id: str | None = None,
        protocol: str | None = None,
        ui_class: str | None = None,
        device_url: str | None = None,
        state: str | tuple[str, JsonValue] | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> SyncPager[Device]:
        """Every device matching all the filters given, fetched ``limit`` per page.

        ``state`` keeps devices whose state has that value: ``"NAME=VALUE"``
        or a ``(name, value)`` pair.

        Example::

            open_ones = list(client.devices.list(state="core:OpenClosedState=open"))
        """
        return SyncPager(
            lambda cursor: self.list_page(
                cursor,
                gateway_id=gateway_id,
                site_id=site_id,
                protocol=protocol,
                ui_class=ui_class,
                device_url=device_url,
                state=state,
                limit=limit,
                **options,
            )
        )

    def list_page(
        self,
        cursor: str | None = None,
        *,
        gateway_id: str | None = None,
        site_id: str | None = None,
        protocol: str | None = None,
        ui_class: str | None = None,
        device_url: str | None = None,
        state: str | tuple[str, JsonValue] | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Device]:
        """One page of devices; pass its ``next_cursor`` back for the next one.

        Example::

            page = client.devices.list_page(gateway_id="agt_01…", limit=50)
        """
        op = _list_page(cursor, limit, gateway_id, site_id, protocol, ui_class, device_url, state)
        return self._send(op, options)

    def get(
        self,
        device: str,
        *,
        gateway_id: str | None = None,
        **options: Unpack[ReadOptions],
    ) -> Device:
        """One device by id or by device URL (``gateway_id`` settles a URL found twice).

        An unknown URL raises :class:`~fleetyard.NotFoundError` (``no_such_device``),
        a URL behind several gateways :class:`~fleetyard.UnprocessableEntityError`
        (``device_ambiguous``).

        Example::

            blind = client.devices.get("io://1234-5678-3293/3541212")
            same = client.devices.get(blind.id)
        """
        if not is_device_url(device):
            return self._send(Operation("GET", device_path(device), Device), options)
        found = self._lookup(device, gateway_id, options)
        if not self._raw:
            return found
        # A raw answer is the device's own: look it up by URL, then read it by id.
        return self._send(Operation("GET", device_path(found.id), Device), options)

    def states(self, device: str, **options: Unpack[ReadOptions]) -> builtins.list[DeviceState]:
        """The current states of a device (by id or URL).

        Example::

            for state in client.devices.states("io://1234-5678-3293/3541212"):
                print(state.name, state.value)
        """
        device_id = self._id(device, options)
        op = Operation("GET", f"{device_path(device_id)}/states", _StateList)
        return self._send(op, options).root

    def update(self, device: str, *, label: str, **options: Unpack[WriteOptions]) -> Device:
        """Rename a device (by id or URL).

        Example::

            client.devices.update("io://1234-5678-3293/3541212", label="Living room blind")
        """
        device_id = self._id(device, options)
        op = Operation("PATCH", device_path(device_id), Device, json={"label": label})
        return self._send(op, options)

    def import_setup(
        self, setup: SetupSource, *, gateway_id: str, **options: Unpack[WriteOptions]
    ) -> DeviceImportResult:
        """Import a gateway's setup (a JSON file or its dict) into a gateway agent.

        Devices already known by URL are updated; ``skipped`` says which were
        left out and why.

        Example::

            result = client.devices.import_setup("setup.json", gateway_id="agt_01…")
            print(result.created, result.updated, [s.reason for s in result.skipped])
        """
        return self._send(_import(setup, gateway_id), options)

    def report_states(
        self, device: str, states: Sequence[StateLike], **options: Unpack[WriteOptions]
    ) -> Device:
        """Report new state values of a device, as its gateway does (needs WRITE).

        Example::

            client.devices.report_states(
                "io://1234-5678-3293/3541212",
                [{"name": "core:ClosureState", "type": 1, "value": 40}],
            )
        """
        device_id = self._id(device, options)
        op = Operation(
            "POST", f"{device_path(device_id)}/states", Device, json=_states_body(states)
        )
        return self._send(op, options)

    def _id(self, device: str, options: Mapping[str, Any]) -> str:
        if not is_device_url(device):
            return device
        read: ReadOptions = {k: v for k, v in options.items() if k != "idempotency_key"}  # type: ignore[assignment]
        return self._lookup(device, None, read).id

    def _lookup(self, url: str, gateway_id: str | None, options: ReadOptions) -> Device:
        # Always parsed, also behind with_raw_response (the raw answer is the call's own).
        raw = self._client._drive(self._client._call(_by_url(url, gateway_id), options))
        return pick_by_url(raw.parse(), url, raw.http_response.request)


class AsyncDevices(AsyncAPIResource):
    """The devices behind the organisation's gateway agents.

    Example::

        async for device in client.devices.list(ui_class="RollerShutter"):
            print(device.device_url, device.label)
        blind = await client.devices.get("io://1234-5678-3293/3541212")
    """

    def list(
        self,
        *,
        gateway_id: str | None = None,
        site_id: str | None = None,
        protocol: str | None = None,
        ui_class: str | None = None,
        device_url: str | None = None,
        state: str | tuple[str, JsonValue] | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> AsyncPager[Device]:
        """Every device matching all the filters given, fetched ``limit`` per page.

        Example::

            open_ones = [d async for d in client.devices.list(state="core:OpenClosedState=open")]
        """
        return AsyncPager(
            lambda cursor: self.list_page(
                cursor,
                gateway_id=gateway_id,
                site_id=site_id,
                protocol=protocol,
                ui_class=ui_class,
                device_url=device_url,
                state=state,
                limit=limit,
                **options,
            )
        )

    async def list_page(
        self,
        cursor: str | None = None,
        *,
        gateway_id: str | None = None,
        site_id: str | None = None,
        protocol: str | None = None,
        ui_class: str | None = None,
        device_url: str | None = None,
        state: str | tuple[str, JsonValue] | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Device]:
        """One page of devices; pass its ``next_cursor`` back for the next one.

        Example::

            page = await client.devices.list_page(gateway_id="agt_01…", limit=50)
        """
        op = _list_page(cursor, limit, gateway_id, site_id, protocol, ui_class, device_url, state)
        return await self._send(op, options)

    async def get(
        self,
        device: str,
        *,
        gateway_id: str | None = None,
        **options: Unpack[ReadOptions],
    ) -> Device:
        """One device by id or by device URL (``gateway_id`` settles a URL found twice).

        Example::

            blind = await client.devices.get("io://1234-5678-3293/3541212")
        """
        if not is_device_url(device):
            return await self._send(Operation("GET", device_path(device), Device), options)
        found = await self._lookup(device, gateway_id, options)
        if not self._raw:
            return found
        return await self._send(Operation("GET", device_path(found.id), Device), options)

    async def states(
        self, device: str, **options: Unpack[ReadOptions]
    ) -> builtins.list[DeviceState]:
        """The current states of a device (by id or URL).

        Example::

            states = await client.devices.states("io://1234-5678-3293/3541212")
        """
        device_id = await self._id(device, options)
        op = Operation("GET", f"{device_path(device_id)}/states", _StateList)
        return (await self._send(op, options)).root

    async def update(self, device: str, *, label: str, **options: Unpack[WriteOptions]) -> Device:
        """Rename a device (by id or URL).

        Example::

            await client.devices.update("dev_01…", label="Living room blind")
        """
        device_id = await self._id(device, options)
        op = Operation("PATCH", device_path(device_id), Device, json={"label": label})
        return await self._send(op, options)

    async def import_setup(
        self, setup: SetupSource, *, gateway_id: str, **options: Unpack[WriteOptions]
    ) -> DeviceImportResult:
        """Import a gateway's setup (a JSON file or its dict) into a gateway agent.

        Example::

            result = await client.devices.import_setup("setup.json", gateway_id="agt_01…")
        """
        return await self._send(_import(setup, gateway_id), options)

    async def report_states(
        self, device: str, states: Sequence[StateLike], **options: Unpack[WriteOptions]
    ) -> Device:
        """Report new state values of a device, as its gateway does (needs WRITE).

        Example::

            await client.devices.report_states(
                "dev_01…", [{"name": "core:ClosureState", "type": 1, "value": 40}]
            )
        """
        device_id = await self._id(device, options)
        op = Operation(
            "POST", f"{device_path(device_id)}/states", Device, json=_states_body(states)
        )
        return await self._send(op, options)

    async def _id(self, device: str, options: Mapping[str, Any]) -> str:
        if not is_device_url(device):
            return device
        read: ReadOptions = {k: v for k, v in options.items() if k != "idempotency_key"}  # type: ignore[assignment]
        return (await self._lookup(device, None, read)).id

    async def _lookup(self, url: str, gateway_id: str | None, options: ReadOptions) -> Device:
        raw = await self._client._drive(self._client._call(_by_url(url, gateway_id), options))
        return pick_by_url(raw.parse(), url, raw.http_response.request)


class DevicesWithRawResponse:
    """``client.with_raw_response.devices``: the same calls, answering :class:`RawResponse`.

    Pagers have no raw form (use ``list_page``), nor has ``states`` (its answer
    is unwrapped into a list). A device named by URL is looked up first; the raw
    answer is then that of the call on its id.

    Example::

        raw = client.with_raw_response.devices.import_setup("setup.json", gateway_id="agt_01…")
        print(raw.status_code, raw.parse().created)
    """

    _WITHOUT_RAW_FORM = frozenset({"states"})

    def __init__(self, devices: Devices) -> None:
        self.list_page = raw_method(devices.list_page)
        self.get = raw_method(devices.get)
        self.update = raw_method(devices.update)
        self.import_setup = raw_method(devices.import_setup)
        self.report_states = raw_method(devices.report_states)


class AsyncDevicesWithRawResponse:
    """``client.with_raw_response.devices`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.devices.get("dev_01…")
        print(raw.status_code, raw.request_id)
    """

    _WITHOUT_RAW_FORM = frozenset({"states"})

    def __init__(self, devices: AsyncDevices) -> None:
        self.list_page = async_raw_method(devices.list_page)
        self.get = async_raw_method(devices.get)
        self.update = async_raw_method(devices.update)
        self.import_setup = async_raw_method(devices.import_setup)
        self.report_states = async_raw_method(devices.report_states)
