"""One `yard` run: the global options, the output, and the SDK client.

The root callback puts a :class:`Session` on the click context; commands get
it with :func:`get` and use ``session.client`` (built on first use) and
``session.out``. Every SDK client of the CLI is built by :func:`make_client`,
the one seam tests replace (with a fake, or a ``Client`` on a mock or
in-process transport).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

import typer

from fleetyard import Client
from fleetyard.cli import config
from fleetyard.cli.output import Output
from fleetyard.protocol.identity import TokenResponse

JsonOutput = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout instead of tables."),
]
"""The ``--json`` flag every command takes (the same as the global one)."""


EXIT_USAGE = 2
"""Exit code of a usage error (typer's own, and the CLI's checks)."""


class CLIError(Exception):
    """A failure found by the CLI itself (no server involved): exit code 1."""

    def __init__(self, message: str, *, code: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.exit_code = exit_code


@dataclass(frozen=True)
class ClientOptions:
    """What a client is built from; ``None`` leaves the choice to the SDK (env, profile)."""

    api_key: str | None = None
    base_url: str | None = None
    profile: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    on_tokens: Callable[[TokenResponse], None] | None = None


def make_client(options: ClientOptions) -> Client:
    """Build an SDK client; the only place the CLI does so."""
    return Client(
        options.api_key,
        base_url=options.base_url,
        profile=options.profile,
        access_token=options.access_token,
        refresh_token=options.refresh_token,
        on_tokens=options.on_tokens,
    )


@dataclass
class Session:
    """Global options of the run, its output and the clients it opened."""

    out: Output
    profile: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    _client: Client | None = None
    _clients: list[tuple[ClientOptions, Client]] = field(default_factory=list)

    @property
    def client(self) -> Client:
        """The client the global options describe, built on first use."""
        if self._client is None:
            self._client = self.connect(self.client_options())
        return self._client

    def client_options(self) -> ClientOptions:
        return ClientOptions(
            api_key=self.api_key,
            base_url=self.base_url,
            profile=self.profile,
            # Tokens refreshed on the way are written back to the profile they came from.
            on_tokens=None if self.api_key else self._keep_tokens,
        )

    def connect(self, options: ClientOptions) -> Client:
        """A client built from ``options``, closed when the run ends."""
        client = make_client(options)
        self._clients.append((options, client))
        return client

    def server_url(self) -> str:
        """The URL the latest client talks to, to name it when it cannot be reached."""
        options = self._clients[-1][0] if self._clients else self.client_options()
        # The SDK's own resolution (argument > env > profile), so this is the URL it used.
        return config.server_url(options.base_url, options.profile)

    def close(self) -> None:
        for _, client in self._clients:
            client.close()
        self._clients.clear()
        self._client = None

    def _keep_tokens(self, tokens: TokenResponse) -> None:
        config.update_tokens(config.resolve_profile_name(self.profile), tokens)


def get(ctx: typer.Context, json_output: bool = False) -> Session:
    """The session of this run; ``json_output`` is the command's own ``--json``."""
    session = ctx.find_object(Session)
    if session is None:  # pragma: no cover - the root callback always sets it
        raise RuntimeError("yard commands run under the root callback")
    if json_output:
        session.out.json = True
    return session
