"""`yard tail --json` against a real `yard serve`: live lines, a restart survived, Ctrl-C is 0."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx2
import pytest

from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import YARD, ServerProcess

pytestmark = pytest.mark.e2e


class Tail:
    """`yard tail …` running, its stdout and stderr read line by line in the background."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [YARD, "tail", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self.out: queue.Queue[str] = queue.Queue()
        self.err: queue.Queue[str] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._pump, args=(self.process.stdout, self.out), daemon=True),
            threading.Thread(target=self._pump, args=(self.process.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _pump(stream: IO[str], into: queue.Queue[str]) -> None:
        for line in stream:
            into.put(line.rstrip("\n"))

    def interrupt(self) -> int:
        """Ctrl-C, then the exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=15)

    def finish(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for reader in self._readers:
            reader.join(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def _next(lines: queue.Queue[str], timeout: float = 20.0) -> str:
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError("yard tail printed nothing in time") from None


def _setup(url: str) -> tuple[httpx2.Client, str]:
    http = httpx2.Client(
        base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10.0
    )
    site = http.post("/v1/sites", json={"name": "main"}).json()["id"]
    agent = http.post("/v1/agents", json={"site_id": site, "name": "pump-1"})
    assert agent.status_code == 201, agent.text
    return http, agent.json()["id"]


def _publish(http: httpx2.Client, agent: str, channel: str, payload: Any) -> int:
    response = http.post(
        f"/v1/agents/{agent}/channels/{quote(channel, safe='')}/messages",
        json={"payload": payload},
    )
    assert response.status_code == 201, response.text
    seq: int = response.json()["seq"]
    return seq


def test_yard_tail_json_follows_resumes_and_exits_0_on_ctrl_c(
    server_process: ServerProcess, tmp_path: Path
) -> None:
    http, agent = _setup(server_process.url)
    _publish(http, agent, "#status", {"t": 1})
    _publish(http, agent, "#status", {"t": 2})
    env = {
        **os.environ,
        "FLEETYARD_URL": server_process.url,
        "FLEETYARD_API_KEY": ADMIN_KEY,
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    tail = Tail([agent, "#status", "--after", "0", "--json"], env)
    try:
        out, err = tail.out, tail.err
        first = [json.loads(_next(out)) for _ in range(2)]
        assert [(e["type"], e["seq"], e["message"]["payload"]) for e in first] == [
            ("message.created", 1, {"t": 1}),
            ("message.created", 2, {"t": 2}),
        ]
        assert first[0]["name"] == "#status"
        assert "sub" not in first[0]
        _publish(http, agent, "#status", {"t": 3})
        assert json.loads(_next(out))["seq"] == 3

        # The server goes away and comes back: tail says so once and carries on.
        server_process.stop()
        time.sleep(0.5)
        server_process.start()
        _publish(http, agent, "#status", {"t": 4})
        after = json.loads(_next(out))
        assert (after["seq"], after["message"]["payload"]) == (4, {"t": 4})
        notice = _next(err)
        assert notice.startswith("warning: connection lost")
        assert "reconnecting" in notice
        assert tail.interrupt() == 0
    finally:
        tail.finish()
        http.close()
    assert err.empty()  # said once
    assert out.empty()  # and nothing shown twice
    assert out.empty()  # nothing printed twice


def test_yard_tail_for_people_and_unknown_channels(
    server_process: ServerProcess, tmp_path: Path
) -> None:
    http, agent = _setup(server_process.url)
    _publish(http, agent, "status", {"t": 21.5})
    env = {
        **os.environ,
        "FLEETYARD_URL": server_process.url,
        "FLEETYARD_API_KEY": ADMIN_KEY,
        "XDG_CONFIG_HOME": str(tmp_path),
        "COLUMNS": "200",
    }
    tail = Tail([agent, "status", "--since", "1h"], env)
    try:
        line = _next(tail.out)
        stamp, seq, payload = line.split("  ")
        assert stamp.endswith("Z")
        assert (seq, payload) == ("#1", '{"t":21.5}')
        assert tail.interrupt() == 0
    finally:
        tail.finish()
        http.close()
    missing = subprocess.run(
        [YARD, "tail", agent, "nope", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 1
    assert json.loads(missing.stderr)["error"]["code"] == "not_found"
