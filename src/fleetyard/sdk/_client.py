"""``Client`` and ``AsyncClient``: the shared core plus the I/O, blocking or awaited.

All behaviour lives in :class:`~fleetyard.sdk._base_client.BaseClient` and the
resources' operation builders. The two classes here only own an HTTP client
and perform the steps a flow asks for (send, sleep, lock), which is why they
look so alike and must stay that small.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from functools import cached_property
from types import TracebackType
from typing import Any, TypeVar, Unpack, cast

import anyio
import httpx2

from fleetyard.protocol.telemetry import Channel
from fleetyard.sdk._base_client import BaseClient, TokenCallback
from fleetyard.sdk._flow import Action, Exclusive, Flow, Send, Sleep
from fleetyard.sdk._operation import RequestSpec
from fleetyard.sdk._raw_client import AsyncClientWithRawResponse, ClientWithRawResponse
from fleetyard.sdk._retry import RetryPolicy
from fleetyard.sdk._types import TimeoutTypes, WriteOptions
from fleetyard.sdk.resources.account import Account, AsyncAccount
from fleetyard.sdk.resources.action_groups import ActionGroups, AsyncActionGroups
from fleetyard.sdk.resources.agents import Agents, AsyncAgents
from fleetyard.sdk.resources.apps import Apps, AsyncApps
from fleetyard.sdk.resources.auth import AsyncAuth, Auth
from fleetyard.sdk.resources.channels import AsyncChannels, Channels
from fleetyard.sdk.resources.chunks import AsyncChunks, Chunks
from fleetyard.sdk.resources.devices import AsyncDevices, Devices
from fleetyard.sdk.resources.events import AsyncEvents, Events
from fleetyard.sdk.resources.executions import AsyncExecutions, Executions
from fleetyard.sdk.resources.http import AsyncRawHTTP, RawHTTP
from fleetyard.sdk.resources.members import AsyncMembers, Members
from fleetyard.sdk.resources.presence import AsyncPresence, Presence
from fleetyard.sdk.resources.quotas import AsyncQuotas, Quotas
from fleetyard.sdk.resources.rollouts import AsyncRollouts, Rollouts
from fleetyard.sdk.resources.schedules import AsyncSchedules, Schedules
from fleetyard.sdk.resources.sites import AsyncSites, Sites
from fleetyard.sdk.resources.stream import AsyncStream, Stream
from fleetyard.sdk.resources.system import AsyncSystem, System
from fleetyard.sdk.resources.users import AsyncUsers, Users
from fleetyard.sdk.resources.versions import AsyncVersions, Versions

__all__ = ["DEFAULT_RETRY", "DEFAULT_TIMEOUT", "AsyncClient", "Client"]

T = TypeVar("T")
C = TypeVar("C", bound="Client")
AC = TypeVar("AC", bound="AsyncClient")

DEFAULT_RETRY = RetryPolicy()
DEFAULT_TIMEOUT = 30.0


def _build_request(http: httpx2.Client | httpx2.AsyncClient, spec: RequestSpec) -> httpx2.Request:
    # build_request merges the http client's own defaults (headers, cookies) under ours.
    return http.build_request(
        spec.method,
        spec.url,
        params=spec.params,
        headers=spec.headers,
        json=spec.json,
        content=spec.content,
        timeout=spec.timeout,
    )


class Client(BaseClient):
    """The Fleetyard API, blocking. Safe to share between threads.

    Settings come from the arguments, then the environment (``FLEETYARD_URL``,
    ``FLEETYARD_API_KEY``, ``FLEETYARD_PROFILE``), then the profile in
    ``~/.config/fleetyard/config.toml``. Pass one kind of credentials: an
    ``api_key``; an ``access_token`` and/or ``refresh_token`` (renewed shortly
    before expiry and once on ``token_expired``, each new set reported to
    ``on_tokens``); or ``client_id`` + ``client_secret`` (tokens fetched when
    first needed and again on expiry). ``transport`` replaces the network
    (ASGI in-process, mocks, mTLS); ``http_client`` brings a configured
    :class:`httpx2.Client`, which the caller keeps ownership of.

    Example::

        with fleetyard.Client("fy_live_...", base_url="https://yard.example") as client:
            for site in client.sites.list():
                print(site.id, site.name)
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        profile: str | None = None,
        access_token: str | None = None,
        refresh_token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        transport: httpx2.BaseTransport | None = None,
        http_client: httpx2.Client | None = None,
        on_tokens: TokenCallback | None = None,
    ) -> None:
        if transport is not None and http_client is not None:
            raise ValueError("pass transport= or http_client=, not both")
        super().__init__(
            api_key,
            base_url=base_url,
            profile=profile,
            access_token=access_token,
            refresh_token=refresh_token,
            client_id=client_id,
            client_secret=client_secret,
            retry=retry,
            timeout=timeout,
            on_tokens=on_tokens,
        )
        self._owns_http = http_client is None
        self._http_client = (
            http_client
            if http_client is not None
            else httpx2.Client(transport=transport, timeout=timeout)
        )
        self._lock = threading.Lock()
        # Seam for tests: retries sleep through this.
        self._sleep: Callable[[float], None] = time.sleep

    # -- resources -------------------------------------------------------------

    @cached_property
    def system(self) -> System:
        """Server information and health: :class:`~fleetyard.sdk.resources.system.System`."""
        return System(self)

    @cached_property
    def account(self) -> Account:
        """The caller's account, API keys, service clients and TOTP."""
        return Account(self)

    @cached_property
    def auth(self) -> Auth:
        """Log in and out, refresh tokens, client-credentials grants."""
        return Auth(self)

    @cached_property
    def users(self) -> Users:
        """The organisation's users."""
        return Users(self)

    @cached_property
    def sites(self) -> Sites:
        """The organisation's sites."""
        return Sites(self)

    def members(self, site_id: str) -> Members:
        """The members of one site.

        Example::

            client.members("site_01…").add("usr_01…", role="viewer")
        """
        return Members(self, site_id)

    @cached_property
    def agents(self) -> Agents:
        """The machines and devices that publish telemetry."""
        return Agents(self)

    @cached_property
    def channels(self) -> Channels:
        """Agents' channels: publish, messages, aggregates, timeseries."""
        return Channels(self)

    def create_channel(self, name: str, agent_id: str, **options: Unpack[WriteOptions]) -> Channel:
        """Create (or get) a channel, Doover style: ``"#name"`` a processor, ``"!name"`` a task.

        The same as ``client.channels.create(agent_id, name)``; note the order.

        Example::

            processor = client.create_channel("#my-processor", "agt_01…")
        """
        return self.channels.create(agent_id, name, **options)

    @cached_property
    def stream(self) -> Stream:
        """Live events of channels and presence, with reconnect and resume.

        Example::

            with client.stream.subscribe(["ch_01…"]) as events:
                for event in events:
                    print(event.type)
        """
        return Stream(self)

    @cached_property
    def presence(self) -> Presence:
        """Agent heartbeats (online/offline).

        Example::

            client.presence.heartbeat("agt_01…")
        """
        return Presence(self)

    @cached_property
    def devices(self) -> Devices:
        """Devices behind gateway agents: list, get by id or URL, states, setup import.

        Example::

            blind = client.devices.get("io://1234-5678-3293/3541212")
        """
        return Devices(self)

    @cached_property
    def executions(self) -> Executions:
        """Run commands on devices and follow them.

        Example::

            handle = client.executions.execute(actions=[...])
            handle.wait(timeout=60)
        """
        return Executions(self)

    @cached_property
    def action_groups(self) -> ActionGroups:
        """Scenes: stored action groups, run now or scheduled.

        Example::

            scene = client.action_groups.get("scn_01…")
        """
        return ActionGroups(self)

    @cached_property
    def schedules(self) -> Schedules:
        """Scheduled runs of scenes.

        Example::

            pending = list(client.schedules.list(state="pending"))
        """
        return Schedules(self)

    @cached_property
    def events(self) -> Events:
        """Device and execution events through pollable listeners.

        Example::

            with client.events.listen() as events:
                for event in events:
                    print(event.type)
        """
        return Events(self)

    @cached_property
    def apps(self) -> Apps:
        """Apps: create, push versions, roll back.

        Example::

            result = client.apps.push("./dist", "app_kiosk")
        """
        return Apps(self)

    @cached_property
    def versions(self) -> Versions:
        """An app's immutable versions: list, get, files, diff.

        Example::

            version = client.versions.get("app_kiosk", "current")
        """
        return Versions(self)

    @cached_property
    def rollouts(self) -> Rollouts:
        """Rollouts of versions to machines: list, get, wait, cancel (start one with
        ``client.apps.deploy``).

        Example::

            rollout = client.rollouts.wait("rol_01…", timeout=1800)
        """
        return Rollouts(self)

    @cached_property
    def chunks(self) -> Chunks:
        """A site's content-addressed chunks (pushes use them for you).

        Example::

            missing = (client.chunks.check("site_01…", hashes)).missing
        """
        return Chunks(self)

    @cached_property
    def quotas(self) -> Quotas:
        """Sites' chunk storage: bytes used, limit, history.

        Example::

            quota = client.quotas.current("site_01…")
        """
        return Quotas(self)

    @cached_property
    def http(self) -> RawHTTP:
        """Any route, with this client's base URL, auth, retries and errors.

        Example::

            response = client.http.get("/v1/anything", params={"limit": 5})
        """
        return RawHTTP(self)

    @cached_property
    def with_raw_response(self) -> ClientWithRawResponse:
        """The same resources, answering :class:`~fleetyard.sdk.RawResponse` (status, headers).

        Example::

            raw = client.with_raw_response.sites.get("site_01…")
            print(raw.headers["ETag"], raw.parse().name)
        """
        return ClientWithRawResponse(self)

    # -- lifecycle ---------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool (unless it came from ``http_client=``).

        Example::

            client = fleetyard.Client()
            try:
                client.system.health()
            finally:
                client.close()
        """
        if self._owns_http:
            self._http_client.close()

    def __enter__(self: C) -> C:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- performing flows --------------------------------------------------------

    def _drive(self, flow: Flow[T]) -> T:
        reply: object = None
        error: Exception | None = None
        while True:
            try:
                action = flow.send(reply) if error is None else flow.throw(error)
            except StopIteration as stop:
                return cast(T, stop.value)
            reply, error = None, None
            try:
                reply = self._perform(action)
            except Exception as exc:  # handed to the flow, which decides
                error = exc

    def _perform(self, action: Action) -> object:
        if isinstance(action, Send):
            return self._http_client.send(_build_request(self._http_client, action.request))
        if isinstance(action, Sleep):
            self._sleep(action.seconds)
            return None
        if isinstance(action, Exclusive):
            with self._lock:
                return self._drive(action.flow)
        raise TypeError(f"unknown action {action!r}")


class AsyncClient(BaseClient):
    """The Fleetyard API for ``async`` code (asyncio or trio): the twin of :class:`Client`.

    Same arguments, same resources, same behaviour; methods are awaited and
    lists iterate with ``async for``.

    Example::

        async with fleetyard.AsyncClient("fy_live_...") as client:
            async for site in client.sites.list():
                print(site.id, site.name)
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        profile: str | None = None,
        access_token: str | None = None,
        refresh_token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        transport: httpx2.AsyncBaseTransport | None = None,
        http_client: httpx2.AsyncClient | None = None,
        on_tokens: TokenCallback | None = None,
    ) -> None:
        if transport is not None and http_client is not None:
            raise ValueError("pass transport= or http_client=, not both")
        super().__init__(
            api_key,
            base_url=base_url,
            profile=profile,
            access_token=access_token,
            refresh_token=refresh_token,
            client_id=client_id,
            client_secret=client_secret,
            retry=retry,
            timeout=timeout,
            on_tokens=on_tokens,
        )
        self._owns_http = http_client is None
        self._http_client = (
            http_client
            if http_client is not None
            else httpx2.AsyncClient(transport=transport, timeout=timeout)
        )
        self._lock = anyio.Lock()
        # Seam for tests: retries sleep through this.
        self._sleep: Callable[[float], Awaitable[Any]] = anyio.sleep

    # -- resources -------------------------------------------------------------

    @cached_property
    def system(self) -> AsyncSystem:
        """Server information and health."""
        return AsyncSystem(self)

    @cached_property
    def account(self) -> AsyncAccount:
        """The caller's account, API keys, service clients and TOTP."""
        return AsyncAccount(self)

    @cached_property
    def auth(self) -> AsyncAuth:
        """Log in and out, refresh tokens, client-credentials grants."""
        return AsyncAuth(self)

    @cached_property
    def users(self) -> AsyncUsers:
        """The organisation's users."""
        return AsyncUsers(self)

    @cached_property
    def sites(self) -> AsyncSites:
        """The organisation's sites."""
        return AsyncSites(self)

    def members(self, site_id: str) -> AsyncMembers:
        """The members of one site.

        Example::

            await client.members("site_01…").add("usr_01…", role="viewer")
        """
        return AsyncMembers(self, site_id)

    @cached_property
    def agents(self) -> AsyncAgents:
        """The machines and devices that publish telemetry."""
        return AsyncAgents(self)

    @cached_property
    def channels(self) -> AsyncChannels:
        """Agents' channels: publish, messages, aggregates, timeseries."""
        return AsyncChannels(self)

    async def create_channel(
        self, name: str, agent_id: str, **options: Unpack[WriteOptions]
    ) -> Channel:
        """Create (or get) a channel, Doover style: ``"#name"`` a processor, ``"!name"`` a task.

        The same as ``await client.channels.create(agent_id, name)``; note the order.

        Example::

            processor = await client.create_channel("#my-processor", "agt_01…")
        """
        return await self.channels.create(agent_id, name, **options)

    @cached_property
    def stream(self) -> AsyncStream:
        """Live events of channels and presence, with reconnect and resume.

        Example::

            async with client.stream.subscribe(["ch_01…"]) as events:
                async for event in events:
                    print(event.type)
        """
        return AsyncStream(self)

    @cached_property
    def presence(self) -> AsyncPresence:
        """Agent heartbeats (online/offline).

        Example::

            await client.presence.heartbeat("agt_01…")
        """
        return AsyncPresence(self)

    @cached_property
    def devices(self) -> AsyncDevices:
        """Devices behind gateway agents: list, get by id or URL, states, setup import.

        Example::

            blind = await client.devices.get("io://1234-5678-3293/3541212")
        """
        return AsyncDevices(self)

    @cached_property
    def executions(self) -> AsyncExecutions:
        """Run commands on devices and follow them.

        Example::

            handle = await client.executions.execute(actions=[...])
            await handle.wait(timeout=60)
        """
        return AsyncExecutions(self)

    @cached_property
    def action_groups(self) -> AsyncActionGroups:
        """Scenes: stored action groups, run now or scheduled.

        Example::

            scene = await client.action_groups.get("scn_01…")
        """
        return AsyncActionGroups(self)

    @cached_property
    def schedules(self) -> AsyncSchedules:
        """Scheduled runs of scenes.

        Example::

            pending = [s async for s in client.schedules.list(state="pending")]
        """
        return AsyncSchedules(self)

    @cached_property
    def events(self) -> AsyncEvents:
        """Device and execution events through pollable listeners.

        Example::

            async with client.events.listen() as events:
                async for event in events:
                    print(event.type)
        """
        return AsyncEvents(self)

    @cached_property
    def apps(self) -> AsyncApps:
        """Apps: create, push versions, roll back.

        Example::

            result = await client.apps.push("./dist", "app_kiosk")
        """
        return AsyncApps(self)

    @cached_property
    def versions(self) -> AsyncVersions:
        """An app's immutable versions: list, get, files, diff.

        Example::

            version = await client.versions.get("app_kiosk", "current")
        """
        return AsyncVersions(self)

    @cached_property
    def rollouts(self) -> AsyncRollouts:
        """Rollouts of versions to machines: list, get, wait, cancel (start one with
        ``client.apps.deploy``).

        Example::

            rollout = await client.rollouts.wait("rol_01…", timeout=1800)
        """
        return AsyncRollouts(self)

    @cached_property
    def chunks(self) -> AsyncChunks:
        """A site's content-addressed chunks (pushes use them for you).

        Example::

            missing = (await client.chunks.check("site_01…", hashes)).missing
        """
        return AsyncChunks(self)

    @cached_property
    def quotas(self) -> AsyncQuotas:
        """Sites' chunk storage: bytes used, limit, history.

        Example::

            quota = await client.quotas.current("site_01…")
        """
        return AsyncQuotas(self)

    @cached_property
    def http(self) -> AsyncRawHTTP:
        """Any route, with this client's base URL, auth, retries and errors.

        Example::

            response = await client.http.get("/v1/anything")
        """
        return AsyncRawHTTP(self)

    @cached_property
    def with_raw_response(self) -> AsyncClientWithRawResponse:
        """The same resources, answering :class:`~fleetyard.sdk.RawResponse` (status, headers).

        Example::

            raw = await client.with_raw_response.sites.get("site_01…")
        """
        return AsyncClientWithRawResponse(self)

    # -- lifecycle ---------------------------------------------------------------

    async def close(self) -> None:
        """Close the connection pool (unless it came from ``http_client=``).

        Example::

            client = fleetyard.AsyncClient()
            try:
                await client.system.health()
            finally:
                await client.close()
        """
        if self._owns_http:
            await self._http_client.aclose()

    async def __aenter__(self: AC) -> AC:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- performing flows --------------------------------------------------------

    async def _drive(self, flow: Flow[T]) -> T:
        reply: object = None
        error: Exception | None = None
        while True:
            try:
                action = flow.send(reply) if error is None else flow.throw(error)
            except StopIteration as stop:
                return cast(T, stop.value)
            reply, error = None, None
            try:
                reply = await self._perform(action)
            except Exception as exc:  # handed to the flow, which decides
                error = exc

    async def _perform(self, action: Action) -> object:
        if isinstance(action, Send):
            return await self._http_client.send(_build_request(self._http_client, action.request))
        if isinstance(action, Sleep):
            await self._sleep(action.seconds)
            return None
        if isinstance(action, Exclusive):
            async with self._lock:
                return await self._drive(action.flow)
        raise TypeError(f"unknown action {action!r}")
