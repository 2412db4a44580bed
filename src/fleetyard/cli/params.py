"""Parsers for command-line values: durations, instants, labels, JSON, channel names.

Each raises :class:`typer.BadParameter`, so a bad value is a usage error
(exit 2) that names the option, before anything is sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from fleetyard.protocol.telemetry import ChannelNameError, parse_channel_name, parse_interval


def duration(value: str) -> timedelta:
    """``30s``, ``5m``, ``1h``, ``7d``, ``2w`` (also ``500ms``)."""
    try:
        return timedelta(milliseconds=parse_interval(value))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a duration like 30s, 5m, 1h or 7d") from None


def instant(value: str) -> datetime:
    """An ISO 8601 instant; without a time zone it is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 date or time (e.g. 2027-01-31T12:00:00Z)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


@dataclass(frozen=True)
class When:
    """A point in time from the command line, as the SDK takes it: an instant, or a
    ``timedelta`` meaning that long before now. (A class of its own because typer
    cannot declare an option of a union type.)"""

    value: datetime | timedelta


def when(value: str) -> When:
    """A duration means that long ago (``1h``); anything else must be ISO 8601."""
    try:
        return When(timedelta(milliseconds=parse_interval(value)))
    except ValueError:
        pass
    try:
        return When(instant(value))
    except typer.BadParameter:
        raise typer.BadParameter(
            f"{value!r} is neither a duration like 1h (that long ago)"
            " nor an ISO 8601 time like 2026-11-02T09:30:00Z"
        ) from None


def when_value(value: When | None) -> datetime | timedelta | None:
    return None if value is None else value.value


def whole_seconds(value: str) -> int:
    """A duration (``7d``) in whole seconds, for retention."""
    ms = duration(value) // timedelta(milliseconds=1)
    if ms % 1000:
        raise typer.BadParameter(f"{value!r}: give whole seconds or more (e.g. 90s, 7d)")
    return ms // 1000


def label(value: str) -> str:
    """A ``key=value`` label, checked (see :func:`labels`)."""
    key, sep, _ = value.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"{value!r} is not a label: write KEY=VALUE, e.g. line=3")
    return value


def labels(values: list[str] | None) -> dict[str, str] | None:
    """``["line=3", "zone=a"]`` → ``{"line": "3", "zone": "a"}``; ``None`` when none given."""
    if not values:
        return None
    return {key: wanted for key, _, wanted in (value.partition("=") for value in values)}


def json_object(value: str) -> dict[str, Any]:
    """A JSON object given inline (``'{"fw": "1.2"}'``)."""
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise typer.BadParameter('give a JSON object, e.g. \'{"fw": "1.2"}\'')
    return parsed


def json_schema_file(value: str) -> dict[str, Any]:
    """A JSON Schema read from a file."""
    try:
        content = Path(value).read_text(encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {value!r}: {exc.strerror or exc}") from None
    try:
        parsed = json.loads(content)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise typer.BadParameter(f"{value!r} must hold a JSON object (a JSON Schema)")
    return parsed


def channel_name(value: str) -> str:
    """A channel name as written (``status``, ``#processor``, ``!task``), checked early."""
    try:
        parse_channel_name(value)
    except ChannelNameError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


# The AGENT CHANNEL pair that the telemetry commands share.
AgentArg = Annotated[
    str, typer.Argument(help="Agent id (agt_…).", metavar="AGENT", show_default=False)
]
ChannelArg = Annotated[
    str,
    typer.Argument(
        help="Channel name on that agent (quote # and ! in a shell: '#proc').",
        metavar="CHANNEL",
        parser=channel_name,
        show_default=False,
    ),
]
