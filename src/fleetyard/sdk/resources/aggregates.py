"""Channels' merged state: ``client.channels.aggregate(...)``, its updates, and ``latest``.

Part of :class:`~fleetyard.sdk.resources.channels.Channels`; not used on its own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Unpack

from pydantic import JsonValue

from fleetyard.protocol.common import Page
from fleetyard.protocol.telemetry import Aggregate, ChannelLatest
from fleetyard.sdk._operation import Operation, str_list
from fleetyard.sdk._pagination import AsyncPager, SyncPager
from fleetyard.sdk._types import ReadOptions, WriteOptions
from fleetyard.sdk.resources._base import AsyncAPIResource, SyncAPIResource
from fleetyard.sdk.resources._telemetry import channel_path, checked_name

__all__ = ["AsyncChannelAggregates", "ChannelAggregates"]


def _write(
    method: str, channel_id: str, data: JsonValue, if_version: int | None
) -> Operation[Aggregate]:
    # Encoded here rather than with json=: a body of JSON `null` is a real value
    # (replace the aggregate with null), not "no body".
    content = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    headers = {"Content-Type": "application/json"}
    if if_version is not None:
        if isinstance(if_version, bool) or not isinstance(if_version, int):
            raise TypeError(f"if_version must be an int, got {if_version!r}")
        headers["If-Match"] = f'"{if_version}"'
    path = f"{channel_path(channel_id)}/aggregate"
    return Operation(method, path, Aggregate, content=content.encode(), headers=headers)


def _latest_page(
    name: str,
    cursor: str | None,
    site_id: str | None,
    agent_ids: Sequence[str] | None,
    limit: int | None,
) -> Operation[Page[ChannelLatest]]:
    params = {
        "name": checked_name(name),
        "site_id": site_id,
        "agent_id": None if agent_ids is None else str_list(agent_ids, "agent_ids"),
        "cursor": cursor,
        "limit": limit,
    }
    return Operation("GET", "/v1/channels/latest", Page[ChannelLatest], params=params)


class ChannelAggregates(SyncAPIResource):
    """Aggregates (a channel's merged state), as part of ``client.channels``.

    Example::

        state = client.channels.aggregate("ch_01…")
        client.channels.update_aggregate("ch_01…", {"mode": "eco"}, if_version=state.version)
    """

    def aggregate(self, channel_id: str, **options: Unpack[ReadOptions]) -> Aggregate:
        """A channel's aggregate: the merge of everything published, with its version.

        Example::

            state = client.channels.aggregate("ch_01…")
            print(state.data, state.version)
        """
        path = f"{channel_path(channel_id)}/aggregate"
        return self._send(Operation("GET", path, Aggregate), options)

    def update_aggregate(
        self,
        channel_id: str,
        patch: JsonValue,
        *,
        if_version: int | None = None,
        **options: Unpack[WriteOptions],
    ) -> Aggregate:
        """Merge ``patch`` into the aggregate (JSON Merge Patch: ``None`` deletes a key).

        With ``if_version`` the change applies only if the aggregate is still at
        that version; otherwise :class:`~fleetyard.PreconditionFailedError`
        (``version_stale``) is raised and ``exc.problem`` carries the
        ``current_version``. Nothing is logged.

        Example::

            state = client.channels.aggregate("ch_01…")
            try:
                client.channels.update_aggregate("ch_01…", {"target": 20, "old": None},
                                                 if_version=state.version)
            except fleetyard.PreconditionFailedError as exc:
                print("changed meanwhile; now", exc.problem.model_extra["current_version"])
        """
        return self._send(_write("PATCH", channel_id, patch, if_version), options)

    def replace_aggregate(
        self,
        channel_id: str,
        data: JsonValue,
        *,
        if_version: int | None = None,
        **options: Unpack[WriteOptions],
    ) -> Aggregate:
        """Replace the aggregate with ``data``, optionally only if still at ``if_version``.

        Example::

            client.channels.replace_aggregate("ch_01…", {"mode": "off"}, if_version=7)
        """
        return self._send(_write("PUT", channel_id, data, if_version), options)

    def latest(
        self,
        name: str,
        *,
        site_id: str | None = None,
        agent_ids: Sequence[str] | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> SyncPager[ChannelLatest]:
        """The channel ``name`` of every agent (of a site, or the agents given), in one go.

        Each item holds one agent's aggregate and newest message; ``limit`` per page.

        Example::

            for row in client.channels.latest("status", site_id="site_01…"):
                print(row.agent_id, row.aggregate.data)
        """
        return SyncPager(
            lambda cursor: self.latest_page(
                name, cursor, site_id=site_id, agent_ids=agent_ids, limit=limit, **options
            )
        )

    def latest_page(
        self,
        name: str,
        cursor: str | None = None,
        *,
        site_id: str | None = None,
        agent_ids: Sequence[str] | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[ChannelLatest]:
        """One page of :meth:`latest`; pass its ``next_cursor`` back for the next one.

        Example::

            page = client.channels.latest_page("status", agent_ids=["agt_01…", "agt_02…"])
        """
        return self._send(_latest_page(name, cursor, site_id, agent_ids, limit), options)


class AsyncChannelAggregates(AsyncAPIResource):
    """Aggregates (a channel's merged state), as part of ``client.channels``.

    Example::

        state = await client.channels.aggregate("ch_01…")
        await client.channels.update_aggregate("ch_01…", {"mode": "eco"}, if_version=state.version)
    """

    async def aggregate(self, channel_id: str, **options: Unpack[ReadOptions]) -> Aggregate:
        """A channel's aggregate: the merge of everything published, with its version.

        Example::

            state = await client.channels.aggregate("ch_01…")
        """
        path = f"{channel_path(channel_id)}/aggregate"
        return await self._send(Operation("GET", path, Aggregate), options)

    async def update_aggregate(
        self,
        channel_id: str,
        patch: JsonValue,
        *,
        if_version: int | None = None,
        **options: Unpack[WriteOptions],
    ) -> Aggregate:
        """Merge ``patch`` into the aggregate (JSON Merge Patch: ``None`` deletes a key).

        See :meth:`ChannelAggregates.update_aggregate` for ``if_version``.

        Example::

            await client.channels.update_aggregate("ch_01…", {"target": 20}, if_version=7)
        """
        return await self._send(_write("PATCH", channel_id, patch, if_version), options)

    async def replace_aggregate(
        self,
        channel_id: str,
        data: JsonValue,
        *,
        if_version: int | None = None,
        **options: Unpack[WriteOptions],
    ) -> Aggregate:
        """Replace the aggregate with ``data``, optionally only if still at ``if_version``.

        Example::

            await client.channels.replace_aggregate("ch_01…", {"mode": "off"})
        """
        return await self._send(_write("PUT", channel_id, data, if_version), options)

    def latest(
        self,
        name: str,
        *,
        site_id: str | None = None,
        agent_ids: Sequence[str] | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> AsyncPager[ChannelLatest]:
        """The channel ``name`` of every agent (of a site, or the agents given), in one go.

        Example::

            async for row in client.channels.latest("status", site_id="site_01…"):
                print(row.agent_id, row.aggregate.data)
        """
        return AsyncPager(
            lambda cursor: self.latest_page(
                name, cursor, site_id=site_id, agent_ids=agent_ids, limit=limit, **options
            )
        )

    async def latest_page(
        self,
        name: str,
        cursor: str | None = None,
        *,
        site_id: str | None = None,
        agent_ids: Sequence[str] | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[ChannelLatest]:
        """One page of :meth:`latest`; pass its ``next_cursor`` back for the next one.

        Example::

            page = await client.channels.latest_page("status", site_id="site_01…")
        """
        return await self._send(_latest_page(name, cursor, site_id, agent_ids, limit), options)
