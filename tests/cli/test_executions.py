"""`yard exec` and `yard executions`: exact output, the SDK calls, --wait and exit codes."""

from __future__ import annotations

import json

import pytest

from fleetyard import WaitTimeoutError
from fleetyard.cli.commands.executions import json_or_text
from fleetyard.protocol.executions import Execution
from tests.cli.conftest import Yard
from tests.cli.device_fakes import URL, execution, handle
from tests.cli.fakes import FakeSDK, api_error


@pytest.mark.parametrize(
    ("text", "value"),
    [("50", 50), ("2.5", 2.5), ("true", True), ("open", "open"), ('"50"', "50"), ("NaN", "NaN")],
)
def test_params_are_json_when_they_parse(text: str, value: object) -> None:
    assert json_or_text(text) == value


def test_exec_sends_one_action(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.executions.execute.return_value = handle()

    result = yard("exec", URL, "setClosure", "50")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Started execution exe_1 on agt_gw (initialized).\n"
    sdk.client.executions.execute.assert_called_once_with(
        actions=[{"device_url": URL, "commands": [{"name": "setClosure", "parameters": [50]}]}],
        label=None,
        mode="default",
        gateway_id=None,
        queue=None,
    )


def test_exec_options(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.executions.execute.return_value = handle("queued")

    result = yard(
        "exec", URL, "setPosition", "30", "slow", "--gateway", "agt_gw", "--label", "Dusk",
        "--mode", "high_priority", "--queue",
    )  # fmt: skip

    assert result.stdout == "Queued execution exe_1 on agt_gw (queued).\n"
    sdk.client.executions.execute.assert_called_once_with(
        actions=[
            {"device_url": URL, "commands": [{"name": "setPosition", "parameters": [30, "slow"]}]}
        ],
        label="Dusk",
        mode="high_priority",
        gateway_id="agt_gw",
        queue=True,
    )


def test_exec_json(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.executions.execute.return_value = handle()

    result = yard("exec", URL, "open", "--json")

    assert json.loads(result.stdout) == {
        "id": "exe_1",
        "state": "initialized",
        "gateway_id": "agt_gw",
    }


def test_exec_wait_shows_progress_then_the_execution(sdk: FakeSDK, yard: Yard) -> None:
    fake = handle()
    sdk.client.executions.execute.return_value = fake

    def wait(timeout: float | None, on_progress: object) -> Execution:
        assert callable(on_progress)
        on_progress(execution(state="in_progress", command_state="in_progress"))
        return execution()

    fake.wait.side_effect = wait

    result = yard("exec", URL, "setClosure", "50", "--wait", "--timeout", "30")

    assert result.exit_code == 0
    assert result.stderr == "exe_1 in_progress (0/1 commands done)\n"
    assert result.stdout.splitlines()[2].split() == ["│", "State", "completed", "│"]
    fake.wait.assert_called_once()
    assert fake.wait.call_args.kwargs["timeout"] == 30


def test_a_failed_execution_exits_1_naming_why(sdk: FakeSDK, yard: Yard) -> None:
    fake = handle()
    sdk.client.executions.execute.return_value = fake
    fake.wait.return_value = execution(
        state="failed",
        command_state="failed",
        failed_commands=[
            {
                "device_url": URL,
                "command": "setClosure",
                "failure_type": "device_error",
                "detail": "motor jammed",
            }
        ],
    )

    result = yard("--json", "exec", URL, "setClosure", "50", "--wait")

    assert result.exit_code == 1
    assert json.loads(result.stdout)["state"] == "failed"
    assert json.loads(result.stderr) == {
        "error": {
            "code": "execution_failed",
            "detail": f"execution exe_1 failed: setClosure on {URL}: device_error (motor jammed)",
        }
    }


def test_a_wait_timeout_is_a_one_line_error(sdk: FakeSDK, yard: Yard) -> None:
    fake = handle()
    sdk.client.executions.execute.return_value = fake
    fake.wait.side_effect = WaitTimeoutError(
        "late", last=execution(state="in_progress", command_state="in_progress")
    )

    result = yard("exec", URL, "open", "--wait", "--timeout", "5")

    assert result.exit_code == 1
    assert result.stderr == (
        "error: execution exe_1 did not finish within 5s (still in_progress); follow it with"
        " `yard executions get exe_1` (code: wait_timeout)\n"
    )


def test_exec_errors_name_the_code(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.executions.execute.side_effect = api_error(
        422, "no_such_command", "the device has no command fly", request_id=None
    )

    result = yard("exec", URL, "fly")

    assert result.exit_code == 1
    assert result.stderr == "error: the device has no command fly (code: no_such_command)\n"


def test_list_current(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.executions.current.return_value = iter(
        [execution(state="in_progress", command_state="in_progress")]
    )

    result = yard("executions", "list", "--gateway", "agt_gw")

    sdk.client.executions.current.assert_called_once_with(gateway_id="agt_gw")
    assert result.stdout == (
        "ID     STATE        LABEL        ACTIONS  CREATED\n"
        "exe_1  in_progress  Half closed  1        2026-11-02 09:30:15Z\n"
    )


def test_get_is_a_panel(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.executions.get.return_value = execution(
        state="failed", command_state="failed", failure_type="device_error"
    )

    result = yard("executions", "get", "exe_1")

    assert result.stdout == (
        "╭─ Execution exe_1 ───────────────────────────────────────────╮\n"
        "│ ID        exe_1                                             │\n"
        "│ State     failed                                            │\n"
        "│ Label     Half closed                                       │\n"
        "│ Mode      default                                           │\n"
        "│ Gateway   agt_gw                                            │\n"
        "│ Site      site_1                                            │\n"
        "│ Commands  io://1234-5678-3293/3541212 setClosure(50) failed │\n"
        "│ Failure   device_error                                      │\n"
        "│ Created   2026-11-02 09:30:15Z                              │\n"
        "│ Finished  2026-11-02 09:30:15Z                              │\n"
        "╰─────────────────────────────────────────────────────────────╯\n"
    )


def test_cancel(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.executions.cancel.return_value = execution(state="cancelled")

    result = yard("executions", "cancel", "exe_1")

    sdk.client.executions.cancel.assert_called_once_with("exe_1")
    assert result.stdout == "Cancelled execution exe_1 (cancelled).\n"


def test_cancelling_a_finished_execution(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.executions.cancel.side_effect = api_error(
        409, "execution_finished", "exe_1 already completed"
    )

    result = yard("executions", "cancel", "exe_1")

    assert result.exit_code == 1
    assert result.stderr == (
        "error: exe_1 already completed (code: execution_finished) [request id: req_42]\n"
    )


def test_history_filters_and_limit(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.executions.history.return_value = iter([execution(f"exe_{n}") for n in range(1, 10)])

    result = yard(
        "executions", "history", "--gateway", "agt_gw", "--device", URL, "--state", "failed",
        "--since", "1h", "--limit", "2",
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["ID", "exe_1", "exe_2"]
    kwargs = sdk.client.executions.history.call_args.kwargs
    assert kwargs["gateway_id"] == "agt_gw"
    assert kwargs["device_url"] == URL
    assert kwargs["state"] == "failed"
    assert kwargs["limit"] == 2
    assert kwargs["start"].total_seconds() == 3600
