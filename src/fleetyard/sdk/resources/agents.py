"""Agents, the machines and devices that publish telemetry: ``client.agents``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Unpack

from pydantic import JsonValue

from fleetyard.protocol.common import Deleted, Page, format_timestamp
from fleetyard.protocol.identity import ApiKeyCreated
from fleetyard.protocol.telemetry import Agent, AgentKind
from fleetyard.sdk._operation import Operation
from fleetyard.sdk._pagination import AsyncPager, SyncPager
from fleetyard.sdk._types import NOT_GIVEN, NotGiven, ReadOptions, WriteOptions
from fleetyard.sdk.resources._base import async_raw_method, raw_method
from fleetyard.sdk.resources._telemetry import agent_path
from fleetyard.sdk.resources.agent_commands import AgentCommands, AsyncAgentCommands

__all__ = ["Agents", "AgentsWithRawResponse", "AsyncAgents", "AsyncAgentsWithRawResponse"]


def _label_filters(labels: Mapping[str, str] | None) -> list[str] | None:
    if labels is None:
        return None
    if not isinstance(labels, Mapping):
        raise TypeError("labels must be a mapping of label keys to values")
    return [f"{key}={value}" for key, value in labels.items()]


def _list_page(
    cursor: str | None,
    limit: int | None,
    site_id: str | None,
    kind: AgentKind | str | None,
    labels: Mapping[str, str] | None,
    online: bool | None,
) -> Operation[Page[Agent]]:
    params = {
        "cursor": cursor,
        "limit": limit,
        "site_id": site_id,
        "kind": None if kind is None else str(kind),
        "label": _label_filters(labels),
        "online": online,
    }
    return Operation("GET", "/v1/agents", Page[Agent], params=params)


def _create(
    site_id: str,
    name: str,
    kind: AgentKind | str,
    labels: Mapping[str, str] | None,
    metadata: Mapping[str, JsonValue] | None,
) -> Operation[Agent]:
    body: dict[str, Any] = {"site_id": site_id, "name": name, "kind": str(kind)}
    if labels is not None:
        body["labels"] = dict(labels)
    if metadata is not None:
        body["metadata"] = dict(metadata)
    return Operation("POST", "/v1/agents", Agent, json=body)


def _update(
    agent_id: str,
    name: str | NotGiven,
    site_id: str | NotGiven,
    kind: AgentKind | str | NotGiven,
    labels: Mapping[str, str] | NotGiven,
    metadata: Mapping[str, JsonValue] | NotGiven,
) -> Operation[Agent]:
    # Only what was given; labels and metadata are replaced whole.
    body: dict[str, Any] = {}
    if not isinstance(name, NotGiven):
        body["name"] = name
    if not isinstance(site_id, NotGiven):
        body["site_id"] = site_id
    if not isinstance(kind, NotGiven):
        body["kind"] = str(kind)
    if not isinstance(labels, NotGiven):
        body["labels"] = dict(labels)
    if not isinstance(metadata, NotGiven):
        body["metadata"] = dict(metadata)
    return Operation("PATCH", agent_path(agent_id), Agent, json=body)


def _token(
    agent_id: str, name: str | None, expires_at: datetime | None
) -> Operation[ApiKeyCreated]:
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if expires_at is not None:
        body["expires_at"] = format_timestamp(expires_at)
    return Operation("POST", f"{agent_path(agent_id)}/token", ApiKeyCreated, json=body)


class Agents(AgentCommands):
    """The organisation's agents: machines, devices, gateways and services.

    Example::

        pump = client.agents.create(site.id, "pump-7", labels={"line": "3"})
        for agent in client.agents.list(site_id=site.id, online=True):
            print(agent.name, agent.last_seen)
    """

    def list(
        self,
        *,
        site_id: str | None = None,
        kind: AgentKind | str | None = None,
        labels: Mapping[str, str] | None = None,
        online: bool | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> SyncPager[Agent]:
        """Every agent matching all the filters given, fetched ``limit`` per page.

        ``labels`` keeps agents that carry every one of those labels.

        Example::

            line3 = list(client.agents.list(labels={"line": "3"}, online=True))
        """
        return SyncPager(
            lambda cursor: self.list_page(
                cursor,
                site_id=site_id,
                kind=kind,
                labels=labels,
                online=online,
                limit=limit,
                **options,
            )
        )

    def list_page(
        self,
        cursor: str | None = None,
        *,
        site_id: str | None = None,
        kind: AgentKind | str | None = None,
        labels: Mapping[str, str] | None = None,
        online: bool | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Agent]:
        """One page of agents; pass its ``next_cursor`` back for the next one.

        Example::

            page = client.agents.list_page(site_id="site_01…", limit=50)
        """
        return self._send(_list_page(cursor, limit, site_id, kind, labels, online), options)

    def create(
        self,
        site_id: str,
        name: str,
        *,
        kind: AgentKind | str = AgentKind.DEVICE,
        labels: Mapping[str, str] | None = None,
        metadata: Mapping[str, JsonValue] | None = None,
        **options: Unpack[WriteOptions],
    ) -> Agent:
        """Create an agent in a site; ``name`` is unique in the organisation.

        Example::

            agent = client.agents.create("site_01…", "pump-7", kind="machine")
        """
        return self._send(_create(site_id, name, kind, labels, metadata), options)

    def get(self, agent_id: str, **options: Unpack[ReadOptions]) -> Agent:
        """One agent by id.

        Example::

            agent = client.agents.get("agt_01…")
            print(agent.online, agent.last_seen)
        """
        return self._send(Operation("GET", agent_path(agent_id), Agent), options)

    def update(
        self,
        agent_id: str,
        *,
        name: str | NotGiven = NOT_GIVEN,
        site_id: str | NotGiven = NOT_GIVEN,
        kind: AgentKind | str | NotGiven = NOT_GIVEN,
        labels: Mapping[str, str] | NotGiven = NOT_GIVEN,
        metadata: Mapping[str, JsonValue] | NotGiven = NOT_GIVEN,
        **options: Unpack[WriteOptions],
    ) -> Agent:
        """Change an agent; what is not given stays. ``labels``/``metadata`` are replaced whole.

        Example::

            client.agents.update("agt_01…", labels={"line": "4"})  # drops every other label
        """
        op = _update(agent_id, name, site_id, kind, labels, metadata)
        return self._send(op, options)

    def delete(self, agent_id: str, **options: Unpack[WriteOptions]) -> Deleted:
        """Delete an agent with its channels and messages.

        Example::

            client.agents.delete("agt_01…")
        """
        return self._send(Operation("DELETE", agent_path(agent_id), Deleted), options)

    def token(
        self,
        agent_id: str,
        *,
        name: str | None = None,
        expires_at: datetime | None = None,
        **options: Unpack[WriteOptions],
    ) -> ApiKeyCreated:
        """A new API key for the device itself, scoped to this agent and its channels.

        The secret is in the answer this once only.

        Example::

            key = client.agents.token("agt_01…", name="pump-7 firmware")
            print(key.secret)  # put it on the device
        """
        return self._send(_token(agent_id, name, expires_at), options)


class AsyncAgents(AsyncAgentCommands):
    """The organisation's agents: machines, devices, gateways and services.

    Example::

        pump = await client.agents.create(site.id, "pump-7", labels={"line": "3"})
        async for agent in client.agents.list(online=True):
            print(agent.name)
    """

    def list(
        self,
        *,
        site_id: str | None = None,
        kind: AgentKind | str | None = None,
        labels: Mapping[str, str] | None = None,
        online: bool | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> AsyncPager[Agent]:
        """Every agent matching all the filters given, fetched ``limit`` per page.

        ``labels`` keeps agents that carry every one of those labels.

        Example::

            line3 = [a async for a in client.agents.list(labels={"line": "3"})]
        """
        return AsyncPager(
            lambda cursor: self.list_page(
                cursor,
                site_id=site_id,
                kind=kind,
                labels=labels,
                online=online,
                limit=limit,
                **options,
            )
        )

    async def list_page(
        self,
        cursor: str | None = None,
        *,
        site_id: str | None = None,
        kind: AgentKind | str | None = None,
        labels: Mapping[str, str] | None = None,
        online: bool | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Agent]:
        """One page of agents; pass its ``next_cursor`` back for the next one.

        Example::

            page = await client.agents.list_page(site_id="site_01…", limit=50)
        """
        return await self._send(_list_page(cursor, limit, site_id, kind, labels, online), options)

    async def create(
        self,
        site_id: str,
        name: str,
        *,
        kind: AgentKind | str = AgentKind.DEVICE,
        labels: Mapping[str, str] | None = None,
        metadata: Mapping[str, JsonValue] | None = None,
        **options: Unpack[WriteOptions],
    ) -> Agent:
        """Create an agent in a site; ``name`` is unique in the organisation.

        Example::

            agent = await client.agents.create("site_01…", "pump-7", kind="machine")
        """
        return await self._send(_create(site_id, name, kind, labels, metadata), options)

    async def get(self, agent_id: str, **options: Unpack[ReadOptions]) -> Agent:
        """One agent by id.

        Example::

            agent = await client.agents.get("agt_01…")
        """
        return await self._send(Operation("GET", agent_path(agent_id), Agent), options)

    async def update(
        self,
        agent_id: str,
        *,
        name: str | NotGiven = NOT_GIVEN,
        site_id: str | NotGiven = NOT_GIVEN,
        kind: AgentKind | str | NotGiven = NOT_GIVEN,
        labels: Mapping[str, str] | NotGiven = NOT_GIVEN,
        metadata: Mapping[str, JsonValue] | NotGiven = NOT_GIVEN,
        **options: Unpack[WriteOptions],
    ) -> Agent:
        """Change an agent; what is not given stays. ``labels``/``metadata`` are replaced whole.

        Example::

            await client.agents.update("agt_01…", name="pump-7b")
        """
        op = _update(agent_id, name, site_id, kind, labels, metadata)
        return await self._send(op, options)

    async def delete(self, agent_id: str, **options: Unpack[WriteOptions]) -> Deleted:
        """Delete an agent with its channels and messages.

        Example::

            await client.agents.delete("agt_01…")
        """
        return await self._send(Operation("DELETE", agent_path(agent_id), Deleted), options)

    async def token(
        self,
        agent_id: str,
        *,
        name: str | None = None,
        expires_at: datetime | None = None,
        **options: Unpack[WriteOptions],
    ) -> ApiKeyCreated:
        """A new API key for the device itself, scoped to this agent and its channels.

        The secret is in the answer this once only.

        Example::

            key = await client.agents.token("agt_01…", name="pump-7 firmware")
        """
        return await self._send(_token(agent_id, name, expires_at), options)


class AgentsWithRawResponse:
    """``client.with_raw_response.agents``: the same calls, answering :class:`RawResponse`.

    Example::

        raw = client.with_raw_response.agents.create("site_01…", "pump-7")
        print(raw.status_code, raw.parse().id)
    """

    def __init__(self, agents: Agents) -> None:
        self.list_page = raw_method(agents.list_page)
        self.create = raw_method(agents.create)
        self.get = raw_method(agents.get)
        self.update = raw_method(agents.update)
        self.delete = raw_method(agents.delete)
        self.token = raw_method(agents.token)
        self.dispatch_command = raw_method(agents.dispatch_command)
        self.get_command = raw_method(agents.get_command)
        self.list_commands_page = raw_method(agents.list_commands_page)
        self.wait_command = raw_method(agents.wait_command)


class AsyncAgentsWithRawResponse:
    """``client.with_raw_response.agents`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.agents.get("agt_01…")
    """

    def __init__(self, agents: AsyncAgents) -> None:
        self.list_page = async_raw_method(agents.list_page)
        self.create = async_raw_method(agents.create)
        self.get = async_raw_method(agents.get)
        self.update = async_raw_method(agents.update)
        self.delete = async_raw_method(agents.delete)
        self.token = async_raw_method(agents.token)
        self.dispatch_command = async_raw_method(agents.dispatch_command)
        self.get_command = async_raw_method(agents.get_command)
        self.list_commands_page = async_raw_method(agents.list_commands_page)
        self.wait_command = async_raw_method(agents.wait_command)
