"""`yard users`: the people of the organisation."""

from __future__ import annotations

from typing import Annotated

import typer

from fleetyard.cli import session, views
from fleetyard.cli.session import JsonOutput
from fleetyard.protocol.identity import UserRole

app = typer.Typer(
    name="users",
    help="Users: invite people, give them sites, make them admins.",
    no_args_is_help=True,
)

UserId = Annotated[
    str, typer.Argument(help="User id (usr_…).", metavar="USER_ID", show_default=False)
]
SiteIds = Annotated[
    list[str], typer.Argument(help="Site ids (site_…).", show_default=False, metavar="SITE...")
]


@app.command("list")
def list_users(
    ctx: typer.Context,
    site: Annotated[
        str | None, typer.Option("--site", help="Only the members of this site.")
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """List the users."""
    s = session.get(ctx, json_output)
    users = list(s.client.users.list(site_id=site))
    s.out.table(views.users_table(users), users)


@app.command("get")
def get(ctx: typer.Context, user_id: UserId, json_output: JsonOutput = False) -> None:
    """Show one user."""
    s = session.get(ctx, json_output)
    user = s.client.users.get(user_id)
    s.out.record(views.user_record(user), user)


@app.command("create")
def create(
    ctx: typer.Context,
    email: Annotated[
        str, typer.Argument(help="Their email address.", metavar="EMAIL", show_default=False)
    ],
    name: Annotated[str | None, typer.Option(help="Their display name.")] = None,
    password: Annotated[
        str | None,
        typer.Option(help="An initial password; without one they cannot log in yet."),
    ] = None,
    role: Annotated[UserRole, typer.Option(help="Organisation role.")] = UserRole.MEMBER,
    site: Annotated[
        list[str] | None, typer.Option("--site", help="Add them to this site (repeatable).")
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """Create (invite) a user."""
    s = session.get(ctx, json_output)
    user = s.client.users.create(
        email, name=name, password=password, role=role.value, site_ids=tuple(site or ())
    )
    s.out.record(views.user_record(user), user)


@app.command("promote")
def promote(ctx: typer.Context, user_id: UserId, json_output: JsonOutput = False) -> None:
    """Make a user an organisation admin."""
    s = session.get(ctx, json_output)
    user = s.client.users.promote(user_id)
    s.out.record(views.user_record(user), user)


@app.command("demote")
def demote(ctx: typer.Context, user_id: UserId, json_output: JsonOutput = False) -> None:
    """Make an admin a plain member again."""
    s = session.get(ctx, json_output)
    user = s.client.users.demote(user_id)
    s.out.record(views.user_record(user), user)


@app.command("add-sites")
def add_sites(
    ctx: typer.Context, user_id: UserId, site_ids: SiteIds, json_output: JsonOutput = False
) -> None:
    """Add a user to sites."""
    s = session.get(ctx, json_output)
    user = s.client.users.add_sites(user_id, site_ids)
    s.out.record(views.user_record(user), user)


@app.command("remove-sites")
def remove_sites(
    ctx: typer.Context, user_id: UserId, site_ids: SiteIds, json_output: JsonOutput = False
) -> None:
    """Remove a user from sites."""
    s = session.get(ctx, json_output)
    user = s.client.users.remove_sites(user_id, site_ids)
    s.out.record(views.user_record(user), user)


@app.command("delete")
def delete(
    ctx: typer.Context,
    user_id: UserId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_output: JsonOutput = False,
) -> None:
    """Delete a user."""
    s = session.get(ctx, json_output)
    if not yes and not s.out.confirm(f"Delete user {user_id}?"):
        raise typer.Abort
    s.client.users.delete(user_id)
    s.out.message(f"Deleted user {user_id}.", {"id": user_id, "deleted": True})
