"""Every difference between SQLite and PostgreSQL lives in this module.

Repositories ask this module for upserts, JSON columns and locking clauses
instead of testing the dialect themselves.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection


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


async def begin_write(conn: AsyncConnection, kind: DatabaseKind) -> None:
    """Open a write transaction that holds the write lock from its first statement.

    On SQLite the driver only issues ``BEGIN`` (deferred) before the first
    INSERT/UPDATE, so a transaction that reads and then writes could see its
    snapshot go stale and fail with "database is locked" instead of waiting.
    ``BEGIN IMMEDIATE`` takes the write lock up front (waiting ``busy_timeout``).
    On PostgreSQL rows are locked explicitly with :func:`lock_rows` instead.
    Call it first thing on a connection fresh from ``engine.connect()`` or
    ``engine.begin()``.
    """
    if kind is DatabaseKind.SQLITE:
        await conn.exec_driver_sql("BEGIN IMMEDIATE")


async def prepare_bulk_writer(conn: AsyncConnection, kind: DatabaseKind) -> None:
    """Tune a connection that is about to write a large batch (before its transaction).

    SQLite: a 64 MiB page cache instead of the default 2 MiB, because a batch
    touches index pages of a thousand channels at once; measured ~25% more
    inserts per second on the ingest bench.
    """
    if kind is DatabaseKind.SQLITE:
        await conn.exec_driver_sql("PRAGMA cache_size=-65536")


def connect_sqlite_writer(path: str) -> sqlite3.Connection:
    """A plain ``sqlite3`` connection for the ingest writer's batches on SQLite.

    Set up as the engine's connections are (:func:`on_connect_sqlite`) plus the
    bulk writer's cache (:func:`prepare_bulk_writer`); in autocommit mode
    (``isolation_level=None``) so that the caller's ``BEGIN IMMEDIATE`` /
    ``COMMIT`` are the only transaction statements. Not bound to the thread that
    opens it: the writer uses it from one worker thread at a time.
    """
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        on_connect_sqlite(db)
        db.execute("PRAGMA cache_size=-65536")
    except BaseException:
        db.close()
        raise
    return db


def lock_rows(kind: DatabaseKind, stmt: sa.Select[Any]) -> sa.Select[Any]:
    """``SELECT … FOR UPDATE`` on PostgreSQL; SQLite relies on :func:`begin_write`."""
    if kind is DatabaseKind.POSTGRESQL:
        return stmt.with_for_update()
    return stmt


def among(
    kind: DatabaseKind, column: sa.ColumnElement[str], values: Sequence[str]
) -> sa.ColumnElement[bool]:
    """``column IN (values)`` for long lists of strings (up to thousands of hashes).

    On PostgreSQL the values are written into the statement as literals. With
    one parameter per value (or one array parameter), the generic plan that
    PostgreSQL switches to after five runs of a prepared statement searches the
    list linearly for every row: 0.16-0.3 s for 1,000 hashes against 10,000 rows
    of a table not analysed yet, against 3 ms with literals, which always get a
    plan of their own (a hashed or index lookup).
    """
    if kind is DatabaseKind.POSTGRESQL:
        listed: sa.BindParameter[list[str]] = sa.bindparam(
            "among", list(values), unique=True, expanding=True, literal_execute=True
        )
        return column.in_(listed)
    return column.in_(list(values))


def json_list(values: Sequence[Any]) -> str:
    """``values`` as one compact JSON array: a single parameter for SQLite's ``json_each``."""
    return json.dumps(values, separators=(",", ":"))


class _TextArrayLiteral(sa.types.UserDefinedType[list[str]]):
    """A list of strings written into a PostgreSQL statement as ``ARRAY['a', …]::text[]``.

    ``column = ANY (ARRAY[…])`` is what PostgreSQL makes of ``column IN ('a', …)``
    (same plan), but rendered in one go: SQLAlchemy's rendering of one literal
    after another cost ~3 µs of CPU per value.
    """

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "text[]"

    def literal_processor(self, dialect: sa.Dialect) -> Callable[[list[str]], str]:
        percents = dialect.paramstyle in ("format", "pyformat")

        def quote(value: str) -> str:
            value = value.replace("'", "''")
            return "'" + (value.replace("%", "%%") if percents else value) + "'"

        def render(values: list[str]) -> str:
            return f"ARRAY[{','.join(map(quote, values))}]::text[]"

        return render


def among_many(
    kind: DatabaseKind, column: sa.ColumnElement[str], values: Sequence[str]
) -> sa.ColumnElement[bool]:
    """:func:`among` for the longest lists (a batch of a push, a version's chunks).

    On SQLite the list goes as one JSON text parameter that ``json_each`` reads
    back: with one parameter per value, binding a thousand of them cost more
    than the statement itself. On PostgreSQL it is :func:`among`: an array
    parameter gets the same linear generic plan as a list of parameters (and,
    joined through ``unnest`` on a table not analysed yet, a nested loop that
    took 37 s for 20,000 hashes), so the values stay literals, written as one
    array constant (:class:`_TextArrayLiteral`).
    """
    if kind is DatabaseKind.POSTGRESQL:
        listed = sa.bindparam(None, list(values), _TextArrayLiteral(), literal_execute=True)
        return column == sa.any_(listed)
    each = sa.func.json_each(sa.bindparam(None, json_list(values), sa.Text)).table_valued("value")
    return column.in_(sa.select(each.c.value))


def skip_locked(kind: DatabaseKind, stmt: sa.Select[Any]) -> sa.Select[Any]:
    """``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL (claim rows no other worker holds).

    SQLite has no row locks: its claim is one conditional UPDATE (writers are
    serialised), so the statement is returned as is.
    """
    if kind is DatabaseKind.POSTGRESQL:
        return stmt.with_for_update(skip_locked=True)
    return stmt


def json_array_has(
    kind: DatabaseKind, column: sa.ColumnElement[Any], key: str, value: str
) -> sa.ColumnElement[bool]:
    """Whether the JSON array ``column`` holds an object whose member ``key`` equals ``value``.

    ``jsonb @>`` containment on PostgreSQL, ``json_each`` on SQLite; ``key``
    and ``value`` are bound as parameters.
    """
    if kind is DatabaseKind.POSTGRESQL:
        wanted = sa.cast(sa.literal(json.dumps([{key: value}])), postgresql.JSONB)
        return column.op("@>")(wanted)
    each = sa.func.json_each(column).table_valued("value").alias("each_member")
    return (
        sa.select(sa.literal(1))
        .select_from(each)
        .where(sa.func.json_extract(each.c.value, sa.literal(f'$."{key}"')) == value)
        .exists()
    )


def json_number(
    kind: DatabaseKind, column: sa.ColumnElement[Any], path: Sequence[str]
) -> sa.ColumnElement[float]:
    """The number at ``path`` (object keys) inside a JSON column, else NULL.

    Numbers come back as numbers, ``true``/``false`` as 1/0 (so on/off states
    can be plotted), and anything else (strings, objects, missing keys) as
    NULL — never an error, because one odd message must not break a query.
    ``path`` segments are bound as parameters, never spliced into the SQL.
    """
    if kind is DatabaseKind.POSTGRESQL:
        value = sa.func.jsonb_extract_path(column, *(sa.literal(p, sa.Text) for p in path))
        json_type = sa.func.jsonb_typeof(value)
        return sa.case(
            (json_type == "number", sa.cast(value, sa.Float)),
            (json_type == "boolean", sa.case((sa.cast(value, sa.Boolean), 1.0), else_=0.0)),
            else_=sa.null(),
        )
    json_path = "$" + "".join(f'."{p}"' for p in path)
    sqlite_type = sa.func.json_type(column, json_path)
    return sa.type_coerce(
        sa.case(
            (sqlite_type.in_(("integer", "real")), sa.func.json_extract(column, json_path)),
            (sqlite_type == "true", 1.0),
            (sqlite_type == "false", 0.0),
            else_=sa.null(),
        ),
        sa.Float,
    )


def json_text(column: sa.ColumnElement[Any], key: str) -> sa.ColumnElement[str]:
    """The top-level member ``key`` of a JSON object column as text (``->>`` / ``json_extract``)."""
    return column[key].as_string()  # type: ignore[no-any-return]
