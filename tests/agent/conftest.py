"""Agent test fixtures: the fixture setup, an outbox in a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetyard.agent.outbox import Outbox
from tests.support.fixtures import LOCAL_TAHOMA

SETUP = LOCAL_TAHOMA
AWNING = "io://1234-5678-3293/3541212"
"""An exterior screen of the setup: ClosureState 0, OpenClosedState open."""
LIGHT = "io://1234-5678-3293/5046564"
ALARM = "internal://1234-5678-3293/alarm/0"


@pytest.fixture
def setup_path() -> Path:
    if not SETUP.exists():  # pragma: no cover - the shared fixtures are part of the checkout
        pytest.skip(f"{SETUP} is missing")
    return SETUP


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox.open(tmp_path / "agent")
    yield box
    box.close()
