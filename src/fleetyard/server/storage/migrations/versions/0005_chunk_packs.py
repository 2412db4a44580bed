"""chunk packs: chunks stored together in one file of the filesystem store

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 04:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chunk_packs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chunk_packs")),
    )
    with op.batch_alter_table("chunks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pack", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("pack_offset", sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f("ix_chunks_pack"), ["pack"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("chunks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chunks_pack"))
        batch_op.drop_column("pack_offset")
        batch_op.drop_column("pack")
    op.drop_table("chunk_packs")
