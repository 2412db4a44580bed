"""SQLAlchemy Core tables. Instants are integer milliseconds since the epoch (UTC).

Every row that belongs to an organisation carries ``org_id`` so that
repositories can filter on it in every query.
"""

from __future__ import annotations

import sqlalchemy as sa

from fleetyard.server.storage.dialect import JSONType

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Millis = sa.BigInteger


def _id(name: str = "id") -> sa.Column[str]:
    return sa.Column(name, sa.String(40), primary_key=True)


def org_column(*, index: bool = False) -> sa.Column[str]:
    """The ``org_id`` every tenant row carries; deleting the organisation deletes the row.

    ``index=False`` where the table's own unique or composite index already
    leads with ``org_id``.
    """
    return sa.Column(
        "org_id",
        sa.String(40),
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
        index=index,
    )


def _org() -> sa.Column[str]:
    return org_column(index=True)


organizations = sa.Table(
    "organizations",
    metadata,
    _id(),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", Millis, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    _id(),
    _org(),
    # Unique across organisations: a login names only an email.
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200)),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("password_hash", sa.String(200)),
    sa.Column("totp_secret", sa.String(64)),
    sa.Column("totp_enabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", Millis, nullable=False),
)

sites = sa.Table(
    "sites",
    metadata,
    _id(),
    _org(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.String(2000)),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
    sa.UniqueConstraint("org_id", "name"),
)

site_members = sa.Table(
    "site_members",
    metadata,
    sa.Column(
        "site_id", sa.String(40), sa.ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "user_id",
        sa.String(40),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
    _org(),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("added_at", Millis, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    _id(),
    _org(),
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id", ondelete="CASCADE")),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("prefix", sa.String(32), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("environment", sa.String(8), nullable=False),
    sa.Column("scopes", JSONType, nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("expires_at", Millis),
    sa.Column("last_used_at", Millis),
    sa.Column("revoked_at", Millis),
    sa.Column("rotated_to", sa.String(40)),
)

service_clients = sa.Table(
    "service_clients",
    metadata,
    _id(),
    _org(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", JSONType, nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("revoked_at", Millis),
)

access_tokens = sa.Table(
    "access_tokens",
    metadata,
    _id(),
    _org(),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id", ondelete="CASCADE")),
    sa.Column("client_id", sa.String(40), sa.ForeignKey("service_clients.id", ondelete="CASCADE")),
    sa.Column("scopes", JSONType, nullable=False),
    # The refresh-token family a user's token was issued from: logout and
    # refresh-token reuse revoke the family's access tokens with it.
    sa.Column("family_id", sa.String(40), index=True),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("expires_at", Millis, nullable=False, index=True),
    sa.Column("revoked_at", Millis),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    _id(),
    _org(),
    sa.Column(
        "user_id", sa.String(40), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    # Every refresh token descends from one login; reusing a spent one revokes the family.
    sa.Column("family_id", sa.String(40), nullable=False, index=True),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("expires_at", Millis, nullable=False),
    sa.Column("used_at", Millis),
    sa.Column("revoked_at", Millis),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    # Whose key it is: one caller's keys never collide with another's.
    sa.Column("owner", sa.String(80), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("method", sa.String(10), nullable=False),
    sa.Column("path", sa.String(2000), nullable=False),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("response_headers", JSONType),
    sa.Column("response_body", sa.LargeBinary),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("expires_at", Millis, nullable=False, index=True),
)
