"""`yard apps`: the software a site deploys."""

from __future__ import annotations

import shlex
from typing import Annotated, Any

import typer

from fleetyard.cli import session, software_views
from fleetyard.cli.session import EXIT_USAGE, CLIError, JsonOutput

app = typer.Typer(
    name="apps",
    help="Apps: software deployed to a site's machines, in immutable versions.",
    no_args_is_help=True,
)

AppId = Annotated[str, typer.Argument(help="App id (app_…).", metavar="APP", show_default=False)]


@app.command("list")
def list_apps(
    ctx: typer.Context,
    site: Annotated[str | None, typer.Option(help="Only this site's apps.")] = None,
    deleted: Annotated[bool, typer.Option("--deleted", help="Include deleted apps.")] = False,
    json_output: JsonOutput = False,
) -> None:
    """List the apps."""
    s = session.get(ctx, json_output)
    apps = list(s.client.apps.list(site_id=site, include_deleted=deleted or None))
    s.out.table(software_views.apps_table(apps), apps)


@app.command("get")
def get(ctx: typer.Context, app_id: AppId, json_output: JsonOutput = False) -> None:
    """Show one app."""
    s = session.get(ctx, json_output)
    found = s.client.apps.get(app_id)
    s.out.record(software_views.app_record(found), found)


@app.command("create")
def create(
    ctx: typer.Context,
    site: Annotated[str, typer.Option(help="The site (site_…).", show_default=False)],
    name: Annotated[str, typer.Option(help="App name.", show_default=False)],
    app_id: Annotated[str | None, typer.Option("--id", help="Choose the id (app_…).")] = None,
    target: Annotated[
        list[str] | None, typer.Option("--target", help="Target agent id (repeat).")
    ] = None,
    extract_path: Annotated[str | None, typer.Option(help="Where machines extract it.")] = None,
    json_output: JsonOutput = False,
) -> None:
    """Create an app."""
    s = session.get(ctx, json_output)
    created = s.client.apps.create(site, name, id=app_id, targets=target, extract_path=extract_path)
    s.out.record(software_views.app_record(created), created)


@app.command("update")
def update(
    ctx: typer.Context,
    app_id: AppId,
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    target: Annotated[
        list[str] | None,
        typer.Option("--target", help="Target agent id (repeat; replaces the list)."),
    ] = None,
    extract_path: Annotated[str | None, typer.Option(help="Where machines extract it.")] = None,
    health_command: Annotated[
        str | None,
        typer.Option(
            help="Run on each machine after a switch, in the new tree; a failure switches back"
            " (shell words: 'sh -c \"curl -f localhost:8080\"'; '' removes it).",
        ),
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """Rename, retarget or change how an app is checked on the machines."""
    s = session.get(ctx, json_output)
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name
    if target is not None:
        changes["targets"] = target
    if extract_path is not None:
        changes["extract_path"] = extract_path
    if health_command is not None:
        run = s.client.apps.get(app_id).run.model_dump()
        run["health_command"] = shlex.split(health_command) or None
        changes["run"] = run
    if not changes:
        raise CLIError("nothing to change: give an option", code="usage", exit_code=EXIT_USAGE)
    updated = s.client.apps.patch(app_id, **changes)
    s.out.record(software_views.app_record(updated), updated)


@app.command("delete")
def delete(ctx: typer.Context, app_id: AppId, json_output: JsonOutput = False) -> None:
    """Delete an app (restorable for 30 days)."""
    s = session.get(ctx, json_output)
    removed = s.client.apps.remove(app_id)
    s.out.message(
        f"Deleted {removed.id}; `yard apps restore {removed.id}` brings it back.", removed
    )


@app.command("restore")
def restore(ctx: typer.Context, app_id: AppId, json_output: JsonOutput = False) -> None:
    """Bring back a deleted app."""
    s = session.get(ctx, json_output)
    restored = s.client.apps.restore(app_id)
    s.out.message(f"Restored {restored.id}.", restored)
