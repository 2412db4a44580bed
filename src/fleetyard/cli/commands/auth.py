"""`yard login`, `yard logout` and `yard whoami`."""

from __future__ import annotations

from typing import Annotated

import typer

from fleetyard import APIConnectionError, APIError, AuthenticationError
from fleetyard.cli import config, session, views
from fleetyard.cli.session import ClientOptions, CLIError, JsonOutput
from fleetyard.protocol.errors import ErrorCode


def login(
    ctx: typer.Context,
    email: Annotated[str | None, typer.Option(help="Your email (asked when missing).")] = None,
    password: Annotated[
        str | None, typer.Option(help="Your password (asked, hidden, when missing).")
    ] = None,
    totp: Annotated[
        str | None, typer.Option(help="Two-factor code (asked when the server wants one).")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", help="Store this API key instead of logging in.")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Server URL to log in to.")
    ] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", help="Profile to save the credentials in.")
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """Log in and save the credentials in a profile.

    With --api-key the key is checked against the server and stored. Otherwise
    you are asked for your email and password (and a two-factor code when your
    account has one), and the session tokens are stored. The first profile
    saved becomes the default.
    """
    s = session.get(ctx, json_output)
    explicit_profile = profile or s.profile
    name = config.resolve_profile_name(explicit_profile)
    url = config.login_url(base_url or s.base_url, explicit_profile, name)
    key = api_key or s.api_key
    if key:
        client = s.connect(ClientOptions(api_key=key, base_url=url))
        principal = client.account.whoami()
        config.save_api_key(name, url, key)
        who = views.principal_name(principal)
    else:
        client = s.connect(ClientOptions(base_url=url))
        email = email or s.out.prompt("Email")
        password = password or s.out.prompt("Password", hide_input=True)
        try:
            tokens = client.auth.login(email, password, totp=totp)
        except AuthenticationError as exc:
            if exc.code != ErrorCode.TOTP_REQUIRED or totp:
                raise
            totp = s.out.prompt("Two-factor code")
            tokens = client.auth.login(email, password, totp=totp)
        config.save_tokens(name, url, tokens)
        who = email
    s.out.message(
        f"Logged in to {url} as {who}; saved in profile {name!r}.",
        {"profile": name, "base_url": url, "as": who},
    )


def logout(
    ctx: typer.Context,
    profile: Annotated[str | None, typer.Option("--profile", help="Profile to log out of.")] = None,
    json_output: JsonOutput = False,
) -> None:
    """Log out: revoke the session on the server and forget the credentials.

    The profile keeps its URL. An API key stored in the profile is only
    forgotten here, not revoked: use `yard keys revoke` for that.
    """
    s = session.get(ctx, json_output)
    name = config.resolve_profile_name(profile or s.profile)
    stored = config.get_profile(name)
    if stored is None:
        raise CLIError(f"there is no profile {name!r}", code="profile_not_found")
    revoked = False
    if stored.get("refresh_token"):
        # Named explicitly, the profile is taken whole: its URL and its tokens.
        client = s.connect(ClientOptions(profile=name))
        try:
            client.auth.logout()
            revoked = True
        except (APIConnectionError, APIError) as exc:
            # Forgetting the tokens locally is what was asked; the server side expires.
            s.out.warning(f"the server did not revoke the session: {exc}")
    config.clear_credentials(name)
    s.out.message(
        f"Logged out of profile {name!r}.",
        {"profile": name, "revoked": revoked},
    )


def whoami(ctx: typer.Context, json_output: JsonOutput = False) -> None:
    """Show who the current credentials belong to, and their scopes."""
    s = session.get(ctx, json_output)
    principal = s.client.account.whoami()
    s.out.record(views.principal_record(principal), principal)
