"""Handlers the tests name in ``[[handlers]]`` (``tests.agent.sample_handlers:…``)."""

from __future__ import annotations

import asyncio
from typing import Any

from fleetyard.agent import CommandFailed
from fleetyard.agent.handlers import Device

calls: list[tuple[str, str, list[Any]]] = []


def sync_handler(device: Device, command: str, parameters: list[Any]) -> None:
    calls.append((device.device_url, command, parameters))
    device.report_states([{"name": "core:OnOffState", "type": 3, "value": "on"}])


async def async_handler(device: Device, command: str, parameters: list[Any]) -> None:
    await asyncio.sleep(0)
    calls.append((device.device_url, command, parameters))


def failing(device: Device, command: str, parameters: list[Any]) -> None:
    raise CommandFailed("device_error", "motor blocked")


def broken(device: Device, command: str, parameters: list[Any]) -> None:
    raise RuntimeError("bug")


NOT_CALLABLE = 3


async def forever(device: Device, command: str, parameters: list[Any]) -> None:
    await asyncio.Event().wait()
