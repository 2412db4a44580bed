"""`yard push`, `yard versions` and `yard rollback` on the real SDK and app, in-process."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from fleetyard import Client
from fleetyard.cli import session
from tests.cli.conftest import Yard
from tests.conftest import ADMIN_KEY
from tests.support.asgi import PortalASGITransport


@pytest.fixture
def yard_app(
    yard: Yard, monkeypatch: pytest.MonkeyPatch, app_transport: PortalASGITransport
) -> Yard:
    monkeypatch.setattr(session, "Client", functools.partial(Client, transport=app_transport))
    base = ("--base-url", "http://fleetyard.test", "--api-key", ADMIN_KEY)
    return lambda *args, **kw: yard(*base, *args, **kw)


def test_push_twice_list_diff_and_roll_back(yard_app: Yard, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    (dist / "sub").mkdir(parents=True)
    (dist / "index.html").write_text("<h1>v1</h1>\n")
    (dist / "sub" / "app.js").write_text("console.log(1)\n")
    site = json.loads(yard_app("--json", "sites", "create", "Kiosks").stdout)["id"]

    first = yard_app("--json", "push", str(dist), "app_kiosk", "--site", site, "-m", "first")
    assert first.exit_code == 0, first.stderr
    one = json.loads(first.stdout)
    assert (one["number"], one["stats"]["chunks_uploaded"]) == (1, 2)

    (dist / "index.html").write_text("<h1>v2</h1>\n")
    second = json.loads(yard_app("--json", "push", str(dist), "app_kiosk", "-m", "second").stdout)
    assert second["number"] == 2
    assert second["stats"]["chunks_uploaded"] == 1  # only the changed file travels
    assert second["stats"]["chunks_reused"] == 1

    listed = yard_app("versions", "list", "app_kiosk").stdout.splitlines()
    assert listed[0].split() == ["VERSION", "FILES", "SIZE", "CREATED", "DESCRIPTION"]
    assert [row.split()[:2] for row in listed[1:]] == [["v2", "*"], ["v1", "2"]]

    diff = json.loads(yard_app("--json", "versions", "diff", "app_kiosk", "current").stdout)
    assert [c["path"] for c in diff["changed"]] == ["index.html"]
    assert diff["added"] == diff["removed"] == []

    updated = yard_app(
        "--json", "apps", "update", "app_kiosk", "--health-command", "sh -c 'test -f index.html'"
    )
    assert json.loads(updated.stdout)["run"]["health_command"] == [
        "sh",
        "-c",
        "test -f index.html",
    ]
    nothing = yard_app("apps", "update", "app_kiosk")
    assert nothing.exit_code == 2
    assert "(code: usage)" in nothing.stderr

    rolled = yard_app("rollback", "app_kiosk")
    assert rolled.exit_code == 0, rolled.stderr
    assert rolled.stdout.startswith("app_kiosk is now at v1 ")

    unknown = yard_app("rollback", "app_kiosk", "--to", "v9")
    assert unknown.exit_code == 1
    assert "(code: version_not_found)" in unknown.stderr
