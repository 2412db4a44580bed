"""`yard agents`: the machines and devices that publish telemetry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from fleetyard import NOT_GIVEN, WaitTimeoutError
from fleetyard.cli import device_views as dviews
from fleetyard.cli import params, session, views
from fleetyard.cli import telemetry_views as tviews
from fleetyard.cli.commands.executions import json_or_text
from fleetyard.cli.session import CLIError, JsonOutput
from fleetyard.protocol.telemetry import AgentKind

app = typer.Typer(
    name="agents",
    help="Agents: the machines, devices and gateways that publish into channels.",
    no_args_is_help=True,
)

AgentId = Annotated[
    str, typer.Argument(help="Agent id (agt_…).", metavar="AGENT_ID", show_default=False)
]
Labels = Annotated[
    list[str] | None,
    typer.Option(
        "--label",
        "-l",
        parser=params.label,
        metavar="KEY=VALUE",
        help="A label KEY=VALUE (repeatable).",
        show_default=False,
    ),
]
Metadata = Annotated[
    dict[str, Any] | None,
    typer.Option(
        "--metadata",
        parser=params.json_object,
        metavar="JSON",
        help='Free-form metadata, a JSON object: \'{"fw": "1.2"}\'.',
        show_default=False,
    ),
]


@app.command("list")
def list_agents(
    ctx: typer.Context,
    site: Annotated[str | None, typer.Option("--site", help="Only this site's agents.")] = None,
    kind: Annotated[AgentKind | None, typer.Option(help="Only agents of this kind.")] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            "-l",
            parser=params.label,
            metavar="KEY=VALUE",
            help="Only agents with this label (repeatable: all must match).",
            show_default=False,
        ),
    ] = None,
    online: Annotated[
        bool | None,
        typer.Option("--online/--offline", help="Only connected (or disconnected) agents."),
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """List the agents."""
    s = session.get(ctx, json_output)
    agents = list(
        s.client.agents.list(
            site_id=site,
            kind=None if kind is None else kind.value,
            labels=params.labels(label),
            online=online,
        )
    )
    s.out.table(tviews.agents_table(agents), agents)


@app.command("get")
def get(ctx: typer.Context, agent_id: AgentId, json_output: JsonOutput = False) -> None:
    """Show one agent."""
    s = session.get(ctx, json_output)
    agent = s.client.agents.get(agent_id)
    s.out.record(tviews.agent_record(agent), agent)


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="A name, unique in the organisation.", show_default=False)
    ],
    site: Annotated[str, typer.Option("--site", help="The site it belongs to (site_…).")],
    kind: Annotated[AgentKind, typer.Option(help="What it is.")] = AgentKind.DEVICE,
    label: Labels = None,
    metadata: Metadata = None,
    json_output: JsonOutput = False,
) -> None:
    """Create an agent in a site."""
    s = session.get(ctx, json_output)
    agent = s.client.agents.create(
        site, name, kind=kind.value, labels=params.labels(label), metadata=metadata
    )
    s.out.record(tviews.agent_record(agent), agent)


@app.command("update")
def update(
    ctx: typer.Context,
    agent_id: AgentId,
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    site: Annotated[str | None, typer.Option("--site", help="Move it to this site.")] = None,
    kind: Annotated[AgentKind | None, typer.Option(help="New kind.")] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            "-l",
            parser=params.label,
            metavar="KEY=VALUE",
            help="Replace all labels with these (repeatable).",
            show_default=False,
        ),
    ] = None,
    clear_labels: Annotated[
        bool, typer.Option("--clear-labels", help="Remove every label.")
    ] = False,
    metadata: Annotated[
        dict[str, Any] | None,
        typer.Option(
            "--metadata",
            parser=params.json_object,
            metavar="JSON",
            help="Replace the metadata with this JSON object.",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """Change an agent; only what is given changes."""
    s = session.get(ctx, json_output)
    if label and clear_labels:
        raise typer.BadParameter("give --label or --clear-labels, not both")
    labels = {} if clear_labels else params.labels(label)
    if all(v is None for v in (name, site, kind, labels, metadata)):
        raise typer.BadParameter(
            "nothing to change: give --name, --site, --kind, --label or --metadata"
        )
    agent = s.client.agents.update(
        agent_id,
        name=NOT_GIVEN if name is None else name,
        site_id=NOT_GIVEN if site is None else site,
        kind=NOT_GIVEN if kind is None else kind.value,
        labels=NOT_GIVEN if labels is None else labels,
        metadata=NOT_GIVEN if metadata is None else metadata,
    )
    s.out.record(tviews.agent_record(agent), agent)


@app.command("delete")
def delete(
    ctx: typer.Context,
    agent_id: AgentId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_output: JsonOutput = False,
) -> None:
    """Delete an agent with all its channels and messages."""
    s = session.get(ctx, json_output)
    if not yes and not s.out.confirm(f"Delete agent {agent_id} with its channels and messages?"):
        raise typer.Abort
    s.client.agents.delete(agent_id)
    s.out.message(f"Deleted agent {agent_id}.", {"id": agent_id, "deleted": True})


@app.command("token")
def token(
    ctx: typer.Context,
    agent_id: AgentId,
    name: Annotated[str | None, typer.Option(help="A name to recognise the key by.")] = None,
    expires_at: Annotated[
        datetime | None,
        typer.Option(
            "--expires-at",
            parser=params.instant,
            metavar="WHEN",
            help="Expiry, ISO 8601 (UTC when no zone is given).",
        ),
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """Make an API key for the device itself (scoped to this agent) and show it once."""
    s = session.get(ctx, json_output)
    created = s.client.agents.token(agent_id, name=name, expires_at=expires_at)
    s.out.secret(views.key_record(created), created, created.secret)


def command_arg(value: str) -> str:
    """``KEY=VALUE``; the value is JSON when it parses (``count=3``), else text."""
    key, sep, _ = value.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"{value!r} is not an argument: write KEY=VALUE, e.g. count=3")
    return value


@app.command("command")
def command(
    ctx: typer.Context,
    agent_id: AgentId,
    name: Annotated[
        str, typer.Argument(help="The command: ping, reboot…", metavar="NAME", show_default=False)
    ],
    arg: Annotated[
        list[str] | None,
        typer.Option(
            "--arg",
            "-a",
            parser=command_arg,
            metavar="KEY=VALUE",
            help="An argument KEY=VALUE, the value JSON when it parses (repeatable).",
            show_default=False,
        ),
    ] = None,
    timeout_seconds: Annotated[
        float | None,
        typer.Option(
            "--timeout-seconds",
            min=0,
            metavar="SECONDS",
            help="How long the agent may take (server default 300).",
            show_default=False,
        ),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the result; exit 1 if the command failed.")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=0,
            metavar="SECONDS",
            help="With --wait: give up waiting after this long.",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """Send a machine command to an agent (it runs when the agent is connected)."""
    s = session.get(ctx, json_output)
    args = {key: json_or_text(v) for key, _, v in (a.partition("=") for a in arg or [])}
    sent = s.client.agents.dispatch_command(
        agent_id, name, args or None, timeout_seconds=timeout_seconds
    )
    if not wait:
        s.out.record(dviews.agent_command_record(sent), sent)
        return
    try:
        done = s.client.agents.wait_command(agent_id, sent.id, timeout=timeout)
    except WaitTimeoutError:
        raise CLIError(
            f"command {sent.id} did not finish within {timeout:g}s;"
            f" the agent may be offline (it runs when the agent connects)",
            code="wait_timeout",
        ) from None
    s.out.record(dviews.agent_command_record(done), done)
    if done.state != "completed":
        raise CLIError(
            f"command {done.id} failed: {done.error or 'no reason given'}", code="command_failed"
        )
