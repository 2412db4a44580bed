"""`yard channels`: the named channels of an agent."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from fleetyard import NOT_GIVEN, NotGiven
from fleetyard.cli import params, session
from fleetyard.cli import telemetry_views as tviews
from fleetyard.cli.session import JsonOutput
from fleetyard.protocol.telemetry import ChannelKind, Retention

app = typer.Typer(
    name="channels",
    help=(
        "Channels: the named streams of an agent. A name starting with # is a processor,"
        " with ! a task."
    ),
    no_args_is_help=True,
)

AgentId = Annotated[
    str, typer.Argument(help="Agent id (agt_…).", metavar="AGENT", show_default=False)
]
ChannelId = Annotated[
    str, typer.Argument(help="Channel id (ch_…).", metavar="CHANNEL_ID", show_default=False)
]
PRIVATE_HELP = "Hide it from read-only callers: reading it needs write."
MaxAge = Annotated[
    int | None,
    typer.Option(
        "--max-age",
        parser=params.whole_seconds,
        metavar="DURATION",
        help="Keep messages this long (7d, 12h…).",
        show_default=False,
    ),
]
MaxMessages = Annotated[
    int | None,
    typer.Option("--max-messages", min=1, help="Keep at most this many messages."),
]
SchemaFile = Annotated[
    dict[str, Any] | None,
    typer.Option(
        "--schema",
        parser=params.json_schema_file,
        metavar="FILE",
        help="A JSON Schema file every payload must match.",
        show_default=False,
    ),
]


@app.command("list")
def list_channels(
    ctx: typer.Context,
    agent_id: AgentId,
    kind: Annotated[ChannelKind | None, typer.Option(help="Only channels of this kind.")] = None,
    json_output: JsonOutput = False,
) -> None:
    """List the channels of an agent."""
    s = session.get(ctx, json_output)
    channels = list(s.client.channels.list(agent_id, kind=None if kind is None else kind.value))
    s.out.table(tviews.channels_table(channels), channels)


@app.command("get")
def get(
    ctx: typer.Context,
    agent_or_channel: Annotated[
        str,
        typer.Argument(
            help="Agent id (agt_…), or a channel id (ch_…) alone.",
            metavar="AGENT|CHANNEL_ID",
            show_default=False,
        ),
    ],
    name: Annotated[
        str | None,
        typer.Argument(
            help="Channel name (quote # and ! in a shell: '#proc').",
            metavar="NAME",
            parser=params.channel_name,
            show_default=False,
        ),
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """Show a channel: `yard channels get AGENT NAME`, or `yard channels get CHANNEL_ID`."""
    s = session.get(ctx, json_output)
    if name is None:
        channel = s.client.channels.get(agent_or_channel)
    else:
        channel = s.client.channels.get_by_name(agent_or_channel, name)
    s.out.record(tviews.channel_record(channel), channel)


@app.command("create")
def create(
    ctx: typer.Context,
    agent_id: AgentId,
    name: Annotated[
        str,
        typer.Argument(
            help="Channel name: '#name' makes a processor, '!name' a task.",
            metavar="NAME",
            parser=params.channel_name,
            show_default=False,
        ),
    ],
    private: Annotated[bool, typer.Option("--private", help=PRIVATE_HELP)] = False,
    max_age: MaxAge = None,
    max_messages: MaxMessages = None,
    schema: SchemaFile = None,
    json_output: JsonOutput = False,
) -> None:
    """Create a channel, or show it when it already exists."""
    s = session.get(ctx, json_output)
    retention = None
    if max_age is not None or max_messages is not None:
        retention = Retention(max_age_seconds=max_age, max_messages=max_messages)
    channel = s.client.channels.create(
        agent_id, name, is_private=private, retention=retention, json_schema=schema
    )
    s.out.record(tviews.channel_record(channel), channel)


@app.command("update")
def update(
    ctx: typer.Context,
    channel_id: ChannelId,
    private: Annotated[
        bool | None,
        typer.Option(
            "--private/--public",
            help=f"{PRIVATE_HELP} --public shows it to readers again.",
            show_default=False,
        ),
    ] = None,
    max_age: MaxAge = None,
    max_messages: MaxMessages = None,
    keep_forever: Annotated[
        bool, typer.Option("--keep-forever", help="Remove the retention: keep every message.")
    ] = False,
    schema: SchemaFile = None,
    no_schema: Annotated[
        bool, typer.Option("--no-schema", help="Remove the JSON Schema: accept any payload.")
    ] = False,
    json_output: JsonOutput = False,
) -> None:
    """Change a channel's settings; only what is given changes.

    --max-age and --max-messages replace the whole retention: the one not given is cleared.
    """
    s = session.get(ctx, json_output)
    if keep_forever and (max_age is not None or max_messages is not None):
        raise typer.BadParameter("give --max-age/--max-messages or --keep-forever, not both")
    if no_schema and schema is not None:
        raise typer.BadParameter("give --schema or --no-schema, not both")
    retention: Retention | NotGiven | None = NOT_GIVEN
    if keep_forever:
        retention = None
    elif max_age is not None or max_messages is not None:
        retention = Retention(max_age_seconds=max_age, max_messages=max_messages)
    json_schema: dict[str, Any] | NotGiven | None = None if no_schema else NOT_GIVEN
    if schema is not None:
        json_schema = schema
    if private is None and isinstance(retention, NotGiven) and isinstance(json_schema, NotGiven):
        raise typer.BadParameter(
            "nothing to change: give --private/--public, --max-age, --max-messages,"
            " --keep-forever, --schema or --no-schema"
        )
    channel = s.client.channels.update(
        channel_id,
        is_private=NOT_GIVEN if private is None else private,
        retention=retention,
        json_schema=json_schema,
    )
    s.out.record(tviews.channel_record(channel), channel)


@app.command("delete")
def delete(
    ctx: typer.Context,
    channel_id: ChannelId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_output: JsonOutput = False,
) -> None:
    """Delete a channel with its messages and aggregate."""
    s = session.get(ctx, json_output)
    if not yes and not s.out.confirm(f"Delete channel {channel_id} with its messages?"):
        raise typer.Abort
    s.client.channels.delete(channel_id)
    s.out.message(f"Deleted channel {channel_id}.", {"id": channel_id, "deleted": True})
