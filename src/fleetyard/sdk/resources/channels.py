"""Channels, the named streams of an agent: ``client.channels``.

The resource is one object for users but four modules here, by concept:
this one (create, find, change, delete), :mod:`.publishing`, :mod:`.messages`
(the log and timeseries) and :mod:`.aggregates` (merged state, ``latest``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Unpack

from pydantic import JsonValue

from fleetyard.protocol.common import Deleted, Page
from fleetyard.protocol.telemetry import Channel, ChannelKind, Retention
from fleetyard.sdk._operation import Operation
from fleetyard.sdk._pagination import AsyncPager, SyncPager
from fleetyard.sdk._types import NOT_GIVEN, NotGiven, ReadOptions, WriteOptions
from fleetyard.sdk.resources._base import async_raw_method, raw_method
from fleetyard.sdk.resources._telemetry import (
    agent_path,
    channel_path,
    checked_name,
    named_channel_path,
)
from fleetyard.sdk.resources.aggregates import AsyncChannelAggregates, ChannelAggregates
from fleetyard.sdk.resources.messages import AsyncChannelMessages, ChannelMessages
from fleetyard.sdk.resources.publishing import AsyncChannelPublishing, ChannelPublishing

__all__ = ["AsyncChannels", "AsyncChannelsWithRawResponse", "Channels", "ChannelsWithRawResponse"]

RetentionLike = Retention | Mapping[str, int | None]
"""A :class:`~fleetyard.protocol.telemetry.Retention` or a dict of its fields."""


def _retention(value: RetentionLike | None) -> dict[str, Any] | None:
    if value is None:
        return None
    checked = value if isinstance(value, Retention) else Retention.model_validate(value)
    return checked.model_dump(mode="json")


def _create(
    agent_id: str,
    name: str,
    kind: ChannelKind | str | None,
    is_private: bool,
    retention: RetentionLike | None,
    json_schema: Mapping[str, JsonValue] | None,
) -> Operation[Channel]:
    body: dict[str, Any] = {"name": checked_name(name, kind)}
    if kind is not None:
        body["kind"] = ChannelKind(kind).value
    if is_private:
        body["is_private"] = True
    if retention is not None:
        body["retention"] = _retention(retention)
    if json_schema is not None:
        body["json_schema"] = dict(json_schema)
    return Operation("POST", f"{agent_path(agent_id)}/channels", Channel, json=body)


def _list_page(
    agent_id: str, cursor: str | None, kind: ChannelKind | str | None, limit: int | None
) -> Operation[Page[Channel]]:
    params = {
        "cursor": cursor,
        "limit": limit,
        "kind": None if kind is None else ChannelKind(kind).value,
    }
    return Operation("GET", f"{agent_path(agent_id)}/channels", Page[Channel], params=params)


def _update(
    channel_id: str,
    is_private: bool | NotGiven,
    retention: RetentionLike | NotGiven | None,
    json_schema: Mapping[str, JsonValue] | NotGiven | None,
) -> Operation[Channel]:
    # Only what was given; None clears retention or the schema.
    body: dict[str, Any] = {}
    if not isinstance(is_private, NotGiven):
        body["is_private"] = is_private
    if not isinstance(retention, NotGiven):
        body["retention"] = _retention(retention)
    if not isinstance(json_schema, NotGiven):
        body["json_schema"] = None if json_schema is None else dict(json_schema)
    return Operation("PATCH", channel_path(channel_id), Channel, json=body)


class Channels(ChannelPublishing, ChannelMessages, ChannelAggregates):
    """The channels of agents: create, publish, read the log, the aggregate, timeseries.

    A channel is named per agent. A leading ``#`` makes a processor and
    ``!`` a task; the prefix is part of the name.

    Example::

        ch = client.channels.create("agt_01…", "status")
        client.channels.publish(ch.id, {"temperature": 21.5})
        client.channels.create("agt_01…", "#my-processor")  # a processor
        print(client.channels.aggregate(ch.id).data)
    """

    def create(
        self,
        agent_id: str,
        name: str,
        *,
        kind: ChannelKind | str | None = None,
        is_private: bool = False,
        retention: RetentionLike | None = None,
        json_schema: Mapping[str, JsonValue] | None = None,
        **options: Unpack[WriteOptions],
    ) -> Channel:
        """Create the channel ``name`` of an agent, or get it when it already exists.

        ``"#name"`` makes a processor and ``"!name"`` a task (or pass ``kind``).
        ``retention`` limits the log (``{"max_age_seconds": 604800}``,
        ``{"max_messages": 1000}``); ``json_schema`` is checked on every publish.

        Example::

            ch = client.channels.create("agt_01…", "status", retention={"max_messages": 10_000})
            proc = client.channels.create("agt_01…", "#my-processor")
        """
        op = _create(agent_id, name, kind, is_private, retention, json_schema)
        return self._send(op, options)

    def get(self, channel_id: str, **options: Unpack[ReadOptions]) -> Channel:
        """One channel by id.

        Example::

            ch = client.channels.get("ch_01…")
        """
        return self._send(Operation("GET", channel_path(channel_id), Channel), options)

    def get_by_name(self, agent_id: str, name: str, **options: Unpack[ReadOptions]) -> Channel:
        """One channel by its agent and name (``"#proc"`` and ``"!task"`` included).

        Example::

            ch = client.channels.get_by_name("agt_01…", "#my-processor")
        """
        op = Operation("GET", named_channel_path(agent_id, name), Channel)
        return self._send(op, options)

    def list(
        self,
        agent_id: str,
        *,
        kind: ChannelKind | str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> SyncPager[Channel]:
        """Every channel of an agent (or only one ``kind``), fetched ``limit`` per page.

        Example::

            names = [ch.name for ch in client.channels.list("agt_01…")]
        """
        return SyncPager(
            lambda cursor: self.list_page(agent_id, cursor, kind=kind, limit=limit, **options)
        )

    def list_page(
        self,
        agent_id: str,
        cursor: str | None = None,
        *,
        kind: ChannelKind | str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Channel]:
        """One page of an agent's channels; pass its ``next_cursor`` back for the next.

        Example::

            page = client.channels.list_page("agt_01…", kind="processor")
        """
        return self._send(_list_page(agent_id, cursor, kind, limit), options)

    def update(
        self,
        channel_id: str,
        *,
        is_private: bool | NotGiven = NOT_GIVEN,
        retention: RetentionLike | NotGiven | None = NOT_GIVEN,
        json_schema: Mapping[str, JsonValue] | NotGiven | None = NOT_GIVEN,
        **options: Unpack[WriteOptions],
    ) -> Channel:
        """Change a channel; what is not given stays, ``None`` clears retention or schema.

        Example::

            client.channels.update("ch_01…", retention={"max_age_seconds": 30 * 86400})
            client.channels.update("ch_01…", json_schema=None)
        """
        return self._send(_update(channel_id, is_private, retention, json_schema), options)

    def delete(self, channel_id: str, **options: Unpack[WriteOptions]) -> Deleted:
        """Delete a channel with its log and aggregate.

        Example::

            client.channels.delete("ch_01…")
        """
        return self._send(Operation("DELETE", channel_path(channel_id), Deleted), options)


class AsyncChannels(AsyncChannelPublishing, AsyncChannelMessages, AsyncChannelAggregates):
    """The channels of agents: create, publish, read the log, the aggregate, timeseries.

    Example::

        ch = await client.channels.create("agt_01…", "status")
        await client.channels.publish(ch.id, {"temperature": 21.5})
        await client.channels.create("agt_01…", "#my-processor")  # a processor
    """

    async def create(
        self,
        agent_id: str,
        name: str,
        *,
        kind: ChannelKind | str | None = None,
        is_private: bool = False,
        retention: RetentionLike | None = None,
        json_schema: Mapping[str, JsonValue] | None = None,
        **options: Unpack[WriteOptions],
    ) -> Channel:
        """Create the channel ``name`` of an agent, or get it when it already exists.

        ``"#name"`` makes a processor and ``"!name"`` a task (or pass ``kind``).

        Example::

            proc = await client.channels.create("agt_01…", "#my-processor")
        """
        op = _create(agent_id, name, kind, is_private, retention, json_schema)
        return await self._send(op, options)

    async def get(self, channel_id: str, **options: Unpack[ReadOptions]) -> Channel:
        """One channel by id.

        Example::

            ch = await client.channels.get("ch_01…")
        """
        return await self._send(Operation("GET", channel_path(channel_id), Channel), options)

    async def get_by_name(
        self, agent_id: str, name: str, **options: Unpack[ReadOptions]
    ) -> Channel:
        """One channel by its agent and name (``"#proc"`` and ``"!task"`` included).

        Example::

            ch = await client.channels.get_by_name("agt_01…", "#my-processor")
        """
        op = Operation("GET", named_channel_path(agent_id, name), Channel)
        return await self._send(op, options)

    def list(
        self,
        agent_id: str,
        *,
        kind: ChannelKind | str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> AsyncPager[Channel]:
        """Every channel of an agent (or only one ``kind``), fetched ``limit`` per page.

        Example::

            names = [ch.name async for ch in client.channels.list("agt_01…")]
        """
        return AsyncPager(
            lambda cursor: self.list_page(agent_id, cursor, kind=kind, limit=limit, **options)
        )

    async def list_page(
        self,
        agent_id: str,
        cursor: str | None = None,
        *,
        kind: ChannelKind | str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Channel]:
        """One page of an agent's channels; pass its ``next_cursor`` back for the next.

        Example::

            page = await client.channels.list_page("agt_01…", kind="processor")
        """
        return await self._send(_list_page(agent_id, cursor, kind, limit), options)

    async def update(
        self,
        channel_id: str,
        *,
        is_private: bool | NotGiven = NOT_GIVEN,
        retention: RetentionLike | NotGiven | None = NOT_GIVEN,
        json_schema: Mapping[str, JsonValue] | NotGiven | None = NOT_GIVEN,
        **options: Unpack[WriteOptions],
    ) -> Channel:
        """Change a channel; what is not given stays, ``None`` clears retention or schema.

        Example::

            await client.channels.update("ch_01…", is_private=True)
        """
        op = _update(channel_id, is_private, retention, json_schema)
        return await self._send(op, options)

    async def delete(self, channel_id: str, **options: Unpack[WriteOptions]) -> Deleted:
        """Delete a channel with its log and aggregate.

        Example::

            await client.channels.delete("ch_01…")
        """
        return await self._send(Operation("DELETE", channel_path(channel_id), Deleted), options)


class ChannelsWithRawResponse:
    """``client.with_raw_response.channels``: the same calls, answering :class:`RawResponse`.

    Pagers have no raw form; use the ``*_page`` methods.

    Example::

        raw = client.with_raw_response.channels.create("agt_01…", "status")
        print(raw.status_code)  # 201 when created, 200 when it existed
    """

    def __init__(self, channels: Channels) -> None:
        self.create = raw_method(channels.create)
        self.get = raw_method(channels.get)
        self.get_by_name = raw_method(channels.get_by_name)
        self.list_page = raw_method(channels.list_page)
        self.update = raw_method(channels.update)
        self.delete = raw_method(channels.delete)
        self.publish = raw_method(channels.publish)
        self.publish_batch = raw_method(channels.publish_batch)
        self.messages_page = raw_method(channels.messages_page)
        self.message = raw_method(channels.message)
        self.update_message = raw_method(channels.update_message)
        self.delete_message = raw_method(channels.delete_message)
        self.timeseries = raw_method(channels.timeseries)
        self.aggregate = raw_method(channels.aggregate)
        self.update_aggregate = raw_method(channels.update_aggregate)
        self.replace_aggregate = raw_method(channels.replace_aggregate)
        self.latest_page = raw_method(channels.latest_page)


class AsyncChannelsWithRawResponse:
    """``client.with_raw_response.channels`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.channels.aggregate("ch_01…")
        print(raw.headers["ETag"])
    """

    def __init__(self, channels: AsyncChannels) -> None:
        self.create = async_raw_method(channels.create)
        self.get = async_raw_method(channels.get)
        self.get_by_name = async_raw_method(channels.get_by_name)
        self.list_page = async_raw_method(channels.list_page)
        self.update = async_raw_method(channels.update)
        self.delete = async_raw_method(channels.delete)
        self.publish = async_raw_method(channels.publish)
        self.publish_batch = async_raw_method(channels.publish_batch)
        self.messages_page = async_raw_method(channels.messages_page)
        self.message = async_raw_method(channels.message)
        self.update_message = async_raw_method(channels.update_message)
        self.delete_message = async_raw_method(channels.delete_message)
        self.timeseries = async_raw_method(channels.timeseries)
        self.aggregate = async_raw_method(channels.aggregate)
        self.update_aggregate = async_raw_method(channels.update_aggregate)
        self.replace_aggregate = async_raw_method(channels.replace_aggregate)
        self.latest_page = async_raw_method(channels.latest_page)
