"""The examples in the stream modules' docstrings run and stay true."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from fleetyard.server import bus
from fleetyard.server.api import sse
from fleetyard.server.services.telemetry import events


@pytest.mark.parametrize("module", [bus, sse, events], ids=str)
def test_doctests(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
