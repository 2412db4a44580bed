"""What goes into the ingest writer and what comes out of it.

Kept apart from :mod:`.ingest` so that the API layer and stream fan-out can
use these shapes without the writer's machinery.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple


@dataclass(slots=True)
class IngestItem:
    """One validated message for one channel (``channel_pk`` from an org-checked lookup)."""

    org_id: str
    channel_pk: int
    channel_id: str
    payload: Any
    ts: int
    client_message_id: str | None = None
    save_log: bool = True
    log_aggregate: bool = False
    override_aggregate: bool = False


class IngestResult(NamedTuple):
    """What one item became: its seq (None when not logged), and the aggregate after it.

    A named tuple rather than a dataclass: one is made per message on the hot path.
    """

    channel_id: str
    seq: int | None
    ts: int
    duplicate: bool
    aggregate_version: int
    aggregate: Any


@dataclass(frozen=True, slots=True)
class CommittedMessage:
    org_id: str
    channel_id: str
    seq: int
    ts: int
    received_at: int
    payload: Any
    client_message_id: str | None


@dataclass(frozen=True, slots=True)
class CommittedAggregate:
    org_id: str
    channel_id: str
    data: Any
    version: int
    updated_at: int


class CommittedBatch:
    """What one transaction made durable: new messages, and each changed aggregate once.

    Messages are materialised on first access only: with no listener (or
    one that filters by channel first) the hot path builds no objects for them.
    """

    __slots__ = ("_channel_ids", "_messages", "_rows", "aggregates")

    def __init__(
        self,
        rows: list[tuple[Any, ...]],
        channel_ids: dict[int, str],
        aggregates: list[CommittedAggregate],
    ) -> None:
        self._rows = rows
        self._channel_ids = channel_ids
        self._messages: list[CommittedMessage] | None = None
        self.aggregates = aggregates

    @property
    def channel_ids(self) -> set[str]:
        """Ids of the channels that got new messages."""
        return {self._channel_ids[row[0]] for row in self._rows}

    @property
    def messages(self) -> list[CommittedMessage]:
        if self._messages is None:
            ids = self._channel_ids
            self._messages = [
                CommittedMessage(org_id, ids[pk], seq, ts, received_at, payload, cmid)
                for pk, seq, org_id, ts, received_at, payload, cmid in self._rows
            ]
        return self._messages

    def __bool__(self) -> bool:
        return bool(self._rows or self.aggregates)


Listener = Callable[[CommittedBatch], Awaitable[None] | None]
