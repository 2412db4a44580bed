"""Which agents have a session open on this server process.

An agent that reconnects (a flaky link) may open its new session before the
server notices the old one is gone. When the old one closes, the agent must
not be marked offline: the registry counts sessions per agent, and only the
last one to close announces ``agent.offline``.
"""

from __future__ import annotations

from collections import Counter


class SessionRegistry:
    """Open agent sessions per agent id, in this process.

    >>> registry = SessionRegistry()
    >>> registry.opened("agt_1"); registry.opened("agt_1")
    >>> registry.closed("agt_1")
    1
    >>> registry.closed("agt_1")
    0
    """

    def __init__(self) -> None:
        self._open: Counter[str] = Counter()

    def opened(self, agent_id: str) -> None:
        self._open[agent_id] += 1

    def closed(self, agent_id: str) -> int:
        """Forget one session of the agent; how many remain open."""
        self._open[agent_id] -= 1
        left = self._open[agent_id]
        if left <= 0:
            del self._open[agent_id]
        return max(left, 0)

    def count(self, agent_id: str) -> int:
        return self._open.get(agent_id, 0)
