"""`yard exec` (run a command on a device) and `yard executions` (follow and stop them)."""

from __future__ import annotations

import json
from itertools import islice
from typing import Annotated, Any

import typer
from pydantic import JsonValue

from fleetyard import ExecutionHandle, WaitTimeoutError
from fleetyard.cli import device_views as dviews
from fleetyard.cli import params, session
from fleetyard.cli.session import CLIError, JsonOutput
from fleetyard.protocol.executions import Execution, ExecutionMode, ExecutionState

app = typer.Typer(
    name="executions",
    help="Executions: commands running (or run) on devices. Start one with `yard exec`.",
    no_args_is_help=True,
)

PAGE_LIMIT = 100
"""Most executions asked for per page."""

ExecutionId = Annotated[
    str, typer.Argument(help="Execution id (exe_…).", metavar="EXECUTION", show_default=False)
]
Gateway = Annotated[
    str | None,
    typer.Option(
        "--gateway", metavar="AGENT", help="The gateway agent (agt_…).", show_default=False
    ),
]
Wait = Annotated[
    bool, typer.Option("--wait", help="Wait until it finished; exit 1 unless it completed.")
]
Timeout = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        min=0,
        metavar="SECONDS",
        help="With --wait: give up waiting after this long (the execution goes on).",
        show_default=False,
    ),
]


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_or_text(value: str) -> JsonValue:
    """A parameter as typed: JSON when it parses (``50``, ``true``, ``[1,2]``), else the text.

    >>> json_or_text("50"), json_or_text("open"), json_or_text('"50"')
    (50, 'open', '50')
    """
    try:
        parsed: JsonValue = json.loads(value, parse_constant=_not_json)
    except ValueError:
        return value
    return parsed


def finish(
    s: session.Session, handle: ExecutionHandle, *, wait: bool, timeout: float | None
) -> None:
    """Report a started execution; with ``wait``, follow it to the end (exit 1 unless completed)."""
    if not wait:
        s.out.message(dviews.started_text(handle.started), handle.started)
        return

    def progress(execution: Execution) -> None:
        if not s.out.json:
            s.out.note(dviews.progress_text(execution))

    try:
        execution = handle.wait(timeout=timeout, on_progress=progress)
    except WaitTimeoutError as exc:
        state = exc.last.state if isinstance(exc.last, Execution) else handle.state
        raise CLIError(
            f"execution {handle.id} did not finish within {timeout:g}s (still {state});"
            f" follow it with `yard executions get {handle.id}`",
            code="wait_timeout",
        ) from None
    s.out.record(dviews.execution_record(execution), execution)
    if execution.state != ExecutionState.COMPLETED:
        raise CLIError(dviews.failure_text(execution), code=f"execution_{execution.state}")


def exec_command(
    ctx: typer.Context,
    device_url: Annotated[
        str,
        typer.Argument(
            help="The device URL (io://1234-5678-3293/3541212).",
            metavar="DEVICE_URL",
            show_default=False,
        ),
    ],
    command: Annotated[
        str, typer.Argument(help="The command (setClosure, open…).", show_default=False)
    ],
    parameters: Annotated[
        list[str] | None,
        typer.Argument(
            help="Its parameters: JSON when they parse (50, true), else text.",
            metavar="[PARAMS]...",
            show_default=False,
        ),
    ] = None,
    gateway: Gateway = None,
    label: Annotated[str, typer.Option("--label", help="A label for the execution.")] = "",
    mode: Annotated[
        ExecutionMode, typer.Option("--mode", help="How the gateway treats it.")
    ] = ExecutionMode.DEFAULT,
    queue: Annotated[
        bool,
        typer.Option("--queue", help="Wait for a free slot if the gateway is busy (else 429)."),
    ] = False,
    wait: Wait = False,
    timeout: Timeout = None,
    json_output: JsonOutput = False,
) -> None:
    """Run one command on a device: `yard exec io://1234-5678-3293/3541212 setClosure 50`."""
    s = session.get(ctx, json_output)
    action = {
        "device_url": device_url,
        "commands": [{"name": command, "parameters": [json_or_text(p) for p in parameters or []]}],
    }
    handle = s.client.executions.execute(
        actions=[action],
        label=label or None,
        mode=mode.value,
        gateway_id=gateway,
        queue=queue or None,
    )
    finish(s, handle, wait=wait, timeout=timeout)


@app.command("list")
def list_current(
    ctx: typer.Context, gateway: Gateway = None, json_output: JsonOutput = False
) -> None:
    """List the unfinished executions (queued included), oldest first."""
    s = session.get(ctx, json_output)
    current = list(s.client.executions.current(gateway_id=gateway))
    s.out.table(dviews.executions_table(current), current)


@app.command("get")
def get(ctx: typer.Context, execution_id: ExecutionId, json_output: JsonOutput = False) -> None:
    """Show one execution and the state of each of its commands."""
    s = session.get(ctx, json_output)
    execution = s.client.executions.get(execution_id)
    s.out.record(dviews.execution_record(execution), execution)


@app.command("cancel")
def cancel(ctx: typer.Context, execution_id: ExecutionId, json_output: JsonOutput = False) -> None:
    """Stop an execution."""
    s = session.get(ctx, json_output)
    execution = s.client.executions.cancel(execution_id)
    s.out.message(f"Cancelled execution {execution.id} ({execution.state}).", execution)


@app.command("history")
def history(
    ctx: typer.Context,
    gateway: Gateway = None,
    device: Annotated[
        str | None,
        typer.Option("--device", metavar="DEVICE_URL", help="Only executions touching it."),
    ] = None,
    state: Annotated[
        ExecutionState | None, typer.Option("--state", help="Only executions in this state.")
    ] = None,
    since: Annotated[
        params.When | None,
        typer.Option(
            "--since",
            parser=params.when,
            metavar="WHEN",
            help="Since then: a duration ago (1h, 7d) or ISO 8601.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 20,
    json_output: JsonOutput = False,
) -> None:
    """List past and present executions, newest first."""
    s = session.get(ctx, json_output)
    pager = s.client.executions.history(
        gateway_id=gateway,
        device_url=device,
        state=None if state is None else state.value,
        start=params.when_value(since),
        limit=min(limit, PAGE_LIMIT),
    )
    items = list(islice(pager, limit))
    s.out.table(dviews.executions_table(items), items)
