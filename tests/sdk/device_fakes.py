"""JSON builders for the device-control wire models (devices, executions, scenes, events)."""

from __future__ import annotations

from typing import Any

from .fakes import TS

URL = "io://1234-5678-3293/3541212"
URL2 = "io://1234-5678-3293/5770898"


def device_json(
    device_id: str = "dev_1", url: str = URL, gateway_id: str = "agt_gw"
) -> dict[str, Any]:
    protocol, _, rest = url.partition("://")
    gateway, _, address = rest.partition("/")
    return {
        "id": device_id,
        "gateway_id": gateway_id,
        "site_id": "site_1",
        "device_url": url,
        "identifier": {
            "protocol": protocol,
            "gateway_id": gateway,
            "device_address": address,
            "base_device_url": url,
        },
        "label": "Blind",
        "controllable_name": "io:VerticalExteriorAwningIOComponent",
        "ui_class": "ExteriorScreen",
        "definition": {"commands": [{"command_name": "setClosure", "nparams": 1}]},
        "states": [{"name": "core:ClosureState", "type": 1, "value": 40}],
        "created_at": TS,
        "updated_at": TS,
    }


def page(items: list[Any], next_cursor: str | None = None) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor}


def started_json(execution_id: str = "exe_1", state: str = "initialized") -> dict[str, Any]:
    return {"id": execution_id, "state": state, "gateway_id": "agt_gw"}


def execution_json(
    execution_id: str = "exe_1",
    state: str = "initialized",
    command_state: str = "pending",
    updated_at: str = TS,
) -> dict[str, Any]:
    return {
        "id": execution_id,
        "gateway_id": "agt_gw",
        "site_id": "site_1",
        "label": "Half closed",
        "mode": "default",
        "state": state,
        "actions": [
            {
                "device_url": URL,
                "device_id": "dev_1",
                "commands": [{"name": "setClosure", "parameters": [50], "state": command_state}],
            }
        ],
        "history": [{"state": state, "at": TS}],
        "created_at": TS,
        "updated_at": updated_at,
    }


def scene_json(scene_id: str = "scn_1") -> dict[str, Any]:
    return {
        "id": scene_id,
        "site_id": "site_1",
        "gateway_id": "agt_gw",
        "label": "Good night",
        "mode": "default",
        "actions": [{"device_url": URL, "commands": [{"name": "close", "parameters": []}]}],
        "created_at": TS,
        "updated_at": TS,
    }


def schedule_json(schedule_id: str = "sch_1", state: str = "pending") -> dict[str, Any]:
    return {
        "id": schedule_id,
        "scene_id": "scn_1",
        "at": "2026-11-24T12:10:00.000Z",
        "state": state,
        "created_at": TS,
        "updated_at": TS,
    }


def listener_json(listener_id: str = "evl_1") -> dict[str, Any]:
    return {
        "id": listener_id,
        "created_at": TS,
        "last_fetch_at": TS,
        "expires_at": TS,
        "site_id": None,
    }


def event_json(seq: int, type: str = "device.state_changed") -> dict[str, Any]:
    return {
        "seq": seq,
        "type": type,
        "at": TS,
        "gateway_id": "agt_gw",
        "site_id": "site_1",
        "device_url": URL,
        "states": [{"name": "core:ClosureState", "type": 1, "value": seq}],
    }


def batch_json(listener_id: str, *seqs: int) -> dict[str, Any]:
    return {"listener_id": listener_id, "events": [event_json(s) for s in seqs]}


def command_json(
    command_id: str = "cmd_1", state: str = "pending", result: Any = None
) -> dict[str, Any]:
    return {
        "id": command_id,
        "agent_id": "agt_1",
        "name": "ping",
        "args": {},
        "state": state,
        "result": result,
        "created_at": TS,
        "updated_at": TS,
    }
