"""Model factories for the device-control CLI tests (devices, executions, scenes, events)."""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

from fleetyard.protocol.devices import Device, DeviceEvent, DeviceImportResult
from fleetyard.protocol.executions import (
    AgentCommand,
    Execution,
    ExecutionStarted,
    Scene,
    Schedule,
)
from tests.cli.fakes import T0

URL = "io://1234-5678-3293/3541212"
URL2 = "io://1234-5678-3293/5770898"


def device(n: int = 1, url: str = URL, **kw: object) -> Device:
    data: dict[str, Any] = {
        "id": f"dev_{n}",
        "gateway_id": "agt_gw",
        "site_id": "site_1",
        "device_url": url,
        "identifier": {
            "protocol": "io",
            "gateway_id": "1234-5678-3293",
            "device_address": url.rsplit("/", 1)[1],
            "base_device_url": url,
        },
        "label": "Blind",
        "controllable_name": "io:VerticalExteriorAwningIOComponent",
        "widget": "PositionableScreen",
        "ui_class": "ExteriorScreen",
        "definition": {
            "commands": [
                {"command_name": "setClosure", "nparams": 1},
                {"command_name": "open"},
            ]
        },
        "states": [
            {"name": "core:ClosureState", "type": 1, "value": 40},
            {"name": "core:OpenClosedState", "type": 3, "value": "open"},
        ],
        "created_at": T0,
        "updated_at": T0,
    }
    return Device.model_validate({**data, **kw})


def import_result(**kw: object) -> DeviceImportResult:
    data: dict[str, Any] = {
        "gateway_id": "agt_gw",
        "created": 6,
        "updated": 1,
        "skipped": [{"index": 3, "device_url": URL2, "reason": "unknown protocol"}],
        "device_ids": [],
    }
    return DeviceImportResult.model_validate({**data, **kw})


def started(execution_id: str = "exe_1", state: str = "initialized") -> ExecutionStarted:
    return ExecutionStarted.model_validate(
        {"id": execution_id, "state": state, "gateway_id": "agt_gw"}
    )


def execution(
    execution_id: str = "exe_1",
    state: str = "completed",
    command_state: str = "completed",
    **kw: object,
) -> Execution:
    data: dict[str, Any] = {
        "id": execution_id,
        "gateway_id": "agt_gw",
        "site_id": "site_1",
        "label": "Half closed",
        "state": state,
        "actions": [
            {
                "device_url": URL,
                "commands": [{"name": "setClosure", "parameters": [50], "state": command_state}],
            }
        ],
        "created_at": T0,
        "updated_at": T0,
        "finished_at": T0 if state in ("completed", "failed", "cancelled") else None,
    }
    return Execution.model_validate({**data, **kw})


def handle(state: str = "initialized", execution_id: str = "exe_1") -> MagicMock:
    """A stand-in for an ExecutionHandle."""
    fake = MagicMock(name="ExecutionHandle")
    fake.id = execution_id
    fake.state = state
    fake.started = started(execution_id, state)
    return fake


def scene(n: int = 1, **kw: object) -> Scene:
    data: dict[str, Any] = {
        "id": f"scn_{n}",
        "site_id": "site_1",
        "gateway_id": "agt_gw",
        "label": "Good night",
        "actions": [
            {"device_url": URL, "commands": [{"name": "setClosure", "parameters": [100]}]},
            {"device_url": URL2, "commands": [{"name": "close"}]},
        ],
        "created_at": T0,
        "updated_at": T0,
    }
    return Scene.model_validate({**data, **kw})


def schedule(n: int = 1, **kw: object) -> Schedule:
    data: dict[str, Any] = {
        "id": f"sch_{n}",
        "scene_id": "scn_1",
        "at": T0,
        "state": "pending",
        "created_at": T0,
        "updated_at": T0,
    }
    return Schedule.model_validate({**data, **kw})


def event(seq: int, type: str = "device.state_changed", **kw: object) -> DeviceEvent:
    data: dict[str, Any] = {
        "seq": seq,
        "type": type,
        "at": T0,
        "gateway_id": "agt_gw",
        "site_id": "site_1",
    }
    return DeviceEvent.model_validate({**data, **kw})


def agent_command(state: str = "pending", **kw: object) -> AgentCommand:
    data: dict[str, Any] = {
        "id": "cmd_1",
        "agent_id": "agt_1",
        "name": "ping",
        "args": {"count": 2},
        "state": state,
        "created_at": T0,
        "updated_at": T0,
    }
    return AgentCommand.model_validate({**data, **kw})
