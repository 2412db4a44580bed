"""`yard deploy` and `yard rollouts` on the real SDK and app, in-process."""

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


def test_deploy_dry_run_lists_the_target_machines(yard_app: Yard, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<h1>v1</h1>\n")
    site = json.loads(yard_app("--json", "sites", "create", "Kiosks").stdout)["id"]
    agents = [
        json.loads(yard_app("--json", "agents", "create", name, "--site", site).stdout)["id"]
        for name in ("kiosk-1", "kiosk-2", "kiosk-3")
    ]
    targets = [arg for agent_id in agents for arg in ("--target", agent_id)]
    created = yard_app(
        "apps", "create", "--site", site, "--name", "Kiosk", "--id", "app_kiosk", *targets
    )
    assert created.exit_code == 0, created.stderr
    pushed = yard_app("push", str(dist), "app_kiosk", "-m", "first")
    assert pushed.exit_code == 0, pushed.stderr

    plan = yard_app("deploy", "app_kiosk", "--dry-run", "--canary", "1")

    assert plan.exit_code == 0, plan.stderr
    lines = plan.stdout.splitlines()
    assert lines[0].startswith("Dry run: would deploy v1 (ver_")
    assert lines[0].endswith("of app_kiosk to 3 machines in 2 waves; strategy: canary (1 machine).")
    assert lines[1].split() == ["AGENT", "ID", "WAVE", "STATE", "STARTED", "FINISHED", "ERROR"]
    rows = [line.split() for line in lines[2:]]
    assert sorted(row[0] for row in rows) == sorted(agents)
    assert sorted(row[1] for row in rows) == ["0", "1", "1"]

    subset = yard_app("--json", "deploy", "app_kiosk", "--dry-run", "--machines", agents[0])
    assert subset.exit_code == 0, subset.stderr
    body = json.loads(subset.stdout)
    assert body["state"] == "dry_run"
    assert [m["agent_id"] for m in body["machines"]] == [agents[0]]

    # Nothing was stored by the dry runs.
    assert yard_app("rollouts", "list", "app_kiosk").stdout == "No rollouts.\n"


def test_deploy_then_list_get_and_cancel(yard_app: Yard, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "run.sh").write_text("echo hi\n")
    site = json.loads(yard_app("--json", "sites", "create", "Kiosks").stdout)["id"]
    agent = json.loads(yard_app("--json", "agents", "create", "kiosk-1", "--site", site).stdout)
    yard_app(
        "apps",
        "create",
        "--site",
        site,
        "--name",
        "K",
        "--id",
        "app_kiosk",
        "--target",
        agent["id"],
    )
    assert yard_app("push", str(dist), "app_kiosk").exit_code == 0

    started = yard_app("--json", "deploy", "app_kiosk", "--in", "1h")
    assert started.exit_code == 0, started.stderr
    rollout = json.loads(started.stdout)
    assert rollout["state"] == "scheduled"

    listed = yard_app("rollouts", "list", "app_kiosk").stdout.splitlines()
    assert listed[1].split()[:3] == [rollout["id"], "v1", "scheduled"]
    got = json.loads(yard_app("--json", "rollouts", "get", rollout["id"]).stdout)
    assert [m["agent_id"] for m in got["machines"]] == [agent["id"]]

    cancelled = yard_app("rollouts", "cancel", rollout["id"])
    assert cancelled.exit_code == 0, cancelled.stderr
    assert cancelled.stdout.startswith(f"Cancelled rollout {rollout['id']} (cancelled;")
    again = yard_app("rollouts", "cancel", rollout["id"])
    assert again.exit_code == 1
    assert "(code: rollout_finished)" in again.stderr

    watched = yard_app("--json", "rollouts", "watch", rollout["id"])
    assert watched.exit_code == 1
    assert json.loads(watched.stdout)["state"] == "cancelled"
    assert json.loads(watched.stderr)["error"]["code"] == "rollout_cancelled"
