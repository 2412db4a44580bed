"""`yard profiles`: the named servers and credentials in the config file."""

from __future__ import annotations

from typing import Annotated

import typer

from fleetyard.cli import config, session, views
from fleetyard.cli.session import CLIError, JsonOutput

app = typer.Typer(
    name="profiles",
    help="Profiles: named servers and credentials (`yard login` creates them).",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(help="Profile name.", metavar="NAME", show_default=False)]


@app.command("list")
def list_profiles(ctx: typer.Context, json_output: JsonOutput = False) -> None:
    """List the profiles; the default one is marked with `*`."""
    s = session.get(ctx, json_output)
    entries = config.profile_entries()
    s.out.table(
        views.profiles_table(entries),
        [
            {"name": e.name, "default": e.default, "base_url": e.base_url, "auth": e.auth}
            for e in entries
        ],
    )


@app.command("use")
def use(ctx: typer.Context, name: Name, json_output: JsonOutput = False) -> None:
    """Make a profile the default."""
    s = session.get(ctx, json_output)
    _require(name)
    config.set_default(name)
    s.out.message(f"Profile {name!r} is now the default.", {"default_profile": name})


@app.command("delete")
def delete(ctx: typer.Context, name: Name, json_output: JsonOutput = False) -> None:
    """Delete a profile and its credentials from the config file."""
    s = session.get(ctx, json_output)
    _require(name)
    config.delete(name)
    s.out.message(f"Deleted profile {name!r}.", {"profile": name, "deleted": True})


def _require(name: str) -> None:
    if config.get_profile(name) is None:
        raise CLIError(f"there is no profile {name!r}", code="profile_not_found")
