"""Pieces the telemetry resources share: channel paths and targets, instants, sequences.

Pure functions, no I/O: the operation builders of ``agents``, ``channels``
and their parts call them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from fleetyard.protocol.common import format_timestamp
from fleetyard.protocol.telemetry import ChannelKind, parse_channel_name
from fleetyard.sdk._operation import path_param, str_list

__all__ = [
    "ChannelRef",
    "Instant",
    "absolute",
    "agent_path",
    "channel_path",
    "checked_name",
    "named_channel_path",
    "one_or_many",
    "seq_param",
    "target_path",
    "wire_time",
]

ChannelRef = str | tuple[str, str]
"""A channel as a publish target: its id (``"ch_…"``) or an ``(agent_id, name)`` pair."""

Instant = datetime | timedelta
"""A point in time: an aware ``datetime`` (naive means UTC), or a ``timedelta`` meaning
"that long before now" (``timedelta(hours=1)`` is an hour ago)."""


def absolute(value: Instant | None, now: datetime) -> datetime | None:
    """The instant meant: a ``timedelta`` counts back from ``now``.

    >>> from datetime import UTC
    >>> absolute(timedelta(hours=1), datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    datetime.datetime(2026, 11, 24, 11, 0, tzinfo=datetime.timezone.utc)
    """
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, timedelta):
        return now - value
    raise TypeError(f"expected a datetime or a timedelta, got {type(value).__name__}")


def wire_time(value: datetime | None) -> str | None:
    """RFC 3339 UTC with milliseconds for the wire (a naive ``datetime`` is UTC).

    >>> wire_time(datetime(2026, 1, 2))
    '2026-01-02T00:00:00.000Z'
    """
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    return format_timestamp(value)


def checked_name(name: str, kind: ChannelKind | str | None = None) -> str:
    """The channel name as given, once it passes the naming rule (else ``ChannelNameError``).

    >>> checked_name("#alarms")
    '#alarms'
    """
    parse_channel_name(name, None if kind is None else ChannelKind(kind))
    return name


def agent_path(agent_id: str) -> str:
    """``/v1/agents/{agent_id}``, the id quoted."""
    return f"/v1/agents/{path_param(agent_id, 'agent_id')}"


def channel_path(channel_id: str) -> str:
    """``/v1/channels/{channel_id}``, the id quoted."""
    return f"/v1/channels/{path_param(channel_id, 'channel_id')}"


def named_channel_path(agent_id: str, name: str) -> str:
    """``/v1/agents/{agent_id}/channels/{name}``: the name percent-encoded (``#`` is ``%23``).

    >>> named_channel_path("agt_1", "#proc")
    '/v1/agents/agt_1/channels/%23proc'
    """
    return f"{agent_path(agent_id)}/channels/{path_param(checked_name(name), 'name')}"


def target_path(channel: ChannelRef) -> str:
    """The path of a publish target: by id, or by ``(agent_id, name)``."""
    if isinstance(channel, str):
        return channel_path(channel)
    if isinstance(channel, tuple) and len(channel) == 2:
        agent_id, name = channel
        return named_channel_path(agent_id, name)
    raise TypeError(f"a channel is an id or an (agent_id, name) pair, got {channel!r}")


def seq_param(seq: int) -> str:
    """A message's seq as a path segment; seqs are positive integers."""
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise ValueError(f"seq must be a positive integer, got {seq!r}")
    return str(seq)


def one_or_many(values: str | Sequence[str], name: str) -> list[str]:
    """A list of strings from one string or a sequence of them.

    >>> one_or_many("temperature", "fields"), one_or_many(["a", "b"], "fields")
    (['temperature'], ['a', 'b'])
    """
    if isinstance(values, str):
        return [values]
    return str_list(values, name)
