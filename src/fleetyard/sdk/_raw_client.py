"""``client.with_raw_response``: every resource again, answering :class:`RawResponse`."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from fleetyard.sdk.resources.account import (
    Account,
    AccountWithRawResponse,
    AsyncAccount,
    AsyncAccountWithRawResponse,
)
from fleetyard.sdk.resources.action_groups import (
    ActionGroups,
    ActionGroupsWithRawResponse,
    AsyncActionGroups,
    AsyncActionGroupsWithRawResponse,
)
from fleetyard.sdk.resources.agents import (
    Agents,
    AgentsWithRawResponse,
    AsyncAgents,
    AsyncAgentsWithRawResponse,
)
from fleetyard.sdk.resources.apps import (
    Apps,
    AppsWithRawResponse,
    AsyncApps,
    AsyncAppsWithRawResponse,
)
from fleetyard.sdk.resources.auth import (
    AsyncAuth,
    AsyncAuthWithRawResponse,
    Auth,
    AuthWithRawResponse,
)
from fleetyard.sdk.resources.channels import (
    AsyncChannels,
    AsyncChannelsWithRawResponse,
    Channels,
    ChannelsWithRawResponse,
)
from fleetyard.sdk.resources.chunks import (
    AsyncChunks,
    AsyncChunksWithRawResponse,
    Chunks,
    ChunksWithRawResponse,
)
from fleetyard.sdk.resources.devices import (
    AsyncDevices,
    AsyncDevicesWithRawResponse,
    Devices,
    DevicesWithRawResponse,
)
from fleetyard.sdk.resources.events import (
    AsyncEvents,
    AsyncEventsWithRawResponse,
    Events,
    EventsWithRawResponse,
)
from fleetyard.sdk.resources.executions import (
    AsyncExecutions,
    AsyncExecutionsWithRawResponse,
    Executions,
    ExecutionsWithRawResponse,
)
from fleetyard.sdk.resources.members import (
    AsyncMembers,
    AsyncMembersWithRawResponse,
    Members,
    MembersWithRawResponse,
)
from fleetyard.sdk.resources.presence import (
    AsyncPresence,
    AsyncPresenceWithRawResponse,
    Presence,
    PresenceWithRawResponse,
)
from fleetyard.sdk.resources.quotas import (
    AsyncQuotas,
    AsyncQuotasWithRawResponse,
    Quotas,
    QuotasWithRawResponse,
)
from fleetyard.sdk.resources.rollouts import (
    AsyncRollouts,
    AsyncRolloutsWithRawResponse,
    Rollouts,
    RolloutsWithRawResponse,
)
from fleetyard.sdk.resources.schedules import (
    AsyncSchedules,
    AsyncSchedulesWithRawResponse,
    Schedules,
    SchedulesWithRawResponse,
)
from fleetyard.sdk.resources.sites import (
    AsyncSites,
    AsyncSitesWithRawResponse,
    Sites,
    SitesWithRawResponse,
)
from fleetyard.sdk.resources.system import (
    AsyncSystem,
    AsyncSystemWithRawResponse,
    System,
    SystemWithRawResponse,
)
from fleetyard.sdk.resources.users import (
    AsyncUsers,
    AsyncUsersWithRawResponse,
    Users,
    UsersWithRawResponse,
)
from fleetyard.sdk.resources.versions import (
    AsyncVersions,
    AsyncVersionsWithRawResponse,
    Versions,
    VersionsWithRawResponse,
)

if TYPE_CHECKING:
    from fleetyard.sdk._client import AsyncClient, Client

__all__ = ["AsyncClientWithRawResponse", "ClientWithRawResponse"]


class ClientWithRawResponse:
    """The resources of a :class:`~fleetyard.Client`, answering :class:`RawResponse`.

    Same calls, same state (credentials, connection pool); only the answers
    differ. Errors still raise.

    Example::

        raw = client.with_raw_response.sites.create("Depot")
        print(raw.status_code, raw.headers.get("Idempotent-Replayed"), raw.parse().id)
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    @cached_property
    def system(self) -> SystemWithRawResponse:
        """Raw-response ``client.system``."""
        return SystemWithRawResponse(System(self._client, raw=True))

    @cached_property
    def account(self) -> AccountWithRawResponse:
        """Raw-response ``client.account``."""
        return AccountWithRawResponse(Account(self._client, raw=True))

    @cached_property
    def auth(self) -> AuthWithRawResponse:
        """Raw-response ``client.auth``."""
        return AuthWithRawResponse(Auth(self._client, raw=True))

    @cached_property
    def users(self) -> UsersWithRawResponse:
        """Raw-response ``client.users``."""
        return UsersWithRawResponse(Users(self._client, raw=True))

    @cached_property
    def sites(self) -> SitesWithRawResponse:
        """Raw-response ``client.sites``."""
        return SitesWithRawResponse(Sites(self._client, raw=True))

    def members(self, site_id: str) -> MembersWithRawResponse:
        """Raw-response ``client.members(site_id)``."""
        return MembersWithRawResponse(Members(self._client, site_id, raw=True))

    @cached_property
    def presence(self) -> PresenceWithRawResponse:
        """Raw-response ``client.presence``."""
        return PresenceWithRawResponse(Presence(self._client, raw=True))

    @cached_property
    def agents(self) -> AgentsWithRawResponse:
        """Raw-response ``client.agents``."""
        return AgentsWithRawResponse(Agents(self._client, raw=True))

    @cached_property
    def channels(self) -> ChannelsWithRawResponse:
        """Raw-response ``client.channels``."""
        return ChannelsWithRawResponse(Channels(self._client, raw=True))

    @cached_property
    def devices(self) -> DevicesWithRawResponse:
        """Raw-response ``client.devices``."""
        return DevicesWithRawResponse(Devices(self._client, raw=True))

    @cached_property
    def executions(self) -> ExecutionsWithRawResponse:
        """Raw-response ``client.executions``."""
        return ExecutionsWithRawResponse(Executions(self._client, raw=True))

    @cached_property
    def action_groups(self) -> ActionGroupsWithRawResponse:
        """Raw-response ``client.action_groups``."""
        return ActionGroupsWithRawResponse(ActionGroups(self._client, raw=True))

    @cached_property
    def schedules(self) -> SchedulesWithRawResponse:
        """Raw-response ``client.schedules``."""
        return SchedulesWithRawResponse(Schedules(self._client, raw=True))

    @cached_property
    def events(self) -> EventsWithRawResponse:
        """Raw-response ``client.events``."""
        return EventsWithRawResponse(Events(self._client, raw=True))

    @cached_property
    def apps(self) -> AppsWithRawResponse:
        """Raw-response ``client.apps``."""
        return AppsWithRawResponse(Apps(self._client, raw=True))

    @cached_property
    def versions(self) -> VersionsWithRawResponse:
        """Raw-response ``client.versions``."""
        return VersionsWithRawResponse(Versions(self._client, raw=True))

    @cached_property
    def rollouts(self) -> RolloutsWithRawResponse:
        """Raw-response ``client.rollouts``."""
        return RolloutsWithRawResponse(Rollouts(self._client, raw=True))

    @cached_property
    def chunks(self) -> ChunksWithRawResponse:
        """Raw-response ``client.chunks``."""
        return ChunksWithRawResponse(Chunks(self._client, raw=True))

    @cached_property
    def quotas(self) -> QuotasWithRawResponse:
        """Raw-response ``client.quotas``."""
        return QuotasWithRawResponse(Quotas(self._client, raw=True))


class AsyncClientWithRawResponse:
    """The resources of an :class:`~fleetyard.AsyncClient`, answering :class:`RawResponse`.

    Example::

        raw = await client.with_raw_response.sites.get("site_01…")
        print(raw.headers["ETag"])
    """

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    @cached_property
    def system(self) -> AsyncSystemWithRawResponse:
        """Raw-response ``client.system``."""
        return AsyncSystemWithRawResponse(AsyncSystem(self._client, raw=True))

    @cached_property
    def account(self) -> AsyncAccountWithRawResponse:
        """Raw-response ``client.account``."""
        return AsyncAccountWithRawResponse(AsyncAccount(self._client, raw=True))

    @cached_property
    def auth(self) -> AsyncAuthWithRawResponse:
        """Raw-response ``client.auth``."""
        return AsyncAuthWithRawResponse(AsyncAuth(self._client, raw=True))

    @cached_property
    def users(self) -> AsyncUsersWithRawResponse:
        """Raw-response ``client.users``."""
        return AsyncUsersWithRawResponse(AsyncUsers(self._client, raw=True))

    @cached_property
    def sites(self) -> AsyncSitesWithRawResponse:
        """Raw-response ``client.sites``."""
        return AsyncSitesWithRawResponse(AsyncSites(self._client, raw=True))

    def members(self, site_id: str) -> AsyncMembersWithRawResponse:
        """Raw-response ``client.members(site_id)``."""
        return AsyncMembersWithRawResponse(AsyncMembers(self._client, site_id, raw=True))

    @cached_property
    def presence(self) -> AsyncPresenceWithRawResponse:
        """Raw-response ``client.presence``."""
        return AsyncPresenceWithRawResponse(AsyncPresence(self._client, raw=True))

    @cached_property
    def agents(self) -> AsyncAgentsWithRawResponse:
        """Raw-response ``client.agents``."""
        return AsyncAgentsWithRawResponse(AsyncAgents(self._client, raw=True))

    @cached_property
    def channels(self) -> AsyncChannelsWithRawResponse:
        """Raw-response ``client.channels``."""
        return AsyncChannelsWithRawResponse(AsyncChannels(self._client, raw=True))

    @cached_property
    def devices(self) -> AsyncDevicesWithRawResponse:
        """Raw-response ``client.devices``."""
        return AsyncDevicesWithRawResponse(AsyncDevices(self._client, raw=True))

    @cached_property
    def executions(self) -> AsyncExecutionsWithRawResponse:
        """Raw-response ``client.executions``."""
        return AsyncExecutionsWithRawResponse(AsyncExecutions(self._client, raw=True))

    @cached_property
    def action_groups(self) -> AsyncActionGroupsWithRawResponse:
        """Raw-response ``client.action_groups``."""
        return AsyncActionGroupsWithRawResponse(AsyncActionGroups(self._client, raw=True))

    @cached_property
    def schedules(self) -> AsyncSchedulesWithRawResponse:
        """Raw-response ``client.schedules``."""
        return AsyncSchedulesWithRawResponse(AsyncSchedules(self._client, raw=True))

    @cached_property
    def events(self) -> AsyncEventsWithRawResponse:
        """Raw-response ``client.events``."""
        return AsyncEventsWithRawResponse(AsyncEvents(self._client, raw=True))

    @cached_property
    def apps(self) -> AsyncAppsWithRawResponse:
        """Raw-response ``client.apps``."""
        return AsyncAppsWithRawResponse(AsyncApps(self._client, raw=True))

    @cached_property
    def versions(self) -> AsyncVersionsWithRawResponse:
        """Raw-response ``client.versions``."""
        return AsyncVersionsWithRawResponse(AsyncVersions(self._client, raw=True))

    @cached_property
    def rollouts(self) -> AsyncRolloutsWithRawResponse:
        """Raw-response ``client.rollouts``."""
        return AsyncRolloutsWithRawResponse(AsyncRollouts(self._client, raw=True))

    @cached_property
    def chunks(self) -> AsyncChunksWithRawResponse:
        """Raw-response ``client.chunks``."""
        return AsyncChunksWithRawResponse(AsyncChunks(self._client, raw=True))

    @cached_property
    def quotas(self) -> AsyncQuotasWithRawResponse:
        """Raw-response ``client.quotas``."""
        return AsyncQuotasWithRawResponse(AsyncQuotas(self._client, raw=True))
