"""Route modules, one per resource. ``ROUTERS`` is what the app mounts, in order."""

from __future__ import annotations

from fastapi import APIRouter

from fleetyard.server.api.routes import (
    account,
    agents,
    auth,
    channels,
    members,
    messages,
    presence,
    publish,
    sites,
    stream,
    system,
    users,
)

ROUTERS: list[APIRouter] = [
    # First: routing tries routes in order, and publishing is the hottest path.
    publish.router,
    system.router,
    auth.router,
    account.router,
    users.router,
    sites.router,
    members.router,
    # Telemetry. channels declares /v1/channels/latest before /v1/channels/{channel_id}.
    agents.router,
    channels.router,
    messages.router,
    presence.router,
    stream.router,
]
