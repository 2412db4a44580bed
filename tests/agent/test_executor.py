"""Executions: transmitted → in_progress → per-command states → completed/failed/cancelled."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from fleetyard.agent.config import HandlerConfig
from fleetyard.agent.executor import AGENT_RESTARTED, Executor, WorkLog
from fleetyard.agent.handlers import Dispatcher
from fleetyard.agent.simulator import Simulator
from fleetyard.protocol.agent_session import ExecutionOrder, ExecutionUpdate
from fleetyard.protocol.devices import DeviceState
from tests.agent.conftest import AWNING, LIGHT

pytestmark = pytest.mark.anyio


class Recorder:
    def __init__(self, work: WorkLog) -> None:
        self.frames: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self.work = work

    def emit(self, frame: dict[str, Any], work: tuple[str, str, str] | None) -> None:
        # Every frame must be one the server accepts (with a ref added by the session).
        ExecutionUpdate.model_validate({**frame, "ref": "x"})
        self.frames.append(frame)
        if work is not None:  # the outbox records it in the same commit as the frame
            self.work.set_work(*work)
        self.changed.set()

    def states(self) -> list[str]:
        return [f["state"] for f in self.frames if f.get("state")]

    def commands(self, action: int) -> list[tuple[int, str, str | None]]:
        return [
            (f["command_index"], f["command_state"], f.get("failure_type"))
            for f in self.frames
            if f.get("action_index") == action
        ]


def order(*actions: tuple[str, list[tuple[str, list[Any]]]]) -> ExecutionOrder:
    return ExecutionOrder.model_validate(
        {
            "id": "exe_1",
            "label": "test",
            "actions": [
                {
                    "device_url": url,
                    "commands": [{"name": n, "parameters": p} for n, p in commands],
                }
                for url, commands in actions
            ],
        }
    )


def make(
    setup_path: Path, step: float = 0.0, handlers: list[HandlerConfig] | None = None
) -> tuple[Executor, Recorder, Simulator, WorkLog]:
    work = WorkLog()
    recorder = Recorder(work)
    reports: list[tuple[str, list[DeviceState]]] = []
    sim = Simulator.from_setup(
        setup_path, lambda u, s: reports.append((u, s)), step_seconds=step, steps=4
    )
    dispatcher = Dispatcher(handlers or [], report=lambda u, s: None, simulator=sim)
    return Executor(dispatcher, recorder.emit, work), recorder, sim, work


async def test_completes_and_reports_every_step(setup_path: Path) -> None:
    executor, recorder, sim, work = make(setup_path)
    assert executor.start(
        order((AWNING, [("setClosure", [50]), ("close", [])]), (LIGHT, [("on", [])]))
    )
    await executor.wait("exe_1")
    assert recorder.states() == ["transmitted", "in_progress", "completed"]
    assert recorder.commands(0) == [
        (0, "in_progress", None),
        (0, "completed", None),
        (1, "in_progress", None),
        (1, "completed", None),
    ]
    assert recorder.commands(1) == [(0, "in_progress", None), (0, "completed", None)]
    awning = sim.device(AWNING)
    assert awning is not None
    assert awning.value("core:ClosureState") == 100
    assert work.work_state("execution", "exe_1") == "completed"
    # The same execution sent again (a reconnect) is not run twice.
    assert not executor.start(order((AWNING, [("open", [])])))


async def test_actions_of_different_devices_run_concurrently(setup_path: Path) -> None:
    executor, recorder, _, _ = make(setup_path, step=0.02)
    executor.start(order((AWNING, [("setClosure", [100])]), (LIGHT, [("on", [])])))
    await executor.wait("exe_1")
    finished = [f["action_index"] for f in recorder.frames if f.get("command_state") == "completed"]
    # The light finished while the awning still moved.
    assert finished == [1, 0]


async def test_no_handler_fails_and_skips_the_rest_of_the_action(setup_path: Path) -> None:
    executor, recorder, _, work = make(setup_path)
    executor.start(
        order(
            (AWNING, [("open", []), ("setTargetTemperature", [20]), ("close", [])]),
            ("io://1234-5678-3293/unknown", [("on", [])]),
        )
    )
    await executor.wait("exe_1")
    assert recorder.commands(0) == [
        (0, "in_progress", None),
        (0, "completed", None),
        (1, "in_progress", None),
        (1, "failed", "no_handler"),
        (2, "cancelled", "cancelled"),
    ]
    assert recorder.commands(1)[-1] == (0, "failed", "no_handler")
    final = recorder.frames[-1]
    assert final["state"] == "failed"
    assert final["failure_type"] == "no_handler"
    assert work.work_state("execution", "exe_1") == "failed"


async def test_cancel_stops_the_move_and_the_remaining_commands(setup_path: Path) -> None:
    executor, recorder, sim, _ = make(setup_path, step=0.05)
    executor.start(order((AWNING, [("setClosure", [100]), ("open", [])])))
    # Wait for the move to be under way: the command reported in_progress.
    while not recorder.commands(0):
        recorder.changed.clear()
        await recorder.changed.wait()
    assert executor.cancel("exe_1")
    await executor.wait("exe_1")
    assert recorder.commands(0) == [
        (0, "in_progress", None),
        (0, "cancelled", "cancelled"),
        (1, "cancelled", "cancelled"),
    ]
    assert recorder.states()[-1] == "cancelled"
    awning = sim.device(AWNING)
    assert awning is not None
    closure = awning.value("core:ClosureState")
    assert isinstance(closure, int)
    assert closure < 100
    assert awning.value("core:MovingState") is False
    assert not executor.cancel("exe_1")


async def test_restart_reports_cut_short_executions_failed(setup_path: Path) -> None:
    executor, recorder, _, work = make(setup_path)
    work.set_work("execution", "exe_9", "running")
    assert executor.recover() == ["exe_9"]
    assert recorder.frames[-1]["state"] == "failed"
    assert recorder.frames[-1]["failure_type"] == AGENT_RESTARTED
    assert work.work_state("execution", "exe_9") == "failed"
