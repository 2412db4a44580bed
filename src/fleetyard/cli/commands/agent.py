"""`yard agent run`: run the device agent on this machine until stopped.

The server URL comes from ``--url``, else the global ``--base-url``, else
``[server].url`` of ``--config``, else ``FLEETYARD_URL``; the agent's token from
``--token``, else ``[server].token`` / ``token_file``, else
``FLEETYARD_AGENT_TOKEN``. Ctrl-C or SIGTERM stop it cleanly (exit 0) after
flushing what it can.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from fleetyard.cli import session
from fleetyard.cli.session import EXIT_USAGE, CLIError

app = typer.Typer(
    name="agent",
    help="The device agent: connect this machine to the server and run its commands.",
    no_args_is_help=True,
)


def _line(kind: str, data: dict[str, Any]) -> str:
    if kind == "started":
        parts = [f"agent {data['agent_version']} started: server {data['server_url']}"]
        if data.get("local_api"):
            parts.append(f"local API {data['local_api']}")
        if data.get("simulated_devices"):
            parts.append(f"{data['simulated_devices']} simulated devices")
        parts.append(f"{data['outbox_pending']} waiting in the outbox")
        return ", ".join(parts)
    if kind == "connected":
        return f"connected as {data['agent_id']}"
    if kind == "stopped":
        return "agent stopped"
    return f"{kind}: {data}"


@app.command("run")
def run(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", dir_okay=False, help="agent.toml (see docs/agent.md)."),
    ] = None,
    simulate: Annotated[
        Path | None,
        typer.Option(
            "--simulate",
            dir_okay=False,
            metavar="SETUP.json",
            help="Simulate the devices of this gateway setup JSON.",
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            metavar="URL",
            help="Server URL (else --base-url, [server].url, FLEETYARD_URL).",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            metavar="TOKEN",
            help="Agent token (else [server].token, token_file, FLEETYARD_AGENT_TOKEN).",
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", file_okay=False, help="Where the outbox lives."),
    ] = None,
    local_port: Annotated[
        int | None,
        typer.Option(
            "--local-port", min=0, max=65535, help="Port of the local API (0: any free one)."
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON object per line: started, connected…")
    ] = False,
) -> None:
    """Run the agent: keep a session with the server, run commands, relay local telemetry."""
    s = session.get(ctx, json_output)
    try:
        from fleetyard.agent.config import ConfigProblem, load_config
        from fleetyard.agent.handlers import HandlerError
        from fleetyard.agent.runner import AgentRunner
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
        raise CLIError(
            f"the agent cannot start ({exc.name} is missing): pip install 'fleetyard[agent]'",
            code="agent_not_installed",
        ) from None
    try:
        cfg = load_config(config, data_dir=data_dir)
    except ConfigProblem as exc:
        raise CLIError(str(exc), code="config_invalid", exit_code=EXIT_USAGE) from None
    if simulate is not None:
        cfg.simulator.setup = simulate
    if local_port is not None:
        cfg.local_api.port = local_port
    server_url = url or s.base_url or cfg.server_url()
    agent_token = token or cfg.token()
    if not server_url:
        raise CLIError(
            "no server URL: give --url, [server].url or FLEETYARD_URL",
            code="usage",
            exit_code=EXIT_USAGE,
        )
    if not agent_token:
        raise CLIError(
            "no agent token: give --token, [server].token(_file) or FLEETYARD_AGENT_TOKEN",
            code="usage",
            exit_code=EXIT_USAGE,
        )

    def on_event(kind: str, data: dict[str, Any]) -> None:
        if kind in ("disconnected", "rejected", "log") and not s.out.json:
            s.out.warning(f"{kind}: " + ", ".join(f"{k}={v}" for k, v in data.items()))
            return
        s.out.stream_item(_line(kind, data), {"event": kind, **data})

    try:
        runner = AgentRunner(cfg, url=server_url, token=agent_token, on_event=on_event)
    except (HandlerError, OSError, ValueError) as exc:
        raise CLIError(f"the agent cannot start: {exc}", code="agent_config_invalid") from None

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # pragma: no cover - Windows
                loop.add_signal_handler(sig, runner.stop)
        await runner.run()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
