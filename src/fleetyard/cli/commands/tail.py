"""`yard tail AGENT CHANNEL`: follow a channel live; survives network loss without a gap."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from fleetyard.cli import params, session
from fleetyard.cli.params import AgentArg, ChannelArg
from fleetyard.cli.session import EXIT_USAGE, CLIError
from fleetyard.protocol.common import format_timestamp
from fleetyard.protocol.stream import (
    AggregateUpdatedEvent,
    DeviceEventFrame,
    MessageCreatedEvent,
    SoftwareEventFrame,
)
from fleetyard.sdk import StreamEvent


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def event_line(event: StreamEvent) -> str:
    """How a person sees one event: time, position, compact JSON."""
    if isinstance(event, MessageCreatedEvent):
        return (
            f"{format_timestamp(event.message.ts)}  #{event.seq}  {_compact(event.message.payload)}"
        )
    if isinstance(event, AggregateUpdatedEvent):
        when = format_timestamp(event.updated_at) if event.updated_at else "-"
        return f"{when}  aggregate v{event.version}  {_compact(event.data)}"
    if isinstance(event, DeviceEventFrame):  # not subscribed by tail; typed for completeness
        device = event.event
        subject = device.device_url or device.execution_id or device.gateway_id
        return f"{format_timestamp(device.at)}  {device.type}  {subject}"
    if isinstance(event, SoftwareEventFrame):  # not subscribed by tail; typed for completeness
        software = event.event
        when = format_timestamp(software.at) if software.at else "-"
        return f"{when}  {software.type}  {software.app_id}"
    return f"{format_timestamp(event.at)}  {event.type}  {event.agent_id}"


def event_data(event: StreamEvent) -> dict[str, Any]:
    """What ``--json`` prints for one event: the wire event, one line each (JSON Lines)."""
    return event.model_dump(mode="json", exclude={"sub"})


def tail(
    ctx: typer.Context,
    agent_id: AgentArg,
    channel: ChannelArg,
    since: Annotated[
        params.When | None,
        typer.Option(
            "--since",
            parser=params.when,
            metavar="WHEN",
            help="First show what was stored since then: a duration ago (1h) or ISO 8601.",
            show_default=False,
        ),
    ] = None,
    after: Annotated[
        int | None,
        typer.Option(
            "--after", min=0, metavar="SEQ", help="First show the stored messages after this seq."
        ),
    ] = None,
    aggregate: Annotated[
        bool, typer.Option("--aggregate", help="Also show each change of the aggregate.")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per line (JSON Lines).")
    ] = False,
) -> None:
    """Follow a channel live: each message as it arrives, until Ctrl-C.

    When the connection drops, yard reconnects and carries on after the last
    message shown: nothing is skipped or shown twice.
    """
    s = session.get(ctx, json_output)
    if since is not None and after is not None:
        raise CLIError("give --since or --after, not both", code="usage", exit_code=EXIT_USAGE)
    client = s.client
    found = client.channels.get_by_name(agent_id, channel)
    start = after
    if since is not None:
        # The first stored message of the window (by message time); nothing there: from now.
        page = client.channels.messages_page(found.id, start=since.value, order="asc", limit=1)
        start = page.items[0].seq - 1 if page.items else found.last_seq
    outage = False

    def on_reconnect(attempt: int, delay: float, error: Exception) -> None:
        nonlocal outage
        if not outage:
            outage = True
            s.out.warning(f"connection lost ({error}); reconnecting…")

    # Ctrl-C is how tail ends, not an error: stop reading, close the stream
    # normally, and let nothing that closing raises turn the exit code non-zero.
    interrupted = False
    try:
        with client.stream.subscribe(
            [found.id], aggregates=aggregate, after=start, on_reconnect=on_reconnect
        ) as events:
            try:
                for event in events:
                    outage = False
                    s.out.stream_item(event_line(event), event_data(event))
            except KeyboardInterrupt:
                interrupted = True
    except KeyboardInterrupt:
        return
    except Exception:
        if not interrupted:
            raise
