"""Real `yard serve` processes on loopback ports, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import pytest

from tests.conftest import ADMIN_KEY

YARD = str(Path(sys.executable).parent / "yard")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """One `yard serve` process; ``restart()`` brings it back on the same data."""

    data_dir: Path
    database_url: str
    port: int
    process: subprocess.Popen[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    """Extra ``FLEETYARD_*`` settings for this server."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir.parent / f"serve-{self.port}.log"

    def start(self, timeout: float = 90.0) -> None:
        # Generous: a cold start on a loaded 2-core machine has taken more than 30 s.
        env = {
            **os.environ,
            "FLEETYARD_BOOTSTRAP_API_KEY": ADMIN_KEY,
            "FLEETYARD_LOG_LEVEL": "warning",
            **self.env,
        }
        # Output goes to a file: an undrained pipe would block the server once full.
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                [
                    *(YARD, "serve", "--dev", "--port", str(self.port)),
                    *("--data-dir", str(self.data_dir), "--database-url", self.database_url),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"yard serve exited early:\n{self.log.read_text()}")
            try:
                if httpx2.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.1)
        self.kill()  # never leave a process behind (its ResourceWarning fails a later test)
        raise AssertionError(f"yard serve did not become ready:\n{self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, nothing is flushed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=15)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(
    data_dir: Path, database_url: str, env: dict[str, str] | None = None
) -> ServerProcess:
    """A started server on a free port; another free port when a process took it meanwhile."""
    for attempt in range(3):
        server = ServerProcess(data_dir, database_url, free_port(), env=env or {})
        try:
            server.start()
        except AssertionError:
            if attempt == 2 or "address already in use" not in server.log.read_text():
                raise
            continue
        return server
    raise AssertionError("unreachable")


@pytest.fixture
def server_process(tmp_path: Path, database_url: str) -> Iterator[ServerProcess]:
    server = start_server(tmp_path / "var", database_url)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server(server_process: ServerProcess) -> str:
    """The base URL of a running `yard serve`."""
    return server_process.url
