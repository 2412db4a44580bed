"""`yard publish`, `yard messages`, `yard aggregate` and `yard timeseries`.

AGENT is an agent id; CHANNEL is the channel's name on that agent (looked
up by name, so `status`, `'#processor'` and `'!task'` all work).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import Annotated, Any

import typer

from fleetyard.cli import params, session
from fleetyard.cli import telemetry_views as tviews
from fleetyard.cli.params import AgentArg, ChannelArg
from fleetyard.cli.session import EXIT_USAGE, CLIError, JsonOutput
from fleetyard.protocol.telemetry import Channel, TimeseriesAggregate

BATCH_SIZE = 1000
"""Lines of stdin sent per batch publish."""
PAGE_LIMIT = 1000
"""Most messages asked for per page."""

Since = Annotated[
    params.When | None,
    typer.Option(
        "--since",
        parser=params.when,
        metavar="WHEN",
        help="From this time: a duration ago (1h, 7d) or ISO 8601.",
        show_default=False,
    ),
]
Until = Annotated[
    params.When | None,
    typer.Option(
        "--until",
        parser=params.when,
        metavar="WHEN",
        help="Up to this time (excluded): a duration ago (30m) or ISO 8601.",
        show_default=False,
    ),
]


def _channel(s: session.Session, agent_id: str, name: str) -> Channel:
    return s.client.channels.get_by_name(agent_id, name)


def _not_json(name: str) -> Any:
    # Python's json reads NaN and Infinity, which are not JSON and which no server takes.
    raise ValueError(f"{name} is not a JSON value")


def _parse_payload(text: str, *, as_text: bool, where: str) -> Any:
    if as_text:
        return text
    try:
        return json.loads(text, parse_constant=_not_json)
    except ValueError as exc:
        reason = (
            f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else exc
        )
        raise CLIError(
            f"{where} is not JSON ({reason}); quote it ('{{\"t\": 21.5}}'),"
            " or add --text to publish it as a string",
            code="invalid_json",
            exit_code=EXIT_USAGE,
        ) from None


def publish(
    ctx: typer.Context,
    agent_id: AgentArg,
    channel: ChannelArg,
    payload: Annotated[
        str | None,
        typer.Argument(
            help="The message, JSON ('{\"t\": 21.5}'). Omit it, or give -, to read"
            " JSON documents from stdin, one per line.",
            metavar="PAYLOAD",
            show_default=False,
        ),
    ] = None,
    timestamp: Annotated[
        datetime | None,
        typer.Option(
            "--timestamp",
            parser=params.instant,
            metavar="WHEN",
            help="The message's own time, ISO 8601 (UTC without a zone); else the server's.",
        ),
    ] = None,
    override: Annotated[
        bool,
        typer.Option("--override", help="Replace the aggregate instead of merging into it."),
    ] = False,
    save_log: Annotated[
        bool,
        typer.Option(
            "--log/--no-log",
            help="Append to the message log; --no-log only updates the aggregate.",
        ),
    ] = True,
    log_aggregate: Annotated[
        bool,
        typer.Option(
            "--log-aggregate",
            help="Log the resulting aggregate as the message, instead of the payload.",
        ),
    ] = False,
    client_message_id: Annotated[
        str | None,
        typer.Option(
            "--id",
            metavar="CLIENT_MESSAGE_ID",
            help="A dedup id: publishing it again stores nothing twice.",
        ),
    ] = None,
    as_text: Annotated[
        bool,
        typer.Option("--text", help="Publish the payload (or each line) as a JSON string."),
    ] = False,
    json_output: JsonOutput = False,
) -> None:
    """Publish a message to a channel of an agent (the channel is created if missing)."""
    s = session.get(ctx, json_output)
    where = f"{channel} of {agent_id}"
    if payload is not None and payload != "-":
        value = _parse_payload(payload, as_text=as_text, where="PAYLOAD")
        ack = s.client.channels.publish(
            (agent_id, channel),
            value,
            timestamp=timestamp,
            client_message_id=client_message_id,
            override_aggregate=override,
            save_log=save_log,
            log_aggregate=log_aggregate,
        )
        s.out.message(tviews.published_text(ack, where), ack)
        return
    if client_message_id is not None:
        raise typer.BadParameter("--id needs a PAYLOAD argument (one message)")
    stdin = typer.get_text_stream("stdin")
    if stdin.isatty():
        s.out.note("Reading messages from stdin, one JSON document per line; end with Ctrl-D.")
    template: dict[str, Any] = {"agent_id": agent_id, "channel": channel}
    if timestamp is not None:
        template["timestamp"] = timestamp
    if override:
        template["override_aggregate"] = True
    if not save_log:
        template["save_log"] = False
    if log_aggregate:
        template["log_aggregate"] = True
    published = duplicates = 0
    try:
        for batch in _batches(stdin, as_text=as_text):
            acks = s.client.channels.publish_batch([template | {"payload": p} for p in batch])
            published += len(acks.items)
            duplicates += sum(1 for ack in acks.items if ack.duplicate)
    except CLIError as exc:
        if published:
            exc.message += f"; the {published} messages before it were published"
        raise
    s.out.message(
        tviews.batch_text(published, duplicates, where),
        {"published": published, "duplicates": duplicates},
    )


def _batches(lines: Iterable[str], *, as_text: bool) -> Iterator[list[Any]]:
    """Payloads of the non-blank lines, BATCH_SIZE at a time; a bad line stops there."""
    batch: list[Any] = []
    for number, line in enumerate(lines, start=1):
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        batch.append(_parse_payload(text, as_text=as_text, where=f"line {number}"))
        if len(batch) == BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


def messages(
    ctx: typer.Context,
    agent_id: AgentArg,
    channel: ChannelArg,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 20,
    oldest_first: Annotated[
        bool, typer.Option("--oldest-first", help="Oldest first (default: newest first).")
    ] = False,
    json_output: JsonOutput = False,
) -> None:
    """Show a channel's latest messages (or those of a time window)."""
    s = session.get(ctx, json_output)
    found = _channel(s, agent_id, channel)
    pager = s.client.channels.messages(
        found.id,
        start=params.when_value(since),
        end=params.when_value(until),
        order="asc" if oldest_first else "desc",
        limit=min(limit, PAGE_LIMIT),
    )
    items = list(islice(pager, limit))
    s.out.table(tviews.messages_table(items), items)


def aggregate(
    ctx: typer.Context, agent_id: AgentArg, channel: ChannelArg, json_output: JsonOutput = False
) -> None:
    """Show a channel's aggregate: the merge of everything published to it."""
    s = session.get(ctx, json_output)
    found = _channel(s, agent_id, channel)
    current = s.client.channels.aggregate(found.id)
    footer = tviews.aggregate_footer(current.version, current.updated_at)
    s.out.document(current.data, current, footer=footer)


def timeseries(
    ctx: typer.Context,
    agent_id: AgentArg,
    channel: ChannelArg,
    field: Annotated[
        list[str],
        typer.Option(
            "--field",
            "-f",
            help="A JSON field path: temperature, battery.level (repeatable).",
            show_default=False,
        ),
    ],
    since: Annotated[
        params.When | None,
        typer.Option(
            "--since",
            parser=params.when,
            metavar="WHEN",
            help="From this time: a duration ago (1h, 7d) or ISO 8601 (default: 24h ago).",
            show_default=False,
        ),
    ] = None,
    until: Until = None,
    interval: Annotated[
        timedelta | None,
        typer.Option(
            "--interval",
            "-i",
            parser=params.duration,
            metavar="DURATION",
            help="Bucket size (1m, 5m, 1h); raw points without it.",
            show_default=False,
        ),
    ] = None,
    agg: Annotated[
        list[TimeseriesAggregate] | None,
        typer.Option(
            "--agg",
            help="How each bucket is combined (repeatable; default: avg).",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="At most this many points.")
    ] = None,
    csv_output: Annotated[
        bool, typer.Option("--csv", help="Print CSV: time,<field>[_<agg>]…")
    ] = False,
    json_output: JsonOutput = False,
) -> None:
    """Plot numeric fields of a channel over time (or print them as CSV or JSON)."""
    s = session.get(ctx, json_output)
    if csv_output and s.out.json:
        raise typer.BadParameter("give --csv or --json, not both")
    found = _channel(s, agent_id, channel)
    series = s.client.channels.timeseries(
        found.id,
        field,
        start=timedelta(hours=24) if since is None else since.value,
        end=params.when_value(until),
        interval=interval,
        aggregates=None if not agg else [a.value for a in agg],
        limit=limit,
    )
    if csv_output:
        header, rows = tviews.timeseries_csv(series)
        s.out.csv(header, rows)
        return
    charts = tviews.timeseries_charts(series, width=min(s.out.width(), 120))
    s.out.charts(charts, series, empty="No data in this window.")
