"""The `yard` command tree, its global options and how failures become exit codes.

Exit codes: 0 success, 1 the server refused (an API error) or the CLI did
(``CLIError``), 2 bad usage, 3 the server could not be reached.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from fleetyard import APIConnectionError, APIError, ConfigError
from fleetyard._version import __version__
from fleetyard.cli import session
from fleetyard.cli.commands import (
    agent,
    agents,
    apps,
    auth,
    channels,
    devices,
    events,
    executions,
    keys,
    profiles,
    push,
    rollouts,
    scenes,
    serve,
    sites,
    system,
    tail,
    telemetry,
    users,
)
from fleetyard.cli.output import Output
from fleetyard.protocol.errors import Problem

EXIT_API_ERROR = 1
EXIT_USAGE = session.EXIT_USAGE
EXIT_UNREACHABLE = 3

CONNECTION_ERROR = "connection_error"
"""The code `yard` reports when no answer came (the server never sent a problem)."""


class YardGroup(TyperGroup):
    """The root group: turns SDK and CLI errors into one line and an exit code."""

    # typer.Context is the click context the base class takes, with typer's name on it.
    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except APIConnectionError as exc:
            s = _session_of(ctx)
            url = s.server_url()
            # The transport's reason ("Connection refused") says more than the SDK's summary.
            reason = str(exc.__cause__ or "") or exc.message
            s.out.error(
                f"cannot reach the server at {url}: {reason}",
                code=CONNECTION_ERROR,
                details={"code": CONNECTION_ERROR, "url": url},
            )
            raise typer.Exit(EXIT_UNREACHABLE) from None
        except APIError as exc:
            _session_of(ctx).out.error(
                api_error_message(exc),
                code=exc.code,
                request_id=exc.request_id,
                status=exc.status,
                details=_problem_dict(exc.problem),
            )
            raise typer.Exit(EXIT_API_ERROR) from None
        except session.CLIError as exc:
            _session_of(ctx).out.error(exc.message, code=exc.code)
            raise typer.Exit(exc.exit_code) from None
        except ConfigError as exc:
            _session_of(ctx).out.error(str(exc), code="config_error")
            raise typer.Exit(EXIT_API_ERROR) from None


def api_error_message(exc: APIError) -> str:
    """The problem's detail (or title), with the invalid fields when there are some."""
    problem = exc.problem
    if problem is None:
        # The SDK's own summary, without the request id the error line adds anyway.
        suffix = f" (request {exc.request_id})"
        return exc.message.removesuffix(suffix) if exc.request_id else exc.message
    message = problem.detail or problem.title
    # The server's detail often spells out the first invalid fields already; repeating
    # them doubles the line, so only the fields it does not mention are added.
    fields = [
        f"{'.'.join(str(part) for part in error.loc)}: {error.message}"
        for error in problem.errors or []
        if error.message not in message
    ]
    # "Bad command.: body.x: …" reads badly: the fields continue the sentence.
    return f"{message.rstrip('.')}: {'; '.join(fields)}" if fields else message


def _problem_dict(problem: Problem | None) -> dict[str, Any] | None:
    return None if problem is None else problem.model_dump(mode="json", exclude_none=True)


def _session_of(ctx: typer.Context) -> session.Session:
    found = ctx.find_object(session.Session)
    # Errors before the root callback ran have no session yet: print plainly.
    return found if found is not None else session.Session(out=Output())


def _show_version(value: bool) -> None:
    if value:
        Output().line(f"yard {__version__}")
        raise typer.Exit


app = typer.Typer(
    name="yard",
    cls=YardGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile", "-p", metavar="NAME", help="Profile to use (else FLEETYARD_PROFILE)."
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON document on stdout instead of tables.")
    ] = False,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", metavar="URL", help="Server URL (else FLEETYARD_URL)."),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", metavar="KEY", help="API key (else FLEETYARD_API_KEY)."),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_show_version, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Fleetyard from the command line: `yard <noun> <verb>`.

    Credentials come from --api-key, FLEETYARD_API_KEY or a profile saved by
    `yard login`. Exit codes: 1 the server refused, 2 bad usage, 3 the server
    could not be reached.
    """
    s = session.Session(
        out=Output(json=json_output), profile=profile, base_url=base_url, api_key=api_key
    )
    ctx.obj = s
    ctx.call_on_close(s.close)


app.command("serve")(serve.serve)
app.command("login")(auth.login)
app.command("logout")(auth.logout)
app.command("whoami")(auth.whoami)
app.add_typer(profiles.app)
app.add_typer(keys.app)
app.add_typer(users.app)
app.add_typer(sites.app)
app.add_typer(system.app)
app.add_typer(agents.app)
app.add_typer(agent.app)
app.add_typer(channels.app)
app.command("publish")(telemetry.publish)
app.command("messages")(telemetry.messages)
app.command("aggregate")(telemetry.aggregate)
app.command("timeseries")(telemetry.timeseries)
app.command("tail")(tail.tail)
app.add_typer(devices.app)
app.command("exec")(executions.exec_command)
app.add_typer(executions.app)
app.add_typer(scenes.app)
app.command("events")(events.events)
app.add_typer(apps.app)
app.command("push")(push.push)
app.add_typer(push.versions)
app.command("rollback")(push.rollback)
app.command("deploy")(rollouts.deploy)
app.add_typer(rollouts.app)


def main() -> None:
    """Console entry point of `yard`."""
    app()
