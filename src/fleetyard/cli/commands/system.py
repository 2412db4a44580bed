"""`yard system`: what the server is and how it runs."""

from __future__ import annotations

import typer

from fleetyard.cli import session, views
from fleetyard.cli.session import JsonOutput

app = typer.Typer(
    name="system", help="The server: version, database, uptime.", no_args_is_help=True
)


@app.command("info")
def info(ctx: typer.Context, json_output: JsonOutput = False) -> None:
    """Show the server's version, API version, database and uptime."""
    s = session.get(ctx, json_output)
    system_info = s.client.system.info()
    s.out.record(views.system_record(system_info), system_info)
