"""`yard deploy` (take a version to an app's machines) and `yard rollouts` (follow them)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from itertools import islice
from typing import Annotated

import typer

from fleetyard import WaitTimeoutError
from fleetyard.cli import params, session, software_views
from fleetyard.cli.output import LiveTable
from fleetyard.cli.session import CLIError, JsonOutput
from fleetyard.protocol.rollouts import Rollout, RolloutState

app = typer.Typer(
    name="rollouts",
    help="Rollouts: versions going out to machines. Start one with `yard deploy`.",
    no_args_is_help=True,
)

PAGE_LIMIT = 100
"""Most rollouts asked for per page."""

AppId = Annotated[str, typer.Argument(help="App id (app_…).", metavar="APP", show_default=False)]
RolloutId = Annotated[
    str, typer.Argument(help="Rollout id (rol_…).", metavar="ROLLOUT", show_default=False)
]
Interval = Annotated[
    float,
    typer.Option(
        "--interval", min=0.1, metavar="SECONDS", help="Seconds between two polls of the rollout."
    ),
]
Timeout = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        min=0,
        metavar="SECONDS",
        help="Give up following after this long (the rollout goes on).",
        show_default=False,
    ),
]


def canary(value: str) -> str:
    """``2`` machines or ``10%`` of them, checked.

    >>> canary("2"), canary(" 12.5%")
    ('2', '12.5%')
    """
    text = value.strip()
    if text.isdigit() and int(text) >= 1:
        return text
    if text.endswith("%"):
        try:
            percent = float(text[:-1])
        except ValueError:
            percent = 0.0
        if 0 < percent <= 100:
            return text
    raise typer.BadParameter(f"{value!r} is neither a number of machines (2) nor a share (10%)")


def machine_list(value: str) -> str:
    """Agent ids separated by commas, checked: ``agt_1, agt_2`` → ``agt_1,agt_2``."""
    machines = [part.strip() for part in value.split(",") if part.strip()]
    if not machines:
        raise typer.BadParameter("give agent ids separated by commas, e.g. agt_1,agt_2")
    return ",".join(machines)


def follow(
    s: session.Session,
    rollout_id: str,
    wait: Callable[..., Rollout],
    *,
    first: Rollout | None,
    interval: float,
    timeout: float | None,
) -> None:
    """Poll a rollout to its end with a live per-machine table; exit 1 unless it succeeded."""

    def show(live: LiveTable, rollout: Rollout) -> None:
        live.update(
            software_views.rollout_progress_title(rollout), software_views.machines_table(rollout)
        )

    with s.out.live_table() as live:
        if first is not None:
            show(live, first)
        try:
            rollout = wait(
                timeout=timeout, poll_interval=interval, on_progress=lambda r: show(live, r)
            )
        except WaitTimeoutError as exc:
            state = exc.last.state if isinstance(exc.last, Rollout) else "unknown"
            raise CLIError(
                f"rollout {rollout_id} did not finish within {timeout:g}s (still {state});"
                f" follow it with `yard rollouts watch {rollout_id}`",
                code="wait_timeout",
            ) from None
        show(live, rollout)
    if s.out.json:
        s.out.record(software_views.rollout_record(rollout), rollout)
    if rollout.state is not RolloutState.SUCCEEDED:
        raise CLIError(
            software_views.rollout_failure_text(rollout), code=f"rollout_{rollout.state.value}"
        )


def deploy(
    ctx: typer.Context,
    app_id: AppId,
    version: Annotated[
        str,
        typer.Option(
            "--version", metavar="REF", help="Version: 3, v3, #3, ver_…, current or previous."
        ),
    ] = "current",
    machines: Annotated[
        str | None,
        typer.Option(
            "--machines",
            parser=machine_list,
            metavar="AGENTS",
            help="Only these of the app's targets: agt_1,agt_2.",
            show_default=False,
        ),
    ] = None,
    canary_wave: Annotated[
        str | None,
        typer.Option(
            "--canary",
            parser=canary,
            metavar="N|PCT%",
            help="Deploy to N machines (or PCT% of them) first, the rest once they succeeded.",
            show_default=False,
        ),
    ] = None,
    rate: Annotated[
        int | None,
        typer.Option(
            "--rate",
            min=1,
            metavar="N",
            help="Start at most N machines a minute.",
            show_default=False,
        ),
    ] = None,
    abort_at: Annotated[
        float | None,
        typer.Option(
            "--abort-at",
            min=0,
            max=100,
            metavar="PCT",
            help="Abort once more than PCT% of the finished machines failed.",
            show_default=False,
        ),
    ] = None,
    machine_timeout: Annotated[
        float | None,
        typer.Option(
            "--machine-timeout",
            min=1,
            metavar="SECONDS",
            help="A machine that takes longer fails (default 900).",
            show_default=False,
        ),
    ] = None,
    schedule: Annotated[
        datetime | None,
        typer.Option(
            "--schedule",
            parser=params.instant,
            metavar="TIME",
            help="Start at this ISO 8601 time (UTC unless a zone is given).",
            show_default=False,
        ),
    ] = None,
    start_in: Annotated[
        timedelta | None,
        typer.Option(
            "--in",
            parser=params.duration,
            metavar="DURATION",
            help="Start after this long: 10m, 2h.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Show the machines and waves it would use; start nothing."),
    ] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Follow it to the end; exit 1 unless it succeeded."),
    ] = False,
    interval: Interval = 2.0,
    timeout: Timeout = None,
    json_output: JsonOutput = False,
) -> None:
    """Deploy a version of an app to its machines (all at once, canary first, or at a rate)."""
    s = session.get(ctx, json_output)
    if schedule is not None and start_in is not None:
        raise typer.BadParameter("give --schedule or --in, not both")
    if canary_wave is not None and rate is not None:
        raise typer.BadParameter("give --canary or --rate, not both: a rollout has one strategy")
    handle = s.client.apps.deploy(
        app_id,
        version,
        machines=None if machines is None else machines.split(","),
        canary=None if canary_wave is None else _canary_value(canary_wave),
        rate=rate,
        abort_failure_percent=abort_at,
        machine_timeout=machine_timeout,
        schedule_at=schedule if schedule is not None else start_in,
        dry_run=dry_run,
    )
    rollout = handle.rollout
    if dry_run or not wait:
        s.out.message(software_views.rollout_started_text(rollout), rollout)
        if dry_run and not s.out.json:
            s.out.table(software_views.machines_table(rollout), rollout.machines)
        return
    if not s.out.json:
        s.out.note(software_views.rollout_started_text(rollout))
    follow(s, handle.id, handle.wait, first=rollout, interval=interval, timeout=timeout)


def _canary_value(text: str) -> int | str:
    return int(text) if text.isdigit() else text


@app.command("list")
def list_rollouts(
    ctx: typer.Context,
    app_id: AppId,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 20,
    json_output: JsonOutput = False,
) -> None:
    """List an app's rollouts, newest first."""
    s = session.get(ctx, json_output)
    items = list(islice(s.client.rollouts.list(app_id, limit=min(limit, PAGE_LIMIT)), limit))
    s.out.table(software_views.rollouts_table(items), items)


@app.command("get")
def get(ctx: typer.Context, rollout_id: RolloutId, json_output: JsonOutput = False) -> None:
    """Show one rollout and the state of each of its machines."""
    s = session.get(ctx, json_output)
    rollout = s.client.rollouts.get(rollout_id)
    s.out.record(software_views.rollout_record(rollout), rollout)
    if not s.out.json:
        s.out.table(software_views.machines_table(rollout), rollout.machines)


@app.command("cancel")
def cancel(ctx: typer.Context, rollout_id: RolloutId, json_output: JsonOutput = False) -> None:
    """Stop a rollout: machines not started yet are left alone."""
    s = session.get(ctx, json_output)
    rollout = s.client.rollouts.cancel(rollout_id)
    s.out.message(
        f"Cancelled rollout {rollout.id} ({rollout.state.value};"
        f" {software_views.counts_text(rollout.counts)}).",
        rollout,
    )


@app.command("watch")
def watch(
    ctx: typer.Context,
    rollout_id: RolloutId,
    interval: Interval = 2.0,
    timeout: Timeout = None,
    json_output: JsonOutput = False,
) -> None:
    """Follow a rollout machine by machine until it finished; exit 1 unless it succeeded."""
    s = session.get(ctx, json_output)
    wait = partial(s.client.rollouts.wait, rollout_id)
    follow(s, rollout_id, wait, first=None, interval=interval, timeout=timeout)
