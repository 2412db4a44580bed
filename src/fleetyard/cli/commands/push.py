"""`yard push`, `yard versions …` and `yard rollback`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from fleetyard import PushOptions
from fleetyard.cli import session, software_views
from fleetyard.cli.session import JsonOutput

AppId = Annotated[str, typer.Argument(help="App id (app_…).", metavar="APP", show_default=False)]
Ref = Annotated[
    str,
    typer.Argument(help="Version: 3, v3, #3, ver_…, current, previous or first.", metavar="REF"),
]

versions = typer.Typer(name="versions", help="An app's immutable versions.", no_args_is_help=True)


def push(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(help="Directory to push.", exists=True, file_okay=False, show_default=False),
    ],
    app_id: AppId,
    message: Annotated[str, typer.Option("-m", "--message", help="Version description.")] = "",
    site: Annotated[str | None, typer.Option(help="Create the app in this site if new.")] = None,
    ignore: Annotated[
        list[str] | None, typer.Option("--ignore", help="Glob to leave out (repeat).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be uploaded; change nothing.")
    ] = False,
    json_output: JsonOutput = False,
) -> None:
    """Publish a directory as the app's next version, uploading only new chunks."""
    s = session.get(ctx, json_output)
    started = time.perf_counter()
    with s.out.push_progress() as bar:
        result = s.client.apps.push(
            path,
            app_id,
            PushOptions(
                site_id=site,
                description=message,
                ignore=ignore or [],
                dry_run=dry_run,
                on_progress=bar.update,
            ),
        )
    for warning in result.warnings:
        s.out.warning(warning)
    seconds = time.perf_counter() - started
    s.out.message(software_views.push_text(result, seconds), result)
    if result.diff is not None and not s.out.json:
        s.out.table(software_views.diff_table(result.diff), result.diff)


def rollback(
    ctx: typer.Context,
    app_id: AppId,
    to: Annotated[str, typer.Option("--to", help="Version to make current.")] = "previous",
    json_output: JsonOutput = False,
) -> None:
    """Make an earlier version current again."""
    s = session.get(ctx, json_output)
    app = s.client.apps.rollback(app_id, to=to)
    current = app.current_version
    label = "no version" if current is None else f"v{current.number} ({current.id})"
    s.out.message(f"{app.id} is now at {label}.", app)


@versions.command("list")
def list_versions(ctx: typer.Context, app_id: AppId, json_output: JsonOutput = False) -> None:
    """List an app's versions, newest first."""
    s = session.get(ctx, json_output)
    found = list(s.client.versions.list(app_id))
    s.out.table(software_views.versions_table(found), found)


@versions.command("get")
def get_version(
    ctx: typer.Context, app_id: AppId, ref: Ref = "current", json_output: JsonOutput = False
) -> None:
    """Show one version (with ``--json``: its manifest too)."""
    s = session.get(ctx, json_output)
    version = s.client.versions.get(app_id, ref)
    s.out.record(software_views.version_record(version), version)


@versions.command("files")
def files(
    ctx: typer.Context, app_id: AppId, ref: Ref = "current", json_output: JsonOutput = False
) -> None:
    """List a version's files, by path."""
    s = session.get(ctx, json_output)
    entries = list(s.client.versions.files(app_id, ref))
    s.out.table(software_views.files_table(entries), entries)


@versions.command("diff")
def diff(
    ctx: typer.Context,
    app_id: AppId,
    ref: Ref = "current",
    against: Annotated[str, typer.Option(help="Compare with this version.")] = "previous",
    json_output: JsonOutput = False,
) -> None:
    """What changed between two versions."""
    s = session.get(ctx, json_output)
    result = s.client.versions.diff(app_id, ref, against=against)
    s.out.table(software_views.diff_table(result), result)
