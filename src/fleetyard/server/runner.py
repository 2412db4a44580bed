"""``yard serve``: settings from flags and environment, then uvicorn."""

from __future__ import annotations

import contextlib
import gc
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetyard._version import __version__
from fleetyard.server.settings import InsecureSettingsError, Settings, load_settings
from fleetyard.server.state import AppState

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

BOOTSTRAP_KEY_FILE = "bootstrap-key"
STARTUP_FAILURE = 3
"""The exit code of a server that could not start (as uvicorn's own)."""


def build_server(app: FastAPI, **options: Any) -> uvicorn.Server:
    """A uvicorn server for ``app`` that ends its streams before it waits for connections.

    WebSocket and SSE streams never finish on their own, so a plain uvicorn
    would wait for them forever on shutdown; these close first (clients
    reconnect and resume). ``options`` are :class:`uvicorn.Config` arguments.
    """
    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[Any] | None = None) -> None:
            state = getattr(app.state, "fleetyard", None)
            if isinstance(state, AppState):
                await state.close_streams()
            await super().shutdown(sockets)

    # Stream frames are small, and compressing the same event once per subscriber
    # costs more CPU than everything else the fan-out does; clients may not ask for it.
    options.setdefault("ws_per_message_deflate", False)
    return Server(uvicorn.Config(app, **options))


def banner(settings: Settings, state: AppState) -> str:
    """What a person sees when the server is ready: where, which key, how to start."""
    url = f"http://{settings.host}:{settings.port}"
    lines = [
        f"Fleetyard {__version__} is ready on {url}",
        f"  database: {state.database.kind.value}"
        + (f"  data: {settings.data_dir}" if state.database.kind.value == "sqlite" else ""),
    ]
    key = state.bootstrap_api_key
    key_file = Path(settings.data_dir) / BOOTSTRAP_KEY_FILE
    if key:
        lines += [
            "",
            f"  Admin API key (shown once; also saved with mode 0600 in {key_file}):",
            f"    {key}",
        ]
    elif key_file.exists():
        lines += ["", f"  Admin API key: see {key_file}"]
    shown = key or "<your API key>"
    lines += [
        "",
        "  Quickstart (Python):",
        "    from fleetyard import Client",
        f'    client = Client(api_key="{shown}", base_url="{url}")',
        "    print(client.account.whoami())",
        "",
    ]
    return "\n".join(lines)


def _check_port_free(host: str, port: int) -> None:
    """Fail with one line before start-up when the port is taken.

    Otherwise the ready banner (and a new admin key) would be printed first and
    uvicorn's bind error would follow it. Not race-free, only friendlier.
    """
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            print(f"error: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
            raise SystemExit(2) from exc


def serve(
    *,
    host: str | None = None,
    port: int | None = None,
    data_dir: Path | str | None = None,
    database_url: str | None = None,
    dev: bool | None = None,
) -> None:
    """Run the server in the foreground until interrupted."""
    from fleetyard.server.app import create_app
    from fleetyard.server.services.bootstrap import BootstrapError, check_bootstrap_key

    settings = load_settings(
        host=host, port=port, data_dir=data_dir, database_url=database_url, dev=dev or None
    )
    try:
        settings.ensure_safe()
        if settings.bootstrap_api_key is not None:
            check_bootstrap_key(settings.bootstrap_api_key.get_secret_value())
    except (InsecureSettingsError, BootstrapError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    _check_port_free(settings.host, settings.port)

    def announce(state: AppState) -> None:
        # Everything built so far (FastAPI, pydantic schemas, SQLAlchemy metadata,
        # the migrated engine) lives as long as the process; moved out of the
        # collector's view, a full collection no longer walks it. Measured under
        # the publish bench: full collections paused the event loop (and, holding
        # the GIL, the ingest writer's thread) for 100-140 ms, the publish p99.
        gc.collect()
        gc.freeze()
        print(banner(settings, state), flush=True)

    app = create_app(settings, on_ready=announce)
    server = build_server(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # One access line per request is the norm for a web app, but telemetry
        # arrives as thousands of small publishes a second: the line costs ~4% of
        # a publish's CPU (and a write to stdout) while adding nothing the
        # request's own errors do not already log. Shown at debug level.
        access_log=settings.log_level.lower() == "debug",
        server_header=False,
        proxy_headers=True,
        http=settings.http,
        loop=settings.loop,
    )
    # What uvicorn.run() does around Server.run(): Ctrl-C is a normal end, and a
    # server that never started (port taken, database unreachable) exits non-zero.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)
