"""`yard scenes`: stored action groups, run now or at a time, and their schedules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from fleetyard.cli import device_views as dviews
from fleetyard.cli import params, session
from fleetyard.cli.commands.executions import Timeout, Wait, finish
from fleetyard.cli.session import EXIT_USAGE, CLIError, JsonOutput
from fleetyard.protocol.executions import SceneCreate, ScheduleState

app = typer.Typer(
    name="scenes",
    help="Scenes: stored action groups to run now or at a time.",
    no_args_is_help=True,
)

SceneId = Annotated[
    str, typer.Argument(help="Scene id (scn_…).", metavar="SCENE", show_default=False)
]


def scene_file(value: str) -> SceneCreate:
    """A scene read from a JSON file: ``{"label", "mode", "actions": [...]}``."""
    try:
        content = Path(value).read_text(encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {value!r}: {exc.strerror or exc}") from None
    try:
        return SceneCreate.model_validate(json.loads(content))
    except ValueError as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        reason = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}" if first else str(exc)
        raise typer.BadParameter(f"{value!r} is not a scene ({reason})") from None


@app.command("list")
def list_scenes(
    ctx: typer.Context,
    gateway: Annotated[
        str | None, typer.Option("--gateway", metavar="AGENT", help="Only this gateway's.")
    ] = None,
    site: Annotated[str | None, typer.Option("--site", help="Only this site's scenes.")] = None,
    json_output: JsonOutput = False,
) -> None:
    """List scenes."""
    s = session.get(ctx, json_output)
    scenes = list(s.client.action_groups.list(gateway_id=gateway, site_id=site))
    s.out.table(dviews.scenes_table(scenes), scenes)


@app.command("get")
def get(ctx: typer.Context, scene_id: SceneId, json_output: JsonOutput = False) -> None:
    """Show one scene and its actions."""
    s = session.get(ctx, json_output)
    scene = s.client.action_groups.get(scene_id)
    s.out.record(dviews.scene_record(scene), scene)


@app.command("create")
def create(
    ctx: typer.Context,
    scene: Annotated[
        SceneCreate,
        typer.Option(
            "--file",
            "-f",
            parser=scene_file,
            metavar="SCENE.json",
            help='The scene: {"label": …, "actions": [{"device_url": …, "commands": […]}]}.',
            show_default=False,
        ),
    ],
    gateway: Annotated[
        str | None,
        typer.Option("--gateway", metavar="AGENT", help="The gateway, if the file names none."),
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """Store a scene from a JSON file."""
    s = session.get(ctx, json_output)
    created = s.client.action_groups.create(scene, gateway_id=gateway)
    s.out.record(dviews.scene_record(created), created)


@app.command("delete")
def delete(
    ctx: typer.Context,
    scene_id: SceneId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_output: JsonOutput = False,
) -> None:
    """Delete a scene (and its pending schedules)."""
    s = session.get(ctx, json_output)
    if not yes and not s.out.confirm(f"Delete scene {scene_id}?"):
        raise typer.Abort
    deleted = s.client.action_groups.delete(scene_id)
    s.out.message(f"Deleted scene {scene_id}.", deleted)


@app.command("execute")
def execute(
    ctx: typer.Context,
    scene_id: SceneId,
    queue: Annotated[
        bool, typer.Option("--queue", help="Wait for a free slot if the gateway is busy.")
    ] = False,
    wait: Wait = False,
    timeout: Timeout = None,
    json_output: JsonOutput = False,
) -> None:
    """Run a scene now."""
    s = session.get(ctx, json_output)
    handle = s.client.action_groups.execute(scene_id, queue=queue)
    finish(s, handle, wait=wait, timeout=timeout)


@app.command("schedule")
def schedule(
    ctx: typer.Context,
    scene_id: SceneId,
    at: Annotated[
        datetime | None,
        typer.Option(
            "--at",
            parser=params.instant,
            metavar="TIME",
            help="When, ISO 8601 (UTC when no zone is given).",
            show_default=False,
        ),
    ] = None,
    after: Annotated[
        timedelta | None,
        typer.Option(
            "--in",
            parser=params.duration,
            metavar="DURATION",
            help="In this long from now (10m, 2h).",
            show_default=False,
        ),
    ] = None,
    queue: Annotated[
        bool,
        typer.Option("--queue/--no-queue", help="When it fires on a busy gateway: queue, or fail."),
    ] = True,
    json_output: JsonOutput = False,
) -> None:
    """Run a scene once, later (the schedule survives a server restart)."""
    s = session.get(ctx, json_output)
    when: datetime | timedelta
    if at is not None and after is None:
        when = at
    elif after is not None and at is None:
        when = after
    else:
        raise CLIError("give --at TIME or --in DURATION", code="usage", exit_code=EXIT_USAGE)
    created = s.client.action_groups.schedule(scene_id, at=when, queue=queue)
    fires = created.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    s.out.message(f"Scheduled scene {scene_id} for {fires}: {created.id}.", created)


@app.command("schedules")
def schedules(
    ctx: typer.Context,
    scene: Annotated[
        str | None, typer.Option("--scene", metavar="SCENE", help="Only this scene's.")
    ] = None,
    state: Annotated[
        ScheduleState | None, typer.Option("--state", help="Only schedules in this state.")
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """List schedules."""
    s = session.get(ctx, json_output)
    found = list(
        s.client.schedules.list(scene_id=scene, state=None if state is None else state.value)
    )
    s.out.table(dviews.schedules_table(found), found)


@app.command("unschedule")
def unschedule(
    ctx: typer.Context,
    schedule_id: Annotated[
        str, typer.Argument(help="Schedule id (sch_…).", metavar="SCHEDULE", show_default=False)
    ],
    json_output: JsonOutput = False,
) -> None:
    """Cancel a pending schedule."""
    s = session.get(ctx, json_output)
    cancelled = s.client.schedules.cancel(schedule_id)
    s.out.message(f"Cancelled schedule {cancelled.id} ({cancelled.state}).", cancelled)
