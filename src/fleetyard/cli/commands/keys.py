"""`yard keys`: API keys of the organisation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from fleetyard.cli import session, views
from fleetyard.cli.session import JsonOutput

app = typer.Typer(
    name="keys",
    help="API keys: create, rotate and revoke them. A secret is shown only once.",
    no_args_is_help=True,
)

KeyId = Annotated[
    str, typer.Argument(help="API key id (key_…).", metavar="KEY_ID", show_default=False)
]


def parse_instant(value: str) -> datetime:
    """An ISO 8601 instant; without a time zone it is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 date or time (e.g. 2027-01-31T12:00:00Z)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


@app.command("list")
def list_keys(ctx: typer.Context, json_output: JsonOutput = False) -> None:
    """List the API keys (never their secrets)."""
    s = session.get(ctx, json_output)
    keys = list(s.client.account.api_keys.list())
    s.out.table(views.keys_table(keys), keys)


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name to recognise the key by.", metavar="NAME")],
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            "-s",
            help="A scope RESOURCE:ID:PERMISSION, e.g. site:*:read (repeat for more).",
            show_default=False,
        ),
    ],
    test: Annotated[bool, typer.Option("--test", help="Make a test key (fy_test_…).")] = False,
    expires_at: Annotated[
        datetime | None,
        typer.Option(
            "--expires-at",
            parser=parse_instant,
            metavar="WHEN",
            help="Expiry, ISO 8601 (UTC when no zone is given).",
        ),
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """Create an API key and show its secret, once."""
    s = session.get(ctx, json_output)
    created = s.client.account.api_keys.create(
        name, scope, environment="test" if test else "live", expires_at=expires_at
    )
    s.out.secret(views.key_record(created), created, created.secret)


@app.command("rotate")
def rotate(
    ctx: typer.Context,
    key_id: KeyId,
    grace_seconds: Annotated[
        int,
        typer.Option("--grace-seconds", min=0, help="How long the old secret keeps working."),
    ] = 86_400,
    json_output: JsonOutput = False,
) -> None:
    """Replace a key with a new one; the old secret works for a grace period."""
    s = session.get(ctx, json_output)
    created = s.client.account.api_keys.rotate(key_id, grace_seconds=grace_seconds)
    s.out.secret(views.key_record(created), created, created.secret)


@app.command("revoke")
def revoke(ctx: typer.Context, key_id: KeyId, json_output: JsonOutput = False) -> None:
    """Revoke a key now: it stops working at once."""
    s = session.get(ctx, json_output)
    key = s.client.account.api_keys.revoke(key_id)
    s.out.record(views.key_record(key), key)
