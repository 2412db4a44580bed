"""`yard devices` and friends on the real SDK and the real app, in-process (both databases)."""

from __future__ import annotations

import functools
import json

import pytest

from fleetyard import Client
from fleetyard.cli import session
from tests.cli.conftest import Yard
from tests.conftest import ADMIN_KEY
from tests.support.asgi import PortalASGITransport
from tests.support.fixtures import LOCAL_TAHOMA

SETUP = LOCAL_TAHOMA
BLIND = "io://1234-5678-3293/3541212"

pytestmark = pytest.mark.skipif(
    not SETUP.exists(), reason="the shared Overkiz fixtures are missing"
)


@pytest.fixture
def yard_app(
    yard: Yard, monkeypatch: pytest.MonkeyPatch, app_transport: PortalASGITransport
) -> Yard:
    monkeypatch.setattr(session, "Client", functools.partial(Client, transport=app_transport))
    base = ("--base-url", "http://fleetyard.test", "--api-key", ADMIN_KEY)
    return lambda *args, **kw: yard(*base, *args, **kw)


def test_import_list_get_states(yard_app: Yard, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # real ids are long
    site = json.loads(yard_app("--json", "sites", "create", "Home").stdout)["id"]
    created = yard_app("--json", "agents", "create", "tahoma", "--site", site, "--kind", "gateway")
    gateway = json.loads(created.stdout)["id"]

    imported = yard_app("devices", "import", str(SETUP), "--gateway", gateway)
    assert imported.exit_code == 0, imported.stderr
    count = len(json.loads(SETUP.read_text())["devices"])
    assert imported.stdout.startswith(f"Imported into {gateway}: ")

    listed = yard_app("devices", "list", "--gateway", gateway)
    rows = listed.stdout.splitlines()
    assert rows[0].split() == ["DEVICE", "URL", "LABEL", "UI", "CLASS", "AVAILABLE"]
    assert BLIND in listed.stdout
    assert 0 < len(rows) - 1 <= count

    got = json.loads(yard_app("--json", "devices", "get", BLIND).stdout)
    assert (got["device_url"], got["gateway_id"]) == (BLIND, gateway)
    states = yard_app("devices", "states", got["id"])
    assert states.stdout.splitlines()[0].split() == ["NAME", "TYPE", "VALUE"]

    screens = yard_app("--json", "devices", "list", "--ui-class", "ExteriorScreen")
    assert BLIND in {d["device_url"] for d in json.loads(screens.stdout)}


def test_an_unknown_device_is_a_one_line_error(yard_app: Yard) -> None:
    result = yard_app("devices", "get", "io://1234-5678-3293/404")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "(code: no_such_device)" in result.stderr
