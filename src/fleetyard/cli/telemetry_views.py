"""How agents, channels, messages and timeseries look to people.

Pure functions from SDK models to views (see :mod:`fleetyard.cli.views`);
nothing here prints. ``--json`` never uses them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import JsonValue

from fleetyard.cli.plot import ChartView, format_number, render_chart
from fleetyard.cli.views import NONE, RecordView, TableView, when
from fleetyard.protocol.common import format_timestamp
from fleetyard.protocol.telemetry import (
    Agent,
    Channel,
    ChannelRetention,
    Message,
    PublishAck,
    Timeseries,
    TimeseriesSeries,
    format_interval,
)


def when_ms(value: datetime) -> str:
    """An instant to the millisecond, for messages: ``2026-11-02 09:30:15.123Z``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def compact_json(value: JsonValue) -> str:
    """JSON on one line, as written: ``{"t": 21.5}``."""
    return json.dumps(value, ensure_ascii=False)


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


# -- agents -------------------------------------------------------------------------


def labels_text(labels: dict[str, str]) -> str:
    return " ".join(f"{key}={value}" for key, value in labels.items()) or NONE


def agents_table(agents: Sequence[Agent]) -> TableView:
    return TableView(
        columns=("ID", "NAME", "KIND", "SITE", "ONLINE", "LAST SEEN", "LABELS"),
        rows=[
            (
                a.id,
                a.name,
                str(a.kind),
                a.site_id,
                yes_no(a.online),
                when(a.last_seen),
                labels_text(a.labels),
            )
            for a in agents
        ],
        empty="No agents.",
    )


def agent_record(agent: Agent) -> RecordView:
    return RecordView(
        title=f"Agent {agent.name}",
        fields=[
            ("ID", agent.id),
            ("Name", agent.name),
            ("Kind", str(agent.kind)),
            ("Site", agent.site_id),
            ("Online", yes_no(agent.online)),
            ("Last seen", when(agent.last_seen)),
            ("Labels", labels_text(agent.labels)),
            ("Metadata", compact_json(agent.metadata) if agent.metadata else NONE),
            ("Organization", agent.org_id),
            ("Created", when(agent.created_at)),
            ("Updated", when(agent.updated_at)),
        ],
    )


# -- channels -----------------------------------------------------------------------


def retention_text(retention: ChannelRetention) -> str:
    """``7d``, ``10000 messages``, ``30d, 500 messages`` or ``forever``."""
    parts = []
    if retention.max_age_seconds is not None:
        parts.append(format_interval(retention.max_age_seconds * 1000))
    if retention.max_messages is not None:
        parts.append(f"{retention.max_messages} messages")
    return ", ".join(parts) or "forever"


def channels_table(channels: Sequence[Channel]) -> TableView:
    return TableView(
        columns=("ID", "NAME", "KIND", "PRIVATE", "LAST SEQ", "RETENTION", "UPDATED"),
        rows=[
            (
                c.id,
                c.name,
                str(c.kind),
                yes_no(c.is_private),
                str(c.last_seq),
                retention_text(c.retention),
                when(c.aggregate_updated_at),
            )
            for c in channels
        ],
        empty="No channels.",
    )


def channel_record(channel: Channel) -> RecordView:
    return RecordView(
        title=f"Channel {channel.name}",
        fields=[
            ("ID", channel.id),
            ("Agent", channel.agent_id),
            ("Name", channel.name),
            ("Kind", str(channel.kind)),
            ("Private", yes_no(channel.is_private)),
            ("Retention", retention_text(channel.retention)),
            ("Schema", NONE if channel.json_schema is None else compact_json(channel.json_schema)),
            ("Last seq", str(channel.last_seq)),
            ("Aggregate", f"version {channel.aggregate_version}"),
            ("Updated", when(channel.aggregate_updated_at)),
            ("Created", when(channel.created_at)),
        ],
    )


# -- messages and publishing ------------------------------------------------------------


def messages_table(messages: Sequence[Message]) -> TableView:
    return TableView(
        columns=("SEQ", "TIME", "PAYLOAD"),
        rows=[(str(m.seq), when_ms(m.ts), compact_json(m.payload)) for m in messages],
        empty="No messages.",
    )


def published_text(ack: PublishAck, where: str) -> str:
    """One sentence about a publish: where it went and what the server did with it."""
    seq = "not logged" if ack.seq is None else f"seq {ack.seq}"
    if ack.duplicate:
        return f"Already published to {where} ({seq}); nothing stored twice."
    return f"Published to {where}: {seq}, aggregate version {ack.aggregate_version}."


def batch_text(count: int, duplicates: int, where: str) -> str:
    sentence = f"Published {count} message{'' if count == 1 else 's'} to {where}."
    if duplicates:
        sentence = sentence[:-1] + f" ({duplicates} already there)."
    return sentence


def aggregate_footer(version: int, updated_at: datetime | None) -> str:
    return f"version {version}, updated {when(updated_at)}"


# -- timeseries -------------------------------------------------------------------------


def series_name(series: TimeseriesSeries) -> str:
    """``temperature`` for raw series, ``temperature_avg`` for bucketed ones (CSV header)."""
    return series.field if series.aggregate is None else f"{series.field}_{series.aggregate}"


def csv_value(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def timeseries_csv(ts: Timeseries) -> tuple[list[str], list[list[str]]]:
    """The header ``time,<field>[_<agg>]…`` and one row per timestamp."""
    header = ["time", *(series_name(s) for s in ts.series)]
    rows = [
        [format_timestamp(at), *(csv_value(s.values[i]) for s in ts.series)]
        for i, at in enumerate(ts.timestamps)
    ]
    return header, rows


def timeseries_charts(ts: Timeseries, *, width: int, height: int = 10) -> list[ChartView]:
    """A chart per series, titled ``field (aggregate)``, with a one-line summary; none
    when the window holds no data."""
    if not ts.timestamps:
        return []
    charts = []
    for series in ts.series:
        title = series.field if series.aggregate is None else f"{series.field} ({series.aggregate})"
        present = [v for v in series.values if v is not None]
        summary = f"{len(present)} point{'' if len(present) == 1 else 's'}"
        if ts.interval:
            summary += f" every {ts.interval}"
        if present:
            summary += (
                f" · min {format_number(min(present))} · max {format_number(max(present))}"
                f" · last {format_number(present[-1])}"
            )
        lines = render_chart(ts.timestamps, series.values, width=width, height=height)
        charts.append(ChartView(title=title, summary=summary, lines=lines))
    return charts
