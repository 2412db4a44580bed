"""The examples in the agent session modules' docstrings run and stay true."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from fleetyard.server.services import agent_commands
from fleetyard.server.services.agent_session import auth, registry, session


@pytest.mark.parametrize("module", [agent_commands, auth, registry, session], ids=str)
def test_doctests(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
