"""Executions, scenes and schedules: running action groups on gateway agents.

- :mod:`.validate` resolves an action group's device URLs to one gateway and
  checks every command against the devices' definitions, before any write.
- :mod:`.lifecycle` creates executions (per-gateway slots and a FIFO queue),
  applies the agent's updates, cancels, sweeps the ones never transmitted,
  and reads current and past executions.
- :mod:`.scenes` stores action groups; :mod:`.schedules` fires a scene once
  at an instant through a durable job.
"""
