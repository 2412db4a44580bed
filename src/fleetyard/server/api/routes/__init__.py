"""Route modules, one per resource. ``ROUTERS`` is what the app mounts, in order."""

from __future__ import annotations

from fastapi import APIRouter

from fleetyard.server.api.routes import system

ROUTERS: list[APIRouter] = [system.router]
