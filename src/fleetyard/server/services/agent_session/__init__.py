"""The agent session: one WebSocket per device agent (``/v1/agents/session``).

- :mod:`.session` — :class:`~.session.AgentSession`, the logic (frames in,
  frames out through an ``emit`` callback);
- :mod:`.auth` — :func:`~.auth.authorize_agent`, which agent a credential speaks for;
- :mod:`.registry` — :class:`~.registry.SessionRegistry`, the sessions open per
  agent in this process;
- :mod:`.publish` — ``publish`` frames through the ingest writer.

The wire protocol is :mod:`fleetyard.protocol.agent_session`. Nothing is
imported here, so the app state can hold a registry without pulling in the
session's dependencies.
"""
