"""`yard sites` and `yard sites members`."""

from __future__ import annotations

from typing import Annotated

import typer

from fleetyard import NOT_GIVEN
from fleetyard.cli import session, views
from fleetyard.cli.session import JsonOutput
from fleetyard.protocol.identity import MemberRole

app = typer.Typer(
    name="sites",
    help="Sites: groups of machines (a building, a customer, a line) and their members.",
    no_args_is_help=True,
)
members = typer.Typer(
    name="members",
    help="Who works in a site, and with which role.",
    no_args_is_help=True,
)
app.add_typer(members)

SiteId = Annotated[
    str, typer.Argument(help="Site id (site_…).", metavar="SITE_ID", show_default=False)
]
UserId = Annotated[
    str, typer.Argument(help="User id (usr_…).", metavar="USER_ID", show_default=False)
]


@app.command("list")
def list_sites(ctx: typer.Context, json_output: JsonOutput = False) -> None:
    """List the sites."""
    s = session.get(ctx, json_output)
    sites = list(s.client.sites.list())
    s.out.table(views.sites_table(sites), sites)


@app.command("get")
def get(ctx: typer.Context, site_id: SiteId, json_output: JsonOutput = False) -> None:
    """Show one site."""
    s = session.get(ctx, json_output)
    site = s.client.sites.get(site_id)
    s.out.record(views.site_record(site), site)


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Site name.", metavar="NAME", show_default=False)],
    description: Annotated[str | None, typer.Option(help="What the site is.")] = None,
    json_output: JsonOutput = False,
) -> None:
    """Create a site."""
    s = session.get(ctx, json_output)
    site = s.client.sites.create(name, description=description)
    s.out.record(views.site_record(site), site)


@app.command("update")
def update(
    ctx: typer.Context,
    site_id: SiteId,
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    description: Annotated[str | None, typer.Option(help='New description ("" clears it).')] = None,
    json_output: JsonOutput = False,
) -> None:
    """Change the name or description of a site."""
    s = session.get(ctx, json_output)
    if name is None and description is None:
        raise typer.BadParameter("nothing to change: give --name and/or --description")
    site = s.client.sites.update(
        site_id,
        name=NOT_GIVEN if name is None else name,
        description=NOT_GIVEN if description is None else (description or None),
    )
    s.out.record(views.site_record(site), site)


@members.command("list")
def list_members(ctx: typer.Context, site_id: SiteId, json_output: JsonOutput = False) -> None:
    """List the members of a site."""
    s = session.get(ctx, json_output)
    items = list(s.client.members(site_id).list())
    s.out.table(views.members_table(items), items)


@members.command("add")
def add_member(
    ctx: typer.Context,
    site_id: SiteId,
    user_id: UserId,
    role: Annotated[MemberRole, typer.Option(help="Role in the site.")] = MemberRole.OPERATOR,
    json_output: JsonOutput = False,
) -> None:
    """Add a user to a site, or change their role there."""
    s = session.get(ctx, json_output)
    member = s.client.members(site_id).add(user_id, role=role.value)
    s.out.record(views.member_record(member), member)


@members.command("remove")
def remove_member(
    ctx: typer.Context, site_id: SiteId, user_id: UserId, json_output: JsonOutput = False
) -> None:
    """Remove a user from a site."""
    s = session.get(ctx, json_output)
    s.client.members(site_id).remove(user_id)
    s.out.message(
        f"Removed {user_id} from {site_id}.",
        {"site_id": site_id, "user_id": user_id, "removed": True},
    )
