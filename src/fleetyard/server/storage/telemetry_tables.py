"""Telemetry tables: agents, channels and the message log, on the shared ``metadata``.

Layout choices, made for the ingest hot path (tens of thousands of rows/s
into SQLite):

- ``channels`` has a small integer surrogate key ``pk`` besides its public
  ``ch_…`` id. The message log and its indexes key on ``channel_pk`` (a few
  bytes) instead of a 29-character id repeated in every row and index entry.
- ``messages`` stays a rowid table on SQLite, deliberately not ``WITHOUT
  ROWID``: rows then append to the end of the table B-tree and only the
  narrow indexes take the scattered inserts of a thousand interleaved
  channels. Measured on the ingest bench, clustering the rows on
  ``(channel_pk, seq)`` halved the insert rate (whole rows move in page splits).
- The time index is ``(channel_pk, ts, seq)`` so a window query is an index
  range and can page by ``(ts, seq)`` without a sort.
- The dedup index on ``(channel_pk, client_message_id)`` is partial
  (``WHERE client_message_id IS NOT NULL``): messages without an id cost it
  nothing.
- ``messages.org_id`` is carried for tenancy but has no index and no foreign
  key: every query reaches messages through an org-checked channel, and a
  per-row foreign-key probe would tax every insert. Deleting an organisation
  still removes its messages (organisation → agents → channels → messages).
"""

from __future__ import annotations

import sqlalchemy as sa

from fleetyard.server.storage.dialect import JSONType
from fleetyard.server.storage.tables import Millis, metadata, org_column

# A rowid alias on SQLite (INTEGER PRIMARY KEY), BIGSERIAL on PostgreSQL.
SurrogateKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    org_column(),
    # No cascade on purpose: deleting a site must not silently delete its
    # machines and their history; the sites service refuses while agents remain.
    sa.Column("site_id", sa.String(40), sa.ForeignKey("sites.id"), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("labels", JSONType, nullable=False),
    sa.Column("metadata", JSONType, nullable=False),
    sa.Column("online", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("last_seen", Millis),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
    sa.UniqueConstraint("org_id", "name"),
)

channels = sa.Table(
    "channels",
    metadata,
    sa.Column("pk", SurrogateKey, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(40), nullable=False, unique=True),
    org_column(),
    sa.Column(
        "agent_id",
        sa.String(40),
        sa.ForeignKey("agents.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # Stored with its prefix (``#proc``, ``!task``): what users type is what is looked up.
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("is_private", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("retention_max_age_ms", Millis),
    sa.Column("retention_max_messages", sa.BigInteger),
    sa.Column("json_schema", JSONType),
    # Written only by the ingest writer, while it holds the row (see services/telemetry/ingest).
    sa.Column("last_seq", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("aggregate", JSONType),
    sa.Column("aggregate_version", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("aggregate_updated_at", Millis),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
    sa.UniqueConstraint("agent_id", "name"),
    # Same-name-across-agents queries ("status" of every agent) start here.
    sa.Index(None, "org_id", "name"),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column(
        "channel_pk",
        sa.BigInteger,
        sa.ForeignKey("channels.pk", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("org_id", sa.String(40), nullable=False),
    sa.Column("ts", Millis, nullable=False),
    sa.Column("received_at", Millis, nullable=False),
    sa.Column("payload", JSONType),
    sa.Column("client_message_id", sa.String(200)),
    sa.Index(None, "channel_pk", "ts", "seq"),
    sa.Index(
        None,
        "channel_pk",
        "client_message_id",
        unique=True,
        sqlite_where=sa.text("client_message_id IS NOT NULL"),
        postgresql_where=sa.text("client_message_id IS NOT NULL"),
    ),
)
