"""`yard devices`: the devices behind gateway agents, and importing a gateway's setup."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from fleetyard.cli import device_views as dviews
from fleetyard.cli import session
from fleetyard.cli.session import JsonOutput

app = typer.Typer(
    name="devices",
    help="Devices behind gateway agents: list, show, states, import a gateway setup.",
    no_args_is_help=True,
)

DeviceArg = Annotated[
    str,
    typer.Argument(
        help="Device id (dev_…) or device URL (io://1234-5678-3293/3541212).",
        metavar="DEVICE",
        show_default=False,
    ),
]
Gateway = Annotated[
    str | None,
    typer.Option(
        "--gateway", metavar="AGENT", help="The gateway agent (agt_…).", show_default=False
    ),
]


def state_filter(value: str) -> str:
    """``NAME=VALUE``, e.g. ``core:OpenClosedState=open``."""
    name, sep, _ = value.partition("=")
    if not sep or not name:
        raise typer.BadParameter(
            f"{value!r} is not a state filter: write NAME=VALUE, e.g. core:OpenClosedState=open"
        )
    return value


@dataclass(frozen=True)
class SetupFile:
    """A gateway setup read from a file (a class of its own so typer shows a plain metavar)."""

    document: dict[str, Any]


def setup_file(value: str) -> SetupFile:
    """A gateway setup document read from a JSON file."""
    try:
        content = Path(value).read_text(encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {value!r}: {exc.strerror or exc}") from None
    try:
        parsed = json.loads(content)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise typer.BadParameter(f"{value!r} must hold a JSON object (a gateway setup)")
    return SetupFile(parsed)


@app.command("list")
def list_devices(
    ctx: typer.Context,
    gateway: Gateway = None,
    site: Annotated[str | None, typer.Option("--site", help="Only this site's devices.")] = None,
    protocol: Annotated[
        str | None, typer.Option("--protocol", help="Only this protocol (io, rts, zigbee…).")
    ] = None,
    ui_class: Annotated[
        str | None,
        typer.Option("--ui-class", help="Only this UI class (RollerShutter, Light…)."),
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            parser=state_filter,
            metavar="NAME=VALUE",
            help="Only devices whose state has this value.",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """List devices."""
    s = session.get(ctx, json_output)
    devices = list(
        s.client.devices.list(
            gateway_id=gateway, site_id=site, protocol=protocol, ui_class=ui_class, state=state
        )
    )
    s.out.table(dviews.devices_table(devices), devices)


@app.command("get")
def get(ctx: typer.Context, device: DeviceArg, json_output: JsonOutput = False) -> None:
    """Show one device (by id or URL)."""
    s = session.get(ctx, json_output)
    found = s.client.devices.get(device)
    s.out.record(dviews.device_record(found), found)


@app.command("states")
def states(ctx: typer.Context, device: DeviceArg, json_output: JsonOutput = False) -> None:
    """Show a device's current states."""
    s = session.get(ctx, json_output)
    current = s.client.devices.states(device)
    s.out.table(dviews.states_table(current), current)


@app.command("import")
def import_setup(
    ctx: typer.Context,
    setup: Annotated[
        SetupFile,
        typer.Argument(
            parser=setup_file,
            metavar="SETUP.json",
            help="The gateway's setup document (its devices with definitions and states).",
            show_default=False,
        ),
    ],
    gateway: Annotated[
        str, typer.Option("--gateway", metavar="AGENT", help="The gateway agent (agt_…).")
    ],
    json_output: JsonOutput = False,
) -> None:
    """Import a gateway's setup: create or update its devices (needs ADMIN)."""
    s = session.get(ctx, json_output)
    result = s.client.devices.import_setup(setup.document, gateway_id=gateway)
    s.out.message(dviews.import_text(result), result)
