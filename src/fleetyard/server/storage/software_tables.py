"""Software delivery tables: apps, immutable versions, content-addressed chunks,
site quotas, and rollouts with their per-machine state.

Choices:

- Chunk *bytes* live once in the blob store, named by their SHA-256; the
  ``chunks`` table says a chunk is stored (its size). Which chunks a *site*
  may use is ``site_chunks``: a site learns only about chunks it uploaded or
  mounted, so "which hashes are missing" never reveals another tenant's data,
  and quotas count per site.
- The filesystem store keeps chunks that arrive together (a multi-chunk
  upload) in one *pack* file; ``chunks.pack``/``pack_offset`` say where, and
  ``chunk_packs`` lists the packs so that GC can reclaim the dead ones.
- ``version_chunks`` is the reference list (a chunk → the versions that use
  it): referrers, garbage collection (a site chunk no version references,
  past a grace period) and quota accounting read it.
- A version's manifest is JSON on its row (read as a whole); its files are
  also rows in ``version_files`` so that a files listing and a diff page
  through an index instead of parsing big manifests.
- ``apps.last_number`` is bumped while holding the app row: version numbers
  are gap-free per app and two publishers serialise there (412 for the loser).
"""

from __future__ import annotations

import sqlalchemy as sa

from fleetyard.server.storage import telemetry_tables as _telemetry_tables  # noqa: F401  (agents)
from fleetyard.server.storage.dialect import JSONType
from fleetyard.server.storage.tables import Millis, metadata, org_column

apps = sa.Table(
    "apps",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    org_column(),
    sa.Column("site_id", sa.String(40), sa.ForeignKey("sites.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("targets", JSONType, nullable=False),
    sa.Column("extract_path", sa.String(1000)),
    # Run settings for later (command, env, health command).
    sa.Column("run", JSONType, nullable=False),
    sa.Column("current_version_id", sa.String(40)),
    sa.Column("last_number", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("deleted_at", Millis),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
    sa.Index(None, "org_id", "site_id", "id"),
)

versions = sa.Table(
    "versions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    org_column(),
    sa.Column(
        "app_id", sa.String(40), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("description", sa.String(500), nullable=False),
    sa.Column("manifest", JSONType, nullable=False),
    sa.Column("manifest_sha256", sa.String(64), nullable=False),
    sa.Column("files", sa.Integer, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(40)),
    sa.Column("created_at", Millis, nullable=False),
    sa.UniqueConstraint("app_id", "number"),
)

version_files = sa.Table(
    "version_files",
    metadata,
    sa.Column(
        "version_id",
        sa.String(40),
        sa.ForeignKey("versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # Paths are capped at 1,024 characters: the primary key must fit a PostgreSQL index entry.
    sa.Column("path", sa.String(1024), primary_key=True),
    sa.Column("org_id", sa.String(40), nullable=False),
    # file | dir | symlink
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mode", sa.Integer, nullable=False),
    # The chunk list's digest: two files are equal when kind, mode and this match.
    sa.Column("digest", sa.String(64)),
    sa.Column("target", sa.String(4096)),
)

chunks = sa.Table(
    "chunks",
    metadata,
    sa.Column("hash", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    # Where the filesystem store keeps it: inside pack ``pack`` at ``pack_offset``;
    # both NULL for a chunk stored on its own (a file, an S3 object).
    sa.Column("pack", sa.String(32), index=True),
    sa.Column("pack_offset", sa.BigInteger),
)

chunk_packs = sa.Table(
    "chunk_packs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    # Chunk bytes the pack holds, live or not: GC rewrites a pack whose live chunks
    # (the rows of ``chunks`` that point at it) add up to less than half of this.
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("created_at", Millis, nullable=False),
)

site_chunks = sa.Table(
    "site_chunks",
    metadata,
    sa.Column(
        "site_id", sa.String(40), sa.ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("hash", sa.String(64), primary_key=True),
    org_column(),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    # Set when no version references it any more; GC deletes it after the grace period.
    sa.Column("unreferenced_since", Millis),
)

version_chunks = sa.Table(
    "version_chunks",
    metadata,
    sa.Column(
        "version_id",
        sa.String(40),
        sa.ForeignKey("versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("hash", sa.String(64), primary_key=True),
    org_column(),
    sa.Column("site_id", sa.String(40), nullable=False),
    sa.Column("app_id", sa.String(40), nullable=False),
    # Referrers of a chunk: which versions use it.
    sa.Index(None, "hash", "version_id"),
)

site_quotas = sa.Table(
    "site_quotas",
    metadata,
    sa.Column(
        "site_id", sa.String(40), sa.ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    ),
    org_column(),
    sa.Column("used_bytes", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    # NULL: no limit.
    sa.Column("limit_bytes", sa.BigInteger),
    sa.Column("updated_at", Millis, nullable=False),
)

quota_history = sa.Table(
    "quota_history",
    metadata,
    sa.Column(
        "site_id", sa.String(40), sa.ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    ),
    # Days since the epoch (UTC).
    sa.Column("day", sa.Integer, primary_key=True),
    org_column(),
    sa.Column("used_bytes", sa.BigInteger, nullable=False),
)

rollouts = sa.Table(
    "rollouts",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    org_column(),
    sa.Column(
        "app_id", sa.String(40), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("version_id", sa.String(40), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    # strategy, canary, rate, abort threshold, per-machine timeout…
    sa.Column("options", JSONType, nullable=False),
    sa.Column("schedule_at", Millis),
    sa.Column("job_id", sa.String(40)),
    sa.Column("created_by", sa.String(40)),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
    sa.Column("finished_at", Millis),
    sa.Index(None, "app_id", "created_at"),
)

rollout_machines = sa.Table(
    "rollout_machines",
    metadata,
    sa.Column(
        "rollout_id",
        sa.String(40),
        sa.ForeignKey("rollouts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "agent_id",
        sa.String(40),
        sa.ForeignKey("agents.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    org_column(),
    # queued → downloading → installing → succeeded | failed | cancelled | skipped
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("wave", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("error", sa.Text),
    sa.Column("started_at", Millis),
    sa.Column("updated_at", Millis, nullable=False),
    sa.Column("finished_at", Millis),
    # A machine's rollouts, newest first.
    sa.Index(None, "agent_id", "updated_at"),
)
