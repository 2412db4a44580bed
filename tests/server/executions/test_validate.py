"""Every validation rule of an execute, in order, with its code and ``errors[].loc``."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.executions import Command, ExecutionState
from fleetyard.protocol.scopes import parse_scopes
from fleetyard.server.bus import MemoryBus
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    ServiceError,
    Unprocessable,
)
from fleetyard.server.services.executions import lifecycle
from fleetyard.server.services.executions.validate import command_definitions, parameter_problem
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.device_tables import executions
from tests.server.executions.conftest import (
    AWNING,
    AWNING_2,
    LIGHT,
    PERGOLA,
    THERMOSTAT,
    Gateway,
    add_devices,
    add_gateway,
    body,
)

pytestmark = pytest.mark.anyio

LIMIT = 10


async def _refused(db: Database, bus: MemoryBus, principal: Principal, **kw: Any) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        await lifecycle.execute(db, bus, principal, kw.pop("execution"), limit=LIMIT)
    async with db.connect() as conn:
        count = (await conn.execute(sa.select(sa.func.count()).select_from(executions))).scalar()
    assert count == 0, "a refused execute must write nothing"
    return caught.value


async def test_a_valid_action_group_starts(db: Database, bus: MemoryBus, gateway: Gateway) -> None:
    started = await lifecycle.execute(
        db,
        bus,
        gateway.principal,
        body(
            (AWNING, [("setClosure", [50]), ("stop", [])]),
            (THERMOSTAT, [("setTargetTemperature", [21.5])]),
        ),
        limit=LIMIT,
    )
    assert (started.state, started.gateway_id) == (ExecutionState.INITIALIZED, gateway.agent_id)


async def test_unknown_device_is_404_no_such_device(
    db: Database, bus: MemoryBus, gateway: Gateway, other: Gateway
) -> None:
    error = await _refused(
        db,
        bus,
        gateway.principal,
        execution=body((AWNING, [("stop", [])]), ("io://1234-5678-3293/nope", [("stop", [])])),
    )
    assert isinstance(error, NotFound)
    assert error.code == ErrorCode.NO_SUCH_DEVICE
    assert error.extra["errors"][0]["loc"] == ["body", "actions", 1, "device_url"]
    # Another organisation's devices are not this one's, though the URL is the same.
    assert (
        await _refused(db, bus, other.principal, execution=body(("x://a/b", [("stop", [])])))
    ).code == ErrorCode.NO_SUCH_DEVICE


async def test_devices_hidden_from_the_caller_do_not_exist(
    db: Database, bus: MemoryBus, gateway: Gateway
) -> None:
    stranger = Principal(
        kind="api_key", org_id=gateway.org_id, scopes=parse_scopes(["site:site_other:write"])
    )
    error = await _refused(db, bus, stranger, execution=body((AWNING, [("stop", [])])))
    assert error.code == ErrorCode.NO_SUCH_DEVICE


async def test_read_only_callers_are_403(db: Database, bus: MemoryBus, gateway: Gateway) -> None:
    reader = Principal(
        kind="api_key", org_id=gateway.org_id, scopes=parse_scopes([f"site:{gateway.site_id}:read"])
    )
    error = await _refused(db, bus, reader, execution=body((AWNING, [("stop", [])])))
    assert isinstance(error, Forbidden)


async def test_one_url_behind_two_gateways_is_ambiguous_without_gateway_id(
    db: Database, bus: MemoryBus, gateway: Gateway
) -> None:
    second = await add_gateway(db, gateway.principal, gateway.site_id, "tahoma-2")
    await add_devices(db, gateway, second)
    error = await _refused(db, bus, gateway.principal, execution=body((AWNING, [("stop", [])])))
    assert isinstance(error, Unprocessable)
    assert error.code == ErrorCode.DEVICE_AMBIGUOUS
    assert {c["gateway_id"] for c in error.extra["candidates"]} == {gateway.agent_id, second}
    assert error.extra["errors"][0]["loc"] == ["body", "actions", 0, "device_url"]
    started = await lifecycle.execute(
        db, bus, gateway.principal, body((AWNING, [("stop", [])]), gateway_id=second), limit=LIMIT
    )
    assert started.gateway_id == second


async def test_devices_of_two_gateways_are_mixed_gateways(
    db: Database, bus: MemoryBus, gateway: Gateway
) -> None:
    second = await add_gateway(db, gateway.principal, gateway.site_id, "tahoma-2")
    async with db.begin() as conn:
        # Move one device to the second gateway: each URL is unique, but they differ.
        await conn.execute(
            sa.text("UPDATE devices SET agent_id = :a WHERE device_url = :u"),
            {"a": second, "u": LIGHT},
        )
    error = await _refused(
        db,
        bus,
        gateway.principal,
        execution=body((AWNING, [("stop", [])]), (LIGHT, [("setPosition", [5])])),
    )
    assert isinstance(error, Unprocessable)
    assert error.code == ErrorCode.MIXED_GATEWAYS
    assert sorted(error.extra["gateway_ids"]) == sorted([gateway.agent_id, second])


async def test_two_actions_on_one_device_are_refused(
    db: Database, bus: MemoryBus, gateway: Gateway
) -> None:
    error = await _refused(
        db,
        bus,
        gateway.principal,
        execution=body(
            (AWNING, [("open", [])]), (AWNING_2, [("stop", [])]), (AWNING, [("close", [])])
        ),
    )
    assert isinstance(error, BadRequest)
    assert error.status == 400
    assert error.code == ErrorCode.DUPLICATE_ACTION_ON_DEVICE
    assert [e["loc"] for e in error.extra["errors"]] == [["body", "actions", 2, "device_url"]]


async def test_a_command_outside_the_definition_is_no_such_command(
    db: Database, bus: MemoryBus, gateway: Gateway
) -> None:
    error = await _refused(
        db,
        bus,
        gateway.principal,
        execution=body((PERGOLA, [("stop", []), ("setClosure", [10])])),
    )
    assert error.code == ErrorCode.NO_SUCH_COMMAND
    assert error.extra["errors"][0]["loc"] == ["body", "actions", 0, "commands", 1, "name"]


@pytest.mark.parametrize(
    ("url", "name", "parameters"),
    [
        (AWNING, "setClosure", []),  # too few
        (AWNING, "setClosure", [10, 20]),  # too many
        (AWNING, "stop", [1]),
        (AWNING, "pairOneWayController", ["a", "b", "c"]),  # "p1,*p2": one or two
        (AWNING, "setClosure", ["50"]),  # a string
        (AWNING, "setClosure", [101]),  # out of range
        (AWNING, "setDeployment", [True]),  # a bool is no percentage
        (LIGHT, "setPosition", [12.5]),
        (THERMOSTAT, "setTargetTemperature", ["warm"]),
    ],
)
async def test_parameters_outside_the_definition_are_invalid_parameters(
    db: Database, bus: MemoryBus, gateway: Gateway, url: str, name: str, parameters: list[Any]
) -> None:
    error = await _refused(
        db,
        bus,
        gateway.principal,
        execution=body((AWNING_2, [("stop", [])]), (url, [(name, parameters)])),
    )
    assert error.code == ErrorCode.INVALID_PARAMETERS, error.detail
    assert error.extra["errors"][0]["loc"] == ["body", "actions", 1, "commands", 0, "parameters"]


async def test_rules_apply_in_order(db: Database, bus: MemoryBus, gateway: Gateway) -> None:
    # An unknown device wins over an unknown command elsewhere in the same group.
    error = await _refused(
        db,
        bus,
        gateway.principal,
        execution=body((AWNING, [("fly", [])]), ("io://1234-5678-3293/nope", [("stop", [])])),
    )
    assert error.code == ErrorCode.NO_SUCH_DEVICE


async def test_the_gateways_own_definition_format_is_understood(
    db: Database, bus: MemoryBus, gateway: Gateway
) -> None:
    second = await add_gateway(db, gateway.principal, gateway.site_id, "raw")
    await add_devices(db, gateway, second, camel_case=True)
    started = await lifecycle.execute(
        db,
        bus,
        gateway.principal,
        body((AWNING, [("setClosure", [5])]), gateway_id=second),
        limit=LIMIT,
    )
    assert started.gateway_id == second


def test_optional_parameters_widen_the_count() -> None:
    definitions = command_definitions(
        {"commands": [{"commandName": "pairOneWayController", "nparams": 1, "paramsSig": "p1,*p2"}]}
    )
    definition = definitions["pairOneWayController"]
    assert (definition.min_params, definition.max_params) == (1, 2)
    assert (
        parameter_problem(Command(name="pairOneWayController", parameters=["a"]), definition)
        is None
    )
    assert (
        parameter_problem(Command(name="pairOneWayController", parameters=["a", "b"]), definition)
        is None
    )
    assert parameter_problem(Command(name="pairOneWayController", parameters=[]), definition)
