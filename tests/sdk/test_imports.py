"""`import fleetyard` is the SDK only: no server, no CLI, no ASGI stack."""

from __future__ import annotations

import json
import subprocess
import sys

import fleetyard

HEAVY = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "typer", "rich", "argon2")


def test_importing_fleetyard_does_not_pull_in_the_server_or_cli() -> None:
    code = (
        "import json, sys, fleetyard;"
        "fleetyard.Client; fleetyard.AsyncClient;"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith("
        f"{HEAVY!r}) or m.startswith(('fleetyard.server', 'fleetyard.cli')))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == []


def test_public_names() -> None:
    for name in (
        "Client",
        "AsyncClient",
        "RetryPolicy",
        "NOT_GIVEN",
        "FleetyardError",
        "APIError",
        "APIStatusError",
        "APIConnectionError",
        "APITimeoutError",
        "NotFoundError",
        "TokenExpiredError",
        "IdempotencyKeyMismatchError",
        "RawResponse",
        "__version__",
    ):
        assert name in fleetyard.__all__
        assert hasattr(fleetyard, name)
    assert fleetyard.__version__
    assert repr(fleetyard.NOT_GIVEN) == "NOT_GIVEN"
    assert not fleetyard.NOT_GIVEN
    assert fleetyard.NotGiven() is fleetyard.NOT_GIVEN
