"""A channel's message log and timeseries: ``client.channels.messages(...)`` and friends.

Part of :class:`~fleetyard.sdk.resources.channels.Channels`; not used on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal, Unpack

from pydantic import JsonValue

from fleetyard.protocol.common import Deleted, Page
from fleetyard.protocol.telemetry import (
    Message,
    Timeseries,
    TimeseriesAggregate,
    format_interval,
    parse_field_path,
    parse_interval,
)
from fleetyard.sdk._operation import Operation
from fleetyard.sdk._pagination import AsyncPager, SyncPager
from fleetyard.sdk._types import ReadOptions, WriteOptions
from fleetyard.sdk.resources._base import AsyncAPIResource, SyncAPIResource
from fleetyard.sdk.resources._telemetry import (
    Instant,
    absolute,
    channel_path,
    one_or_many,
    seq_param,
    wire_time,
)

__all__ = ["AsyncChannelMessages", "ChannelMessages"]

Order = Literal["desc", "asc"]
"""``desc``: newest first (the default); ``asc``: oldest first."""


def _messages_page(
    channel_id: str,
    cursor: str | None,
    start: datetime | None,
    end: datetime | None,
    order: Order,
    limit: int | None,
) -> Operation[Page[Message]]:
    if order not in ("desc", "asc"):
        raise ValueError(f"order must be 'desc' or 'asc', got {order!r}")
    params = {
        "cursor": cursor,
        "limit": limit,
        "start": wire_time(start),
        "end": wire_time(end),
        # The server's default; sent only when it differs.
        "order": None if order == "desc" else order,
    }
    return Operation("GET", f"{channel_path(channel_id)}/messages", Page[Message], params=params)


def _message_path(channel_id: str, seq: int) -> str:
    return f"{channel_path(channel_id)}/messages/{seq_param(seq)}"


def _interval(value: str | timedelta | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        ms = value // timedelta(milliseconds=1)
        if ms <= 0 or timedelta(milliseconds=ms) != value:
            raise ValueError(f"interval must be a positive whole number of ms, got {value!r}")
        return format_interval(ms)
    parse_interval(value)
    return value


def _timeseries(
    channel_id: str,
    fields: str | Sequence[str],
    start: datetime | None,
    end: datetime | None,
    interval: str | timedelta | None,
    aggregates: str | Sequence[str] | None,
    limit: int | None,
) -> Operation[Timeseries]:
    field_list = one_or_many(fields, "fields")
    if not field_list:
        raise ValueError("give at least one field")
    for path in field_list:
        parse_field_path(path)
    aggs = None
    if aggregates is not None:
        aggs = [TimeseriesAggregate(a).value for a in one_or_many(aggregates, "aggregates")]
    params = {
        "field": field_list,
        "start": wire_time(start),
        "end": wire_time(end),
        "interval": _interval(interval),
        "agg": aggs,
        "limit": limit,
    }
    return Operation("GET", f"{channel_path(channel_id)}/timeseries", Timeseries, params=params)


class ChannelMessages(SyncAPIResource):
    """Reading a channel's log and timeseries, as part of ``client.channels``.

    Example::

        for message in client.channels.messages("ch_01…", start=timedelta(hours=1)):
            print(message.seq, message.payload)
    """

    def messages(
        self,
        channel_id: str,
        *,
        start: Instant | None = None,
        end: Instant | None = None,
        order: Order = "desc",
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> SyncPager[Message]:
        """Every logged message in ``start <= ts < end`` (either open), ``limit`` per page.

        Newest first unless ``order="asc"``. ``start``/``end`` are datetimes or
        timedeltas meaning "that long ago" (fixed once, when this is called).
        Iterating fetches page after page: stop when you have enough.

        Example::

            from itertools import islice
            last_20 = list(islice(client.channels.messages("ch_01…"), 20))
            today = list(client.channels.messages("ch_01…", start=timedelta(days=1)))
        """
        now = self._client._now()
        since, until = absolute(start, now), absolute(end, now)
        return SyncPager(
            lambda cursor: self.messages_page(
                channel_id, cursor, start=since, end=until, order=order, limit=limit, **options
            )
        )

    def messages_page(
        self,
        channel_id: str,
        cursor: str | None = None,
        *,
        start: Instant | None = None,
        end: Instant | None = None,
        order: Order = "desc",
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Message]:
        """One page of messages; pass its ``next_cursor`` back (with the same window).

        Example::

            page = client.channels.messages_page("ch_01…", limit=100)
        """
        now = self._client._now()
        op = _messages_page(
            channel_id, cursor, absolute(start, now), absolute(end, now), order, limit
        )
        return self._send(op, options)

    def message(self, channel_id: str, seq: int, **options: Unpack[ReadOptions]) -> Message:
        """One logged message by its seq.

        Example::

            message = client.channels.message("ch_01…", 42)
        """
        return self._send(Operation("GET", _message_path(channel_id, seq), Message), options)

    def update_message(
        self, channel_id: str, seq: int, payload: JsonValue, **options: Unpack[WriteOptions]
    ) -> Message:
        """Replace the payload of a logged message (the aggregate is not recomputed).

        Example::

            client.channels.update_message("ch_01…", 42, {"temperature": 21.4})
        """
        op = Operation("PATCH", _message_path(channel_id, seq), Message, json={"payload": payload})
        return self._send(op, options)

    def delete_message(self, channel_id: str, seq: int, **options: Unpack[WriteOptions]) -> Deleted:
        """Delete a logged message.

        Example::

            client.channels.delete_message("ch_01…", 42)
        """
        return self._send(Operation("DELETE", _message_path(channel_id, seq), Deleted), options)

    def timeseries(
        self,
        channel_id: str,
        fields: str | Sequence[str],
        *,
        start: Instant | None = None,
        end: Instant | None = None,
        interval: str | timedelta | None = None,
        aggregates: str | Sequence[str] | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Timeseries:
        """Numbers at JSON field paths (``battery.level``) over ``start <= ts < end``.

        Raw (a point per message) without ``interval``; with it (``"5m"``, or
        a ``timedelta``) one point per bucket, combined by each of
        ``aggregates`` (``avg`` by default; also ``min max sum count first
        last``). ``start``/``end`` take timedeltas meaning "that long ago".

        Example::

            ts = client.channels.timeseries("ch_01…", ["temperature"], interval="5m",
                                            aggregates=["avg", "max"], start=timedelta(days=1))
            for series in ts.series:
                print(series.field, series.aggregate, series.values[-1])
        """
        now = self._client._now()
        op = _timeseries(
            channel_id,
            fields,
            absolute(start, now),
            absolute(end, now),
            interval,
            aggregates,
            limit,
        )
        return self._send(op, options)


class AsyncChannelMessages(AsyncAPIResource):
    """Reading a channel's log and timeseries, as part of ``client.channels``.

    Example::

        async for message in client.channels.messages("ch_01…", start=timedelta(hours=1)):
            print(message.seq, message.payload)
    """

    def messages(
        self,
        channel_id: str,
        *,
        start: Instant | None = None,
        end: Instant | None = None,
        order: Order = "desc",
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> AsyncPager[Message]:
        """Every logged message in ``start <= ts < end`` (either open), ``limit`` per page.

        Newest first unless ``order="asc"``; timedeltas mean "that long ago".

        Example::

            today = [m async for m in client.channels.messages("ch_01…", start=timedelta(days=1))]
        """
        now = self._client._now()
        since, until = absolute(start, now), absolute(end, now)
        return AsyncPager(
            lambda cursor: self.messages_page(
                channel_id, cursor, start=since, end=until, order=order, limit=limit, **options
            )
        )

    async def messages_page(
        self,
        channel_id: str,
        cursor: str | None = None,
        *,
        start: Instant | None = None,
        end: Instant | None = None,
        order: Order = "desc",
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Message]:
        """One page of messages; pass its ``next_cursor`` back (with the same window).

        Example::

            page = await client.channels.messages_page("ch_01…", limit=100)
        """
        now = self._client._now()
        op = _messages_page(
            channel_id, cursor, absolute(start, now), absolute(end, now), order, limit
        )
        return await self._send(op, options)

    async def message(self, channel_id: str, seq: int, **options: Unpack[ReadOptions]) -> Message:
        """One logged message by its seq.

        Example::

            message = await client.channels.message("ch_01…", 42)
        """
        return await self._send(Operation("GET", _message_path(channel_id, seq), Message), options)

    async def update_message(
        self, channel_id: str, seq: int, payload: JsonValue, **options: Unpack[WriteOptions]
    ) -> Message:
        """Replace the payload of a logged message (the aggregate is not recomputed).

        Example::

            await client.channels.update_message("ch_01…", 42, {"temperature": 21.4})
        """
        op = Operation("PATCH", _message_path(channel_id, seq), Message, json={"payload": payload})
        return await self._send(op, options)

    async def delete_message(
        self, channel_id: str, seq: int, **options: Unpack[WriteOptions]
    ) -> Deleted:
        """Delete a logged message.

        Example::

            await client.channels.delete_message("ch_01…", 42)
        """
        op = Operation("DELETE", _message_path(channel_id, seq), Deleted)
        return await self._send(op, options)

    async def timeseries(
        self,
        channel_id: str,
        fields: str | Sequence[str],
        *,
        start: Instant | None = None,
        end: Instant | None = None,
        interval: str | timedelta | None = None,
        aggregates: str | Sequence[str] | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Timeseries:
        """Numbers at JSON field paths over a window, raw or bucketed by ``interval``.

        See :meth:`ChannelMessages.timeseries`.

        Example::

            ts = await client.channels.timeseries("ch_01…", "temperature", interval="1h")
        """
        now = self._client._now()
        op = _timeseries(
            channel_id,
            fields,
            absolute(start, now),
            absolute(end, now),
            interval,
            aggregates,
            limit,
        )
        return await self._send(op, options)
