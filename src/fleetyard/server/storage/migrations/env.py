"""Alembic environment: runs on the connection handed over by ``Database.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from fleetyard.server.storage import device_tables as _device_tables  # noqa: F401
from fleetyard.server.storage import software_tables as _software_tables  # noqa: F401
from fleetyard.server.storage import telemetry_tables as _telemetry_tables  # noqa: F401
from fleetyard.server.storage.tables import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        # Command-line use (alembic revision --autogenerate): a sync URL is needed.
        url = config.get_main_option("sqlalchemy.url") or ""
        url = url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")
        with create_engine(url).connect() as conn:
            _configure_and_run(conn)
        return
    _configure_and_run(connection)


def _configure_and_run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=True,  # SQLite can only ALTER through table copies
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
