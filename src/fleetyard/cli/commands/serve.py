"""`yard serve`: run the Fleetyard server in this process.

The only CLI module that touches ``fleetyard.server``, and only inside the
command, so `yard` without the ``server`` extra still starts fast and works.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fleetyard.cli.session import CLIError


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (else FLEETYARD_HOST, 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port to listen on (else FLEETYARD_PORT, 8700)."),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            file_okay=False,
            help="Where the SQLite database and the blobs live (else FLEETYARD_DATA_DIR).",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="SQLAlchemy URL (else FLEETYARD_DATABASE_URL, SQLite in the data dir).",
        ),
    ] = None,
    dev: Annotated[
        bool | None,
        typer.Option("--dev/--no-dev", help="Development mode (else FLEETYARD_DEV, off)."),
    ] = None,
) -> None:
    """Run the server (API, jobs and bus in one process) until interrupted.

    Options left out come from the environment (FLEETYARD_…) or the defaults.
    """
    try:
        from fleetyard.server.runner import serve as run_server
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "fleetyard":
            raise
        raise CLIError(
            f"the server is not installed ({exc.name} is missing): pip install 'fleetyard[server]'",
            code="server_not_installed",
        ) from None
    run_server(host=host, port=port, data_dir=data_dir, database_url=database_url, dev=dev)
