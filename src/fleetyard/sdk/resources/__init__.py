"""The API's resources, one module per concept, each with a sync and an async class.

They are reached through a client (``client.sites``, ``client.members(site_id)``),
not constructed directly.
"""

from fleetyard.sdk.resources.account import Account, AsyncAccount
from fleetyard.sdk.resources.action_groups import ActionGroups, AsyncActionGroups
from fleetyard.sdk.resources.agents import Agents, AsyncAgents
from fleetyard.sdk.resources.api_keys import ApiKeys, AsyncApiKeys
from fleetyard.sdk.resources.apps import Apps, AsyncApps
from fleetyard.sdk.resources.auth import AsyncAuth, Auth
from fleetyard.sdk.resources.channels import AsyncChannels, Channels
from fleetyard.sdk.resources.chunks import AsyncChunks, Chunks
from fleetyard.sdk.resources.devices import AsyncDevices, Devices
from fleetyard.sdk.resources.events import (
    AsyncDeviceEventSubscription,
    AsyncEvents,
    DeviceEventSubscription,
    Events,
)
from fleetyard.sdk.resources.executions import (
    AsyncExecutionHandle,
    AsyncExecutions,
    ExecutionHandle,
    Executions,
)
from fleetyard.sdk.resources.http import AsyncRawHTTP, RawHTTP
from fleetyard.sdk.resources.members import AsyncMembers, Members
from fleetyard.sdk.resources.presence import AsyncPresence, Presence
from fleetyard.sdk.resources.quotas import AsyncQuotas, Quotas
from fleetyard.sdk.resources.rollouts import (
    AsyncRolloutHandle,
    AsyncRollouts,
    RolloutHandle,
    Rollouts,
)
from fleetyard.sdk.resources.schedules import AsyncSchedules, Schedules
from fleetyard.sdk.resources.service_clients import AsyncServiceClients, ServiceClients
from fleetyard.sdk.resources.sites import AsyncSites, Sites
from fleetyard.sdk.resources.stream import AsyncStream, Stream
from fleetyard.sdk.resources.system import AsyncSystem, System
from fleetyard.sdk.resources.totp import AsyncTotp, Totp
from fleetyard.sdk.resources.users import AsyncUsers, Users
from fleetyard.sdk.resources.versions import AsyncVersions, Versions

__all__ = [
    "Account",
    "ActionGroups",
    "Agents",
    "ApiKeys",
    "Apps",
    "AsyncAccount",
    "AsyncActionGroups",
    "AsyncAgents",
    "AsyncApiKeys",
    "AsyncApps",
    "AsyncAuth",
    "AsyncChannels",
    "AsyncChunks",
    "AsyncDeviceEventSubscription",
    "AsyncDevices",
    "AsyncEvents",
    "AsyncExecutionHandle",
    "AsyncExecutions",
    "AsyncMembers",
    "AsyncPresence",
    "AsyncQuotas",
    "AsyncRawHTTP",
    "AsyncRolloutHandle",
    "AsyncRollouts",
    "AsyncSchedules",
    "AsyncServiceClients",
    "AsyncSites",
    "AsyncStream",
    "AsyncSystem",
    "AsyncTotp",
    "AsyncUsers",
    "AsyncVersions",
    "Auth",
    "Channels",
    "Chunks",
    "DeviceEventSubscription",
    "Devices",
    "Events",
    "ExecutionHandle",
    "Executions",
    "Members",
    "Presence",
    "Quotas",
    "RawHTTP",
    "RolloutHandle",
    "Rollouts",
    "Schedules",
    "ServiceClients",
    "Sites",
    "Stream",
    "System",
    "Totp",
    "Users",
    "Versions",
]
