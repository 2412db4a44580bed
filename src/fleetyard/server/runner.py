"""``yard serve``: settings from flags and environment, then uvicorn."""

from __future__ import annotations

import sys
from pathlib import Path

from fleetyard._version import __version__
from fleetyard.server.settings import InsecureSettingsError, Settings, load_settings
from fleetyard.server.state import AppState

BOOTSTRAP_KEY_FILE = "bootstrap-key"


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


def serve(
    *,
    host: str | None = None,
    port: int | None = None,
    data_dir: Path | str | None = None,
    database_url: str | None = None,
    dev: bool | None = None,
) -> None:
    """Run the server in the foreground until interrupted."""
    import uvicorn

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

    def announce(state: AppState) -> None:
        print(banner(settings, state), flush=True)

    app = create_app(settings, on_ready=announce)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        server_header=False,
        proxy_headers=True,
    )
