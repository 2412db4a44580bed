"""`yard serve` as a real process, driven over a real socket by the SDK and the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from fleetyard import AsyncClient, Client, NotFoundError
from tests.conftest import ADMIN_KEY

pytestmark = pytest.mark.e2e

YARD = str(Path(sys.executable).parent / "yard")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_ready(
    url: str, process: subprocess.Popen[str], log: Path, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"yard serve exited early:\n{log.read_text()}")
        try:
            if httpx2.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("yard serve did not become ready in time")


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "FLEETYARD_BOOTSTRAP_API_KEY": ADMIN_KEY,
        "FLEETYARD_LOG_LEVEL": "warning",
    }
    log = tmp_path / "serve.log"
    # Output goes to a file: an undrained pipe would block the server once full.
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                *(YARD, "serve", "--dev", "--port", str(port)),
                *("--data-dir", str(tmp_path / "var"), "--database-url", database_url),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _yard(url: str, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FLEETYARD_URL": url,
        "FLEETYARD_API_KEY": ADMIN_KEY,
        "XDG_CONFIG_HOME": str(home),
    }
    return subprocess.run(
        [YARD, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_sdk_and_cli_against_a_real_server(server: str, tmp_path: Path) -> None:
    with Client(api_key=ADMIN_KEY, base_url=server) as client:
        me = client.account.whoami()
        assert me.org.name == "default"
        site = client.sites.create("Lisbon office", description="first floor")
        assert [s.id for s in client.sites.list()] == [site.id]
        with pytest.raises(NotFoundError) as caught:
            client.sites.get("site_doesnotexist")
        assert caught.value.code == "not_found"
        assert caught.value.request_id

    listed = _yard(server, "--json", "sites", "list", home=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [s["name"] for s in json.loads(listed.stdout)] == ["Lisbon office"]

    missing = _yard(server, "sites", "get", "site_doesnotexist", home=tmp_path)
    assert missing.returncode == 1
    assert "(code: not_found)" in missing.stderr


@pytest.mark.anyio
async def test_async_sdk_against_a_real_server(server: str) -> None:
    async with AsyncClient(api_key=ADMIN_KEY, base_url=server) as client:
        created = await client.sites.create("Porto warehouse")
        names = [s.name async for s in client.sites.list()]
        assert names == ["Porto warehouse"]
        assert (await client.sites.get(created.id)).name == "Porto warehouse"


def test_cli_reports_an_unreachable_server(tmp_path: Path) -> None:
    result = _yard(f"http://127.0.0.1:{_free_port()}", "whoami", home=tmp_path)
    assert result.returncode == 3
    assert "127.0.0.1" in result.stderr
