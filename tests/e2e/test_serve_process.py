"""`yard serve` as a real process, driven over a real socket by the SDK and the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from fleetyard import AsyncClient, Client, NotFoundError
from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import YARD, free_port

pytestmark = pytest.mark.e2e


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
    result = _yard(f"http://127.0.0.1:{free_port()}", "whoami", home=tmp_path)
    assert result.returncode == 3
    assert "127.0.0.1" in result.stderr


def test_serve_refuses_a_taken_port_before_anything_else(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [YARD, "serve", "--dev", "--port", str(port), "--data-dir", str(tmp_path / "var")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    assert (
        result.stderr.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    assert "Admin API key" not in result.stdout
    assert not (tmp_path / "var").exists()
