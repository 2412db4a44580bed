"""Agent presence: ``client.presence.heartbeat(agent_id)``."""

from __future__ import annotations

from typing import Unpack

from fleetyard.protocol.telemetry import Agent
from fleetyard.sdk._operation import Operation, path_param
from fleetyard.sdk._types import WriteOptions
from fleetyard.sdk.resources._base import (
    AsyncAPIResource,
    SyncAPIResource,
    async_raw_method,
    raw_method,
)

__all__ = [
    "AsyncPresence",
    "AsyncPresenceWithRawResponse",
    "Presence",
    "PresenceWithRawResponse",
]


def _heartbeat(agent_id: str) -> Operation[Agent]:
    return Operation("POST", f"/v1/agents/{path_param(agent_id, 'agent_id')}/heartbeat", Agent)


class Presence(SyncAPIResource):
    """Whether agents are online: they send heartbeats, silence marks them offline.

    Example::

        agent = client.presence.heartbeat("agt_01…")
        assert agent.online
    """

    def heartbeat(self, agent_id: str, **options: Unpack[WriteOptions]) -> Agent:
        """Mark the agent online now (``agent.online`` is streamed if it was offline).

        Send one well within the server's presence timeout (30 s by default);
        without, the agent is marked offline and ``agent.offline`` streamed.
        Needs ``agent:<id>:write`` (a per-agent token) or write on its site.

        Example::

            while True:
                client.presence.heartbeat(agent_id)
                time.sleep(10)
        """
        return self._send(_heartbeat(agent_id), options)


class AsyncPresence(AsyncAPIResource):
    """Whether agents are online, for an :class:`~fleetyard.AsyncClient`.

    Example::

        agent = await client.presence.heartbeat("agt_01…")
    """

    async def heartbeat(self, agent_id: str, **options: Unpack[WriteOptions]) -> Agent:
        """Mark the agent online now (see :meth:`Presence.heartbeat`).

        Example::

            await client.presence.heartbeat(agent_id)
        """
        return await self._send(_heartbeat(agent_id), options)


class PresenceWithRawResponse:
    """``client.with_raw_response.presence``.

    Example::

        raw = client.with_raw_response.presence.heartbeat("agt_01…")
    """

    def __init__(self, presence: Presence) -> None:
        self.heartbeat = raw_method(presence.heartbeat)


class AsyncPresenceWithRawResponse:
    """``client.with_raw_response.presence`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.presence.heartbeat("agt_01…")
    """

    def __init__(self, presence: AsyncPresence) -> None:
        self.heartbeat = async_raw_method(presence.heartbeat)
