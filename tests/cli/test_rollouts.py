"""`yard deploy` and `yard rollouts`: exact output, the SDK calls, following and exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import MagicMock

import pytest

from fleetyard import WaitTimeoutError
from fleetyard.protocol.rollouts import Rollout
from tests.cli.conftest import Yard
from tests.cli.fakes import T0, FakeSDK, api_error

VERSION_ID = "ver_" + "a" * 32


def rollout(
    state: str = "running",
    machines: tuple[str, ...] = ("succeeded", "queued"),
    rollout_id: str = "rol_1",
    **options: Any,
) -> Rollout:
    items = [
        {
            "agent_id": f"agt_{n}",
            "state": s,
            "wave": n - 1 if options.get("strategy") == "canary" else 0,
            "error": "health check failed" if s == "failed" else None,
            "started_at": None if s in ("queued", "skipped") else T0,
            "updated_at": T0,
            "finished_at": T0 if s in ("succeeded", "failed") else None,
        }
        for n, s in enumerate(machines, 1)
    ]
    return Rollout.model_validate(
        {
            "id": rollout_id,
            "app_id": "app_kiosk",
            "version_id": VERSION_ID,
            "version_number": 3,
            "state": state,
            "options": options or {"strategy": "all_at_once"},
            "counts": {s: machines.count(s) for s in set(machines)},
            "machines": items,
            "created_at": T0,
            "updated_at": T0,
            "finished_at": T0 if state in ("succeeded", "failed", "aborted") else None,
            "schedule_at": T0 + timedelta(minutes=10) if state == "scheduled" else None,
        }
    )


def handle(started: Rollout) -> MagicMock:
    """A stand-in for a RolloutHandle."""
    fake = MagicMock(name="RolloutHandle")
    fake.id = started.id
    fake.state = started.state
    fake.rollout = started
    return fake


def deploy_kwargs(**changed: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "machines": None,
        "canary": None,
        "rate": None,
        "abort_failure_percent": None,
        "machine_timeout": None,
        "schedule_at": None,
        "dry_run": False,
    }
    return {**kwargs, **changed}


def test_deploy_dry_run_lists_the_machines_and_waves(sdk: FakeSDK, yard: Yard) -> None:
    plan = rollout(
        "dry_run", ("queued", "queued", "queued"), "rol_dry", strategy="canary", canary_count=1
    )
    sdk.client.apps.deploy.return_value = handle(plan)

    result = yard("deploy", "app_kiosk", "--dry-run", "--canary", "1")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        f"Dry run: would deploy v3 ({VERSION_ID}) of app_kiosk to 3 machines in 3 waves;"
        " strategy: canary (1 machine).\n"
        "AGENT ID  WAVE  STATE   STARTED  FINISHED  ERROR\n"
        "agt_1     0     queued  -        -         -\n"
        "agt_2     1     queued  -        -         -\n"
        "agt_3     2     queued  -        -         -\n"
    )
    sdk.client.apps.deploy.assert_called_once_with(
        "app_kiosk", "current", **deploy_kwargs(canary=1, dry_run=True)
    )


def test_deploy_dry_run_json_is_the_plan(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.apps.deploy.return_value = handle(rollout("dry_run", ("queued",), "rol_dry"))

    result = yard("--json", "deploy", "app_kiosk", "--dry-run", "--wait")

    assert result.exit_code == 0
    body = json.loads(result.stdout)
    assert (body["state"], body["machines"][0]["agent_id"]) == ("dry_run", "agt_1")
    sdk.client.apps.deploy.return_value.wait.assert_not_called()


def test_deploy_passes_every_option(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.apps.deploy.return_value = handle(rollout("scheduled", ("queued", "queued")))

    result = yard(
        "deploy", "app_kiosk", "--version", "v2", "--machines", "agt_1, agt_2,", "--canary",
        "10%", "--abort-at", "20", "--machine-timeout", "600", "--in", "10m",
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        f"Scheduled rollout rol_1: v3 ({VERSION_ID}) of app_kiosk to 2 machines, starting"
        " 2026-11-02 09:40:15Z; strategy: all at once.\n"
    )
    sdk.client.apps.deploy.assert_called_once_with(
        "app_kiosk",
        "v2",
        **deploy_kwargs(
            machines=["agt_1", "agt_2"],
            canary="10%",
            abort_failure_percent=20.0,
            machine_timeout=600.0,
            schedule_at=timedelta(minutes=10),
        ),
    )


def test_deploy_at_a_rate_at_a_time(sdk: FakeSDK, yard: Yard) -> None:
    started = rollout(strategy="rate", rate_per_minute=5)
    sdk.client.apps.deploy.return_value = handle(started)

    result = yard("deploy", "app_kiosk", "--rate", "5", "--schedule", "2027-01-31T12:00")

    assert result.stdout == (
        f"Started rollout rol_1: v3 ({VERSION_ID}) of app_kiosk to 2 machines;"
        " strategy: rate (5/min).\n"
    )
    sdk.client.apps.deploy.assert_called_once_with(
        "app_kiosk",
        "current",
        **deploy_kwargs(rate=5, schedule_at=datetime(2027, 1, 31, 12, 0, tzinfo=UTC)),
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--canary", "0"), "neither a number of machines"),
        (("--canary", "150%"), "neither a number of machines"),
        (("--canary", "2", "--rate", "5"), "give --canary or --rate, not both"),
        (("--in", "10m", "--schedule", "2027-01-01"), "give --schedule or --in, not both"),
        (("--in", "soon"), "not a duration"),
        (("--machines", ","), "agent ids separated by commas"),
        (("--abort-at", "120"), "less than or equal to 100"),
    ],
)
def test_bad_deploy_options_are_usage_errors(
    sdk: FakeSDK, yard: Yard, args: tuple[str, ...], message: str
) -> None:
    result = yard("deploy", "app_kiosk", *args)

    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    sdk.client.apps.deploy.assert_not_called()


def test_deploy_wait_follows_to_success(sdk: FakeSDK, yard: Yard) -> None:
    fake = handle(rollout(machines=("queued", "queued")))
    sdk.client.apps.deploy.return_value = fake

    def wait(timeout: float | None, poll_interval: float, on_progress: Any) -> Rollout:
        on_progress(rollout(machines=("installing", "queued")))
        return rollout("succeeded", ("succeeded", "succeeded"))

    fake.wait.side_effect = wait

    result = yard("deploy", "app_kiosk", "--wait", "--interval", "5", "--timeout", "600")

    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        f"Started rollout rol_1: v3 ({VERSION_ID}) of app_kiosk to 2 machines;"
        " strategy: all at once.\n"
    )
    assert result.stdout == (
        f"Rollout rol_1: v3 ({VERSION_ID}) of app_kiosk, succeeded (2 succeeded)\n"
        "AGENT ID  WAVE  STATE      STARTED               FINISHED              ERROR\n"
        "agt_1     0     succeeded  2026-11-02 09:30:15Z  2026-11-02 09:30:15Z  -\n"
        "agt_2     0     succeeded  2026-11-02 09:30:15Z  2026-11-02 09:30:15Z  -\n"
    )
    fake.wait.assert_called_once()
    assert fake.wait.call_args.kwargs["timeout"] == 600
    assert fake.wait.call_args.kwargs["poll_interval"] == 5


def test_deploy_wait_json_failure_exits_1(sdk: FakeSDK, yard: Yard) -> None:
    fake = handle(rollout())
    sdk.client.apps.deploy.return_value = fake
    fake.wait.return_value = rollout("failed", ("succeeded", "failed", "failed"))

    result = yard("--json", "deploy", "app_kiosk", "--wait")

    assert result.exit_code == 1
    assert json.loads(result.stdout)["state"] == "failed"
    assert json.loads(result.stderr) == {
        "error": {
            "code": "rollout_failed",
            "detail": "rollout rol_1 failed: 1 succeeded, 2 failed;"
            " agt_2: health check failed (and 1 more)",
        }
    }


def test_deploy_errors_name_the_code(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.apps.deploy.side_effect = api_error(
        404, "version_not_found", "no version v9 of app_kiosk", request_id=None
    )

    result = yard("deploy", "app_kiosk", "--version", "v9")

    assert result.exit_code == 1
    assert result.stderr == "error: no version v9 of app_kiosk (code: version_not_found)\n"


def test_rollouts_list(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.rollouts.list.return_value = iter(
        [
            rollout("running", ("succeeded", "installing"), "rol_2", strategy="canary"),
            rollout("aborted", ("failed", "skipped"), "rol_1", strategy="rate", rate_per_minute=2),
        ]
    )

    result = yard("rollouts", "list", "app_kiosk", "--limit", "5")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "ID     VERSION  STATE    STRATEGY            SUCCEEDED  FAILED  CREATED\n"
        "rol_2  v3       running  canary (1 machine)  1/2        0       2026-11-02 09:30:15Z\n"
        "rol_1  v3       aborted  rate (2/min)        0/2        1       2026-11-02 09:30:15Z\n"
    )
    sdk.client.rollouts.list.assert_called_once_with("app_kiosk", limit=5)


def test_rollouts_list_empty_and_json(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.rollouts.list.return_value = iter([])
    assert yard("rollouts", "list", "app_kiosk").stdout == "No rollouts.\n"

    sdk.client.rollouts.list.return_value = iter([rollout()])
    listed = json.loads(yard("rollouts", "list", "app_kiosk", "--json").stdout)
    assert [r["id"] for r in listed] == ["rol_1"]


def test_rollouts_get(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.rollouts.get.return_value = rollout(
        "failed", ("succeeded", "failed"), strategy="canary", canary_percent=50.0
    )

    result = yard("rollouts", "get", "rol_1")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "╭─ Rollout rol_1 ──────────────────────────────────────╮\n"
        "│ App        app_kiosk                                 │\n"
        f"│ Version    v3 ({VERSION_ID}) │\n"
        "│ State      failed                                    │\n"
        "│ Strategy   canary (50%)                              │\n"
        "│ Machines   2 (1 succeeded, 1 failed)                 │\n"
        "│ Created    2026-11-02 09:30:15Z                      │\n"
        "│ Scheduled  -                                         │\n"
        "│ Finished   2026-11-02 09:30:15Z                      │\n"
        "╰──────────────────────────────────────────────────────╯\n"
        "AGENT ID  WAVE  STATE      STARTED               FINISHED              ERROR\n"
        "agt_1     0     succeeded  2026-11-02 09:30:15Z  2026-11-02 09:30:15Z  -\n"
        "agt_2     1     failed     2026-11-02 09:30:15Z  2026-11-02 09:30:15Z  health check"
        " failed\n"
    )
    sdk.client.rollouts.get.assert_called_once_with("rol_1")


def test_rollouts_get_json_is_one_document(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.rollouts.get.return_value = rollout()

    result = yard("rollouts", "get", "rol_1", "--json")

    body = json.loads(result.stdout)
    assert (body["id"], body["counts"]["succeeded"], len(body["machines"])) == ("rol_1", 1, 2)


def test_rollouts_cancel(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.rollouts.cancel.return_value = rollout("cancelled", ("succeeded", "cancelled"))

    result = yard("rollouts", "cancel", "rol_1")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Cancelled rollout rol_1 (cancelled; 1 succeeded, 1 cancelled).\n"
    sdk.client.rollouts.cancel.assert_called_once_with("rol_1")


def test_cancelling_a_finished_rollout_exits_1(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.rollouts.cancel.side_effect = api_error(
        409, "rollout_finished", "rollout rol_1 already finished", request_id=None
    )

    result = yard("rollouts", "cancel", "rol_1")

    assert result.exit_code == 1
    assert result.stderr == "error: rollout rol_1 already finished (code: rollout_finished)\n"


def test_watch_shows_the_last_frame_off_a_terminal(sdk: FakeSDK, yard: Yard) -> None:
    frames: list[Rollout] = []

    def wait(
        rollout_id: str, *, timeout: float | None, poll_interval: float, on_progress: Any
    ) -> Rollout:
        assert (rollout_id, timeout, poll_interval) == ("rol_1", None, 2.0)
        for frame in (rollout(machines=("installing", "queued")), rollout()):
            frames.append(frame)
            on_progress(frame)
        return rollout("succeeded", ("succeeded", "succeeded"))

    sdk.client.rollouts.wait.side_effect = wait

    result = yard("rollouts", "watch", "rol_1")

    assert result.exit_code == 0, result.stderr
    assert len(frames) == 2
    assert result.stdout == (
        f"Rollout rol_1: v3 ({VERSION_ID}) of app_kiosk, succeeded (2 succeeded)\n"
        "AGENT ID  WAVE  STATE      STARTED               FINISHED              ERROR\n"
        "agt_1     0     succeeded  2026-11-02 09:30:15Z  2026-11-02 09:30:15Z  -\n"
        "agt_2     0     succeeded  2026-11-02 09:30:15Z  2026-11-02 09:30:15Z  -\n"
    )
    assert result.stderr == ""


def test_watch_json_prints_the_final_rollout(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.rollouts.wait.return_value = rollout("succeeded", ("succeeded",))

    result = yard("rollouts", "watch", "rol_1", "--json", "--interval", "0.5")

    assert result.exit_code == 0
    assert json.loads(result.stdout)["state"] == "succeeded"
    assert sdk.client.rollouts.wait.call_args.kwargs["poll_interval"] == 0.5


@pytest.mark.parametrize("state", ["failed", "aborted", "cancelled"])
def test_watch_exits_1_unless_it_succeeded(sdk: FakeSDK, yard: Yard, state: str) -> None:
    sdk.client.rollouts.wait.return_value = rollout(state, ("failed", "skipped"))

    result = yard("--json", "rollouts", "watch", "rol_1")

    assert result.exit_code == 1
    assert json.loads(result.stdout)["state"] == state
    error = json.loads(result.stderr)["error"]
    assert error == {
        "code": f"rollout_{state}",
        "detail": f"rollout rol_1 {state}: 1 failed, 1 skipped; agt_1: health check failed",
    }


def test_watch_human_failure_line(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.rollouts.wait.return_value = rollout("aborted", ("failed", "skipped"))

    result = yard("rollouts", "watch", "rol_1")

    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (
        f"Rollout rol_1: v3 ({VERSION_ID}) of app_kiosk, aborted (1 failed, 1 skipped)"
    )
    assert result.stderr == (
        "error: rollout rol_1 aborted: 1 failed, 1 skipped; agt_1: health check failed"
        " (code: rollout_aborted)\n"
    )


def test_watch_timeout_is_a_one_line_error(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.rollouts.wait.side_effect = WaitTimeoutError("late", last=rollout())

    result = yard("rollouts", "watch", "rol_1", "--timeout", "30")

    assert result.exit_code == 1
    assert result.stderr == (
        "error: rollout rol_1 did not finish within 30s (still running); follow it with"
        " `yard rollouts watch rol_1` (code: wait_timeout)\n"
    )


def test_watch_unknown_rollout(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.rollouts.wait.side_effect = api_error(404, "not_found", "no rollout rol_9")

    result = yard("rollouts", "watch", "rol_9")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "error: no rollout rol_9 (code: not_found) [request id: req_42]\n"
