"""The examples in the SDK's docstrings run and stay true."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from fleetyard.protocol import stream
from fleetyard.sdk import _config, _exceptions, _operation, _retry, _stream_state
from fleetyard.sdk.resources import _telemetry

MODULES = [_config, _exceptions, _operation, _retry, _telemetry, _stream_state, stream]


@pytest.mark.parametrize("module", MODULES, ids=str)
def test_doctests(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
