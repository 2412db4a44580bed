"""Route modules, one per resource. ``ROUTERS`` is what the app mounts, in order."""

from __future__ import annotations

from fastapi import APIRouter

from fleetyard.server.api.routes import (
    account,
    action_groups,
    agent_commands,
    agent_session,
    agents,
    apps,
    auth,
    channels,
    chunks,
    devices,
    event_listeners,
    executions,
    members,
    messages,
    presence,
    publish,
    rollouts,
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
    agent_commands.router,
    agent_session.router,
    channels.router,
    messages.router,
    presence.router,
    stream.router,
    # Devices. devices declares /v1/devices/import before /v1/devices/{device_id}.
    devices.router,
    event_listeners.router,
    # Executions declares /v1/executions/current before /v1/executions/{execution_id}.
    executions.router,
    action_groups.router,
    action_groups.schedules_router,
    # Software delivery: apps, versions, rollback.
    apps.router,
    # Chunks, signed chunk links and site quotas.
    chunks.router,
    # Rollouts: deploy, follow, cancel; an agent's chunk links for a deployment.
    rollouts.router,
]
