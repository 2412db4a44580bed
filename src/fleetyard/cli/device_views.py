"""How devices, executions, scenes, schedules, events and agent commands look to people.

Pure functions from SDK models to views (see :mod:`fleetyard.cli.views`);
nothing here prints. ``--json`` never uses them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic import JsonValue

from fleetyard.cli.telemetry_views import compact_json, yes_no
from fleetyard.cli.views import NONE, RecordView, TableView, text, when
from fleetyard.protocol.common import format_timestamp
from fleetyard.protocol.devices import Device, DeviceEvent, DeviceImportResult, DeviceState
from fleetyard.protocol.executions import (
    Action,
    AgentCommand,
    Command,
    Execution,
    ExecutionStarted,
    Scene,
    Schedule,
)

# -- devices --------------------------------------------------------------------------


def value_text(value: JsonValue) -> str:
    """A state value as written: strings bare, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def devices_table(devices: Sequence[Device]) -> TableView:
    return TableView(
        # Ids and gateways are in --json and `yard devices get`: a device URL is what
        # people read and type, and two 30-character ids would squeeze the rest.
        columns=("DEVICE URL", "LABEL", "UI CLASS", "AVAILABLE"),
        rows=[
            (
                d.device_url,
                d.label,
                text(d.ui_class),
                yes_no(d.available),
            )
            for d in devices
        ],
        empty="No devices.",
    )


def device_record(device: Device) -> RecordView:
    commands = ", ".join(c.command_name for c in device.definition.commands)
    return RecordView(
        title=f"Device {device.label}",
        fields=[
            ("ID", device.id),
            ("Device URL", device.device_url),
            ("Label", device.label),
            ("Type", device.controllable_name),
            ("UI class", text(device.ui_class)),
            ("Widget", text(device.widget)),
            ("Gateway", device.gateway_id),
            ("Site", device.site_id),
            ("Available", yes_no(device.available)),
            ("Commands", commands or NONE),
            ("States", str(len(device.states))),
            ("Created", when(device.created_at)),
            ("Updated", when(device.updated_at)),
        ],
    )


def states_table(states: Sequence[DeviceState]) -> TableView:
    return TableView(
        columns=("NAME", "TYPE", "VALUE"),
        rows=[(s.name, str(s.type), value_text(s.value)) for s in states],
        empty="No states.",
    )


def import_text(result: DeviceImportResult) -> str:
    """The outcome of an import, then one line per skipped device and why."""
    lines = [
        f"Imported into {result.gateway_id}: {result.created} created, "
        f"{result.updated} updated, {len(result.skipped)} skipped."
    ]
    for skipped in result.skipped:
        where = skipped.device_url or f"device #{skipped.index}"
        lines.append(f"  skipped {where}: {skipped.reason}")
    return "\n".join(lines)


# -- executions -------------------------------------------------------------------------


def command_text(command: Command) -> str:
    """``setClosure(50)``, ``open()``."""
    return f"{command.name}({', '.join(compact_json(p) for p in command.parameters)})"


def started_text(started: ExecutionStarted) -> str:
    verb = "Queued" if started.state == "queued" else "Started"
    return f"{verb} execution {started.id} on {started.gateway_id} ({started.state})."


def executions_table(executions: Sequence[Execution]) -> TableView:
    return TableView(
        columns=("ID", "STATE", "LABEL", "ACTIONS", "CREATED"),
        rows=[
            (
                e.id,
                str(e.state),
                text(e.label),
                str(len(e.actions)),
                when(e.created_at),
            )
            for e in executions
        ],
        empty="No executions.",
    )


def execution_record(execution: Execution) -> RecordView:
    commands = [
        f"{a.device_url} {c.name}({', '.join(compact_json(p) for p in c.parameters)}) {c.state}"
        + (f" ({c.failure_type})" if c.failure_type else "")
        for a in execution.actions
        for c in a.commands
    ]
    return RecordView(
        title=f"Execution {execution.id}",
        fields=[
            ("ID", execution.id),
            ("State", str(execution.state)),
            ("Label", text(execution.label)),
            ("Mode", str(execution.mode)),
            ("Gateway", execution.gateway_id),
            ("Site", execution.site_id),
            ("Commands", "\n".join(commands) or NONE),
            ("Failure", text(execution.failure_type)),
            ("Created", when(execution.created_at)),
            ("Finished", when(execution.finished_at)),
        ],
    )


def progress_text(execution: Execution) -> str:
    """One line per change a ``--wait`` sees: ``exe_1 in_progress 1/2 commands done``."""
    commands = [c for a in execution.actions for c in a.commands]
    done = sum(1 for c in commands if c.state in ("completed", "failed", "cancelled"))
    return f"{execution.id} {execution.state} ({done}/{len(commands)} commands done)"


def failure_text(execution: Execution) -> str:
    """Why an execution did not complete, in one line."""
    reasons = [
        f"{f.command} on {f.device_url}: {f.failure_type}" + (f" ({f.detail})" if f.detail else "")
        for f in execution.failed_commands
    ]
    reason = "; ".join(reasons) or text(execution.failure_type)
    return f"execution {execution.id} {execution.state}: {reason}"


# -- scenes and schedules ------------------------------------------------------------------


def actions_text(actions: Sequence[Action]) -> str:
    return "\n".join(
        f"{a.device_url} {', '.join(command_text(c) for c in a.commands)}" for a in actions
    )


def scenes_table(scenes: Sequence[Scene]) -> TableView:
    return TableView(
        columns=("ID", "LABEL", "ACTIONS", "UPDATED"),
        rows=[(s.id, text(s.label), str(len(s.actions)), when(s.updated_at)) for s in scenes],
        empty="No scenes.",
    )


def scene_record(scene: Scene) -> RecordView:
    return RecordView(
        title=f"Scene {scene.label or scene.id}",
        fields=[
            ("ID", scene.id),
            ("Label", text(scene.label)),
            ("Mode", str(scene.mode)),
            ("Gateway", scene.gateway_id),
            ("Site", scene.site_id),
            ("Actions", actions_text(scene.actions) or NONE),
            ("Created", when(scene.created_at)),
            ("Updated", when(scene.updated_at)),
        ],
    )


def schedules_table(schedules: Sequence[Schedule]) -> TableView:
    return TableView(
        columns=("ID", "SCENE", "AT", "STATE", "EXECUTION"),
        rows=[
            (s.id, s.scene_id, when(s.at), str(s.state), text(s.execution_id)) for s in schedules
        ],
        empty="No schedules.",
    )


def schedule_record(schedule: Schedule) -> RecordView:
    return RecordView(
        title=f"Schedule {schedule.id}",
        fields=[
            ("ID", schedule.id),
            ("Scene", schedule.scene_id),
            ("At", when(schedule.at)),
            ("State", str(schedule.state)),
            ("Execution", text(schedule.execution_id)),
            ("Error", text(schedule.error)),
        ],
    )


# -- events ------------------------------------------------------------------------------


def event_line(event: DeviceEvent) -> str:
    """How a person sees one event: time, position, type, then what it is about."""
    head = f"{format_timestamp(event.at)}  #{event.seq}  {event.type}"
    if event.execution_id is not None:
        change = f"{event.old_state or NONE} -> {event.new_state or NONE}"
        if event.old_state is None and event.new_state is None:
            change = ""
        return f"{head}  {event.execution_id}  {change}".rstrip()
    if event.device_url is not None:
        states = " ".join(f"{s.name}={value_text(s.value)}" for s in event.states or [])
        return f"{head}  {event.device_url}  {states}".rstrip()
    return f"{head}  {event.gateway_id}"


# -- agent commands ---------------------------------------------------------------------------


def agent_command_record(command: AgentCommand) -> RecordView:
    return RecordView(
        title=f"Command {command.name}",
        fields=[
            ("ID", command.id),
            ("Agent", command.agent_id),
            ("Name", command.name),
            ("Args", compact_json(command.args) if command.args else NONE),
            ("State", str(command.state)),
            ("Result", NONE if command.result is None else compact_json(command.result)),
            ("Error", text(command.error)),
            ("Created", when(command.created_at)),
            ("Finished", when(command.finished_at)),
        ],
    )
