"""Real `yard agent run` processes next to a real `yard serve`, for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from fleetyard import Client
from tests.e2e.conftest import YARD

T = TypeVar("T")


@dataclass
class AgentProcess:
    """One `yard agent run --simulate SETUP` process with its own data dir and config."""

    home: Path
    url: str
    token: str
    setup: Path | None = None
    """A gateway setup to simulate (``--simulate``); None for a plain machine."""
    step_seconds: float = 0.3
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[str] | None = field(default=None, repr=False)

    @property
    def log(self) -> Path:
        return self.home / "agent.log"

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "agent.toml"
        config.write_text(
            f'data_dir = "{self.home / "data"}"\n'
            "[connection]\nbackoff_base_seconds = 0.2\nbackoff_max_seconds = 1\n"
            "[local_api]\nenabled = false\n"
            f"[simulator]\nstep_seconds = {self.step_seconds}\nsteps = 4\n"
        )
        env = {**os.environ, "FLEETYARD_AGENT_TOKEN": self.token, **self.env}
        simulate = ("--simulate", str(self.setup)) if self.setup is not None else ()
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                [
                    *(YARD, "agent", "run", "--json", "--config", str(config)),
                    *simulate,
                    *("--url", self.url),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )

    @property
    def apps(self) -> Path:
        """Where this agent keeps deployed apps (the default ``<data_dir>/apps``)."""
        return self.home / "data" / "apps"

    def events(self) -> list[dict[str, object]]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [json.loads(line) for line in lines if line.startswith("{")]

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"yard agent ignored SIGTERM:\n{self.log.read_text()}") from None


def eventually(check: Callable[[], T | None], *, timeout: float = 20.0, what: str = "") -> T:
    """Poll ``check`` until it returns something truthy (the state of another process)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.1)


def wait_online(client: Client, agent_id: str, online: bool = True) -> None:
    eventually(
        lambda: client.agents.get(agent_id).online is online,
        timeout=60.0,  # a cold `yard agent` start on a loaded machine takes a while
        what=f"agent {agent_id} online={online}",
    )
