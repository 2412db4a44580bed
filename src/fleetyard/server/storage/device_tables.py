"""Device-control tables: devices, executions, scenes, schedules, agent commands,
device events and their listeners, and the durable jobs table.

Choices:

- ``devices`` are unique per (gateway agent, device URL): two gateways may
  hold the same URL (two imports of one setup), so executions resolve a URL
  within the caller's organisation and ask for ``gateway_id`` when it is
  ambiguous.
- An execution's actions, per-command progress and state history are JSON on
  its row: they are read and written as a whole, never queried inside.
- ``device_events`` are numbered per organisation (``seq``), assigned while
  holding the organisation's ``event_sequences`` row, so listeners that read
  ``seq > cursor`` never skip an event that commits late (the same rule as
  channel sequences; a global autoincrement is not commit-ordered on
  PostgreSQL).
- ``jobs`` is the durable queue every scheduled or retried piece of work goes
  through: claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, by one
  conditional UPDATE on SQLite.
"""

from __future__ import annotations

import sqlalchemy as sa

from fleetyard.server.storage import telemetry_tables as _telemetry_tables  # noqa: F401  (agents)
from fleetyard.server.storage.dialect import JSONType
from fleetyard.server.storage.tables import Millis, metadata, org_column


def _agent(nullable: bool = False) -> sa.Column[str]:
    return sa.Column(
        "agent_id",
        sa.String(40),
        sa.ForeignKey("agents.id", ondelete="CASCADE"),
        nullable=nullable,
    )


devices = sa.Table(
    "devices",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    org_column(),
    sa.Column("site_id", sa.String(40), nullable=False),
    _agent(),
    sa.Column("device_url", sa.String(400), nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("controllable_name", sa.String(200), nullable=False),
    sa.Column("widget", sa.String(200)),
    sa.Column("ui_class", sa.String(200)),
    sa.Column("type", sa.Integer),
    sa.Column("available", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("definition", JSONType, nullable=False),
    sa.Column("states", JSONType, nullable=False),
    sa.Column("attributes", JSONType, nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
    sa.UniqueConstraint("agent_id", "device_url"),
    sa.Index(None, "org_id", "device_url"),
)

executions = sa.Table(
    "executions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    org_column(),
    sa.Column("site_id", sa.String(40), nullable=False),
    _agent(),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("mode", sa.String(32), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("actions", JSONType, nullable=False),
    sa.Column("history", JSONType, nullable=False),
    sa.Column("failure_type", sa.String(64)),
    sa.Column("failed_commands", JSONType, nullable=False),
    sa.Column("action_group_id", sa.String(40)),
    sa.Column("schedule_id", sa.String(40)),
    sa.Column("created_by", sa.String(40)),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
    sa.Column("finished_at", Millis),
    # Slots and the server-side queue: "active/queued executions of this gateway, oldest first".
    sa.Index(None, "agent_id", "state", "created_at"),
    # History pages, newest first.
    sa.Index(None, "org_id", "created_at"),
)

scenes = sa.Table(
    "scenes",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    org_column(),
    sa.Column("site_id", sa.String(40), nullable=False),
    _agent(),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("mode", sa.String(32), nullable=False),
    sa.Column("actions", JSONType, nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
    sa.Index(None, "org_id", "id"),
)

schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    org_column(),
    sa.Column(
        "scene_id", sa.String(40), sa.ForeignKey("scenes.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("at", Millis, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("queue", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("job_id", sa.String(40)),
    sa.Column("execution_id", sa.String(40)),
    sa.Column("error", sa.Text),
    sa.Column("created_by", sa.String(40)),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
    sa.Index(None, "scene_id"),
)

agent_commands = sa.Table(
    "agent_commands",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    org_column(),
    _agent(),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("args", JSONType, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("result", JSONType),
    sa.Column("error", sa.Text),
    sa.Column("expires_at", Millis, nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
    sa.Column("finished_at", Millis),
    sa.Index(None, "agent_id", "state"),
)

event_sequences = sa.Table(
    "event_sequences",
    metadata,
    sa.Column(
        "org_id",
        sa.String(40),
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("last_seq", sa.BigInteger, nullable=False, server_default=sa.text("0")),
)

device_events = sa.Table(
    "device_events",
    metadata,
    sa.Column(
        "org_id",
        sa.String(40),
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("site_id", sa.String(40), nullable=False),
    sa.Column("agent_id", sa.String(40), nullable=False),
    sa.Column("at", Millis, nullable=False),
    sa.Column("body", JSONType, nullable=False),
    # Pruning old events by age.
    sa.Index(None, "at"),
)

event_listeners = sa.Table(
    "event_listeners",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    org_column(),
    sa.Column("site_id", sa.String(40)),
    sa.Column("owner", sa.String(40)),
    sa.Column("cursor", sa.BigInteger, nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("last_fetch_at", Millis, nullable=False),
    sa.Index(None, "last_fetch_at"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("org_id", sa.String(40)),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("run_at", Millis, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("max_attempts", sa.Integer, nullable=False, server_default=sa.text("5")),
    sa.Column("locked_until", Millis),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
    # The claim query: due pending jobs, oldest first.
    sa.Index(None, "state", "run_at"),
)
