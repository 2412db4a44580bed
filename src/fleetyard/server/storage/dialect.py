"""Every difference between SQLite and PostgreSQL lives in this module.

Repositories ask this module for upserts, JSON columns and locking clauses
instead of testing the dialect themselves.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url


class DatabaseKind(StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def normalize_database_url(url: str) -> str:
    """Pick the async driver for a plain URL: ``sqlite:///x.db`` → ``sqlite+aiosqlite:///x.db``."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql", "postgres"):
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    if "+" not in parsed.drivername:
        parsed = parsed.set(drivername=_ASYNC_DRIVERS[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


def database_kind(url: str | URL) -> DatabaseKind:
    backend = make_url(url).get_backend_name()
    return DatabaseKind.SQLITE if backend == "sqlite" else DatabaseKind.POSTGRESQL


def sqlite_file(url: str | URL) -> str | None:
    """The file of a SQLite URL, or None for memory databases and other kinds."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    return database if database and database != ":memory:" else None


def on_connect_sqlite(dbapi_connection: Any) -> None:
    """WAL for concurrent readers, foreign keys enforced, waits instead of 'database is locked'."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
"""JSON as text on SQLite and ``jsonb`` on PostgreSQL."""


def insert_for(kind: DatabaseKind, table: sa.Table) -> Any:
    """An INSERT that supports ``on_conflict_do_update`` / ``do_nothing`` on this database."""
    if kind is DatabaseKind.POSTGRESQL:
        return postgresql.insert(table)
    return sqlite.insert(table)


def is_unique_violation(exc: BaseException) -> bool:
    """Whether an IntegrityError comes from a unique constraint (both drivers)."""
    text = str(getattr(exc, "orig", exc)).lower()
    return "unique" in text or "duplicate key" in text
