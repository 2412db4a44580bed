"""``client.devices`` (and scenes, events) against the real app in-process (both databases).

Executions need a connected agent session to progress: the end-to-end runs
are the lead's; here the server's answers to the SDK's requests are checked.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx2
import pytest

from fleetyard import AsyncClient, Client, NotFoundError
from fleetyard.sdk import action
from tests.conftest import ADMIN_KEY
from tests.support.asgi import PortalASGITransport
from tests.support.fixtures import LOCAL_TAHOMA

BASE = "http://fleetyard.test"
SETUP = LOCAL_TAHOMA
BLIND = "io://1234-5678-3293/3541212"

pytestmark = pytest.mark.skipif(
    not SETUP.exists(), reason="the shared Overkiz fixtures are missing"
)


@pytest.fixture
def admin(app_transport: PortalASGITransport) -> Iterator[Client]:
    with Client(api_key=ADMIN_KEY, base_url=BASE, transport=app_transport) as client:
        yield client


@pytest.fixture
async def async_admin(async_app_transport: httpx2.ASGITransport) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(
        api_key=ADMIN_KEY, base_url=BASE, transport=async_app_transport
    ) as client:
        yield client


def gateway(client: Client) -> str:
    site = client.sites.create("Home")
    return client.agents.create(site.id, "tahoma", kind="gateway").id


def test_import_then_list_get_states_and_label(admin: Client) -> None:
    gateway_id = gateway(admin)

    result = admin.devices.import_setup(SETUP, gateway_id=gateway_id)
    again = admin.devices.import_setup(json.loads(SETUP.read_text()), gateway_id=gateway_id)

    assert result.created == len(result.device_ids) > 0
    assert again.created == 0
    assert again.updated == result.created
    devices = list(admin.devices.list(gateway_id=gateway_id, limit=3))
    assert len(devices) == result.created
    assert {d.gateway_id for d in devices} == {gateway_id}

    blind = admin.devices.get(BLIND)
    assert blind.device_url == BLIND
    assert admin.devices.get(blind.id) == blind
    assert blind.supports_command("setClosure")
    states = admin.devices.states(BLIND)
    assert {s.name for s in states} == {s.name for s in blind.states}

    renamed = admin.devices.update(BLIND, label="Living room")
    assert renamed.label == "Living room"
    screens = list(admin.devices.list(ui_class="ExteriorScreen"))
    assert BLIND in {d.device_url for d in screens}


def test_unknown_devices_are_not_found(admin: Client) -> None:
    gateway_id = gateway(admin)
    admin.devices.import_setup(SETUP, gateway_id=gateway_id)

    with pytest.raises(NotFoundError) as by_url:
        admin.devices.get("io://1234-5678-3293/999")
    with pytest.raises(NotFoundError):
        admin.devices.get("dev_nope")

    assert by_url.value.code == "no_such_device"


def test_scenes_store_and_list(admin: Client) -> None:
    gateway_id = gateway(admin)
    admin.devices.import_setup(SETUP, gateway_id=gateway_id)

    scene = admin.action_groups.create(
        label="Close", actions=[action(BLIND, ("setClosure", 100))], gateway_id=gateway_id
    )

    assert scene.gateway_id == gateway_id
    assert [s.id for s in admin.action_groups.list(gateway_id=gateway_id)] == [scene.id]
    assert admin.action_groups.get(scene.id).actions[0].device_url == BLIND
    assert admin.action_groups.delete(scene.id).deleted is True


def test_an_event_listener_sees_reported_states(admin: Client) -> None:
    gateway_id = gateway(admin)
    admin.devices.import_setup(SETUP, gateway_id=gateway_id)
    listener = admin.events.register_listener()

    admin.devices.report_states(BLIND, [{"name": "core:ClosureState", "type": 1, "value": 7}])
    events = admin.events.fetch(listener.id, timeout=0)
    admin.events.unregister(listener.id)

    changed = [e for e in events if e.type == "device.state_changed"]
    assert [e.device_url for e in changed] == [BLIND]
    assert changed[0].states is not None
    assert [(s.name, s.value) for s in changed[0].states] == [("core:ClosureState", 7)]


@pytest.mark.anyio
async def test_async_import_and_get(async_admin: AsyncClient) -> None:
    site = await async_admin.sites.create("Home")
    gw = await async_admin.agents.create(site.id, "tahoma", kind="gateway")

    result = await async_admin.devices.import_setup(SETUP, gateway_id=gw.id)
    blind = await async_admin.devices.get(BLIND)

    assert result.created > 0
    assert blind.gateway_id == gw.id
    assert len([d async for d in async_admin.devices.list(gateway_id=gw.id)]) == result.created
