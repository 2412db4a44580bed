"""Route modules, one per resource. ``ROUTERS`` is what the app mounts, in order."""

from __future__ import annotations

from fastapi import APIRouter

from fleetyard.server.api.routes import account, auth, members, sites, system, users

ROUTERS: list[APIRouter] = [
    system.router,
    auth.router,
    account.router,
    users.router,
    sites.router,
    members.router,
]
