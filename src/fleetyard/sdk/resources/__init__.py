"""The API's resources, one module per concept, each with a sync and an async class.

They are reached through a client (``client.sites``, ``client.members(site_id)``),
not constructed directly.
"""

from fleetyard.sdk.resources.account import Account, AsyncAccount
from fleetyard.sdk.resources.agents import Agents, AsyncAgents
from fleetyard.sdk.resources.api_keys import ApiKeys, AsyncApiKeys
from fleetyard.sdk.resources.auth import AsyncAuth, Auth
from fleetyard.sdk.resources.channels import AsyncChannels, Channels
from fleetyard.sdk.resources.http import AsyncRawHTTP, RawHTTP
from fleetyard.sdk.resources.members import AsyncMembers, Members
from fleetyard.sdk.resources.presence import AsyncPresence, Presence
from fleetyard.sdk.resources.service_clients import AsyncServiceClients, ServiceClients
from fleetyard.sdk.resources.sites import AsyncSites, Sites
from fleetyard.sdk.resources.stream import AsyncStream, Stream
from fleetyard.sdk.resources.system import AsyncSystem, System
from fleetyard.sdk.resources.totp import AsyncTotp, Totp
from fleetyard.sdk.resources.users import AsyncUsers, Users

__all__ = [
    "Account",
    "Agents",
    "ApiKeys",
    "AsyncAccount",
    "AsyncAgents",
    "AsyncApiKeys",
    "AsyncAuth",
    "AsyncChannels",
    "AsyncMembers",
    "AsyncPresence",
    "AsyncRawHTTP",
    "AsyncServiceClients",
    "AsyncSites",
    "AsyncStream",
    "AsyncSystem",
    "AsyncTotp",
    "AsyncUsers",
    "Auth",
    "Channels",
    "Members",
    "Presence",
    "RawHTTP",
    "ServiceClients",
    "Sites",
    "Stream",
    "System",
    "Totp",
    "Users",
]
