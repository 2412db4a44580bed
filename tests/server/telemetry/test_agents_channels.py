"""Agents and channels: CRUD, filters, pagination, access and isolation between organisations."""

from __future__ import annotations

import pytest

from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.scopes import parse_scopes
from fleetyard.protocol.telemetry import (
    AgentCreate,
    AgentKind,
    AgentUpdate,
    ChannelCreate,
    ChannelKind,
    ChannelUpdate,
    Retention,
)
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.errors import Conflict, Forbidden, NotFound, Unprocessable
from fleetyard.server.services.pagination import PageRequest
from fleetyard.server.services.telemetry.agents import (
    agents_in_site,
    create_agent,
    delete_agent,
    get_agent,
    list_agents,
    parse_label_filters,
    set_presence,
    update_agent,
)
from fleetyard.server.services.telemetry.channels import (
    ChannelRef,
    create_channel,
    delete_channel,
    get_channel,
    list_channels,
    update_channel,
)
from fleetyard.server.services.telemetry.ingest import IngestWriter
from fleetyard.server.services.telemetry.publishing import Publish, publish
from fleetyard.server.storage.database import Database
from tests.server.telemetry.conftest import Tenant

pytestmark = pytest.mark.anyio


async def test_agent_crud_filters_and_pages(
    db: Database, writer: IngestWriter, tenant: Tenant
) -> None:
    p = tenant.principal
    made = [
        await create_agent(
            db,
            p,
            AgentCreate(
                site_id=tenant.site_id,
                name=f"dev-{i}",
                kind=AgentKind.GATEWAY if i % 2 else AgentKind.DEVICE,
                labels={"line": str(i % 3)} | ({"critical": "yes"} if i == 4 else {}),
            ),
        )
        for i in range(6)
    ]
    with pytest.raises(Conflict) as dup:
        await create_agent(db, p, AgentCreate(site_id=tenant.site_id, name="dev-1"))
    assert dup.value.code is ErrorCode.ALREADY_EXISTS
    with pytest.raises(NotFound):
        await create_agent(db, p, AgentCreate(site_id="site_nope", name="x"))

    names: list[str] = []
    page = PageRequest(limit=3)
    while True:
        result = await list_agents(db, p, page)
        names.extend(a.name for a in result.items)
        if result.next_after is None:
            break
        page = PageRequest(after=result.next_after, limit=3)
    assert sorted(names) == sorted(["pump-1"] + [a.name for a in made])

    async def names_of(**filters: object) -> list[str]:
        result = await list_agents(db, p, PageRequest(limit=100), **filters)  # type: ignore[arg-type]
        return sorted(a.name for a in result.items)

    assert await names_of(kind=AgentKind.GATEWAY) == ["dev-1", "dev-3", "dev-5"]
    assert await names_of(labels=parse_label_filters(["line=1"])) == ["dev-1", "dev-4"]
    assert await names_of(labels=parse_label_filters(["line=1", "critical"])) == ["dev-4"]
    assert await names_of(site_id="site_other") == []

    agent, flipped = await set_presence(db, org_id=tenant.org_id, agent_id=made[0].id, online=True)
    assert agent.online
    assert flipped
    assert agent.last_seen is not None
    _, flipped = await set_presence(db, org_id=tenant.org_id, agent_id=made[0].id, online=True)
    assert not flipped
    assert await names_of(online=True) == ["dev-0"]

    updated = await update_agent(db, p, made[0].id, AgentUpdate(name="renamed", labels={"a": "b"}))
    assert (updated.name, updated.labels, updated.kind) == ("renamed", {"a": "b"}, AgentKind.DEVICE)
    assert await agents_in_site(db, org_id=tenant.org_id, site_id=tenant.site_id) == 7

    await publish(writer, p, ChannelRef.named(made[0].id, "status"), Publish({"x": 1}))
    await delete_agent(writer, p, made[0].id)
    with pytest.raises(NotFound):
        await get_agent(db, p, made[0].id)
    with pytest.raises(NotFound):
        await get_channel(db, p, ChannelRef.named(made[0].id, "status"))


async def test_channels_create_or_get_prefixes_update_delete(
    db: Database, writer: IngestWriter, tenant: Tenant
) -> None:
    p, agent_id = tenant.principal, tenant.agent.id
    processor, created = await create_channel(db, p, agent_id, ChannelCreate(name="#my-processor"))
    assert created
    assert processor.kind is ChannelKind.PROCESSOR
    assert processor.name == "#my-processor"
    again, created = await create_channel(
        db, p, agent_id, ChannelCreate(name="my-processor", kind=ChannelKind.PROCESSOR)
    )
    assert not created
    assert again.id == processor.id
    task, _ = await create_channel(db, p, agent_id, ChannelCreate(name="!reboot"))
    assert task.kind is ChannelKind.TASK
    plain, _ = await create_channel(db, p, agent_id, ChannelCreate(name="my-processor"))
    assert plain.id != processor.id
    assert plain.kind is ChannelKind.CHANNEL
    for bad in ("", "a/b", "#", "x" * 201):
        with pytest.raises(Unprocessable) as caught:
            await create_channel(db, p, agent_id, ChannelCreate.model_construct(name=bad))
        assert caught.value.code is ErrorCode.CHANNEL_NAME_INVALID
    by_name = await get_channel(db, p, ChannelRef.named(agent_id, "#my-processor"))
    assert by_name.id == processor.id

    listed = await list_channels(db, p, agent_id, PageRequest(limit=2))
    rest = await list_channels(db, p, agent_id, PageRequest(after=listed.next_after, limit=10))
    assert len(listed.items) + len(rest.items) == 3
    only_tasks = await list_channels(db, p, agent_id, PageRequest(), kind=ChannelKind.TASK)
    assert [c.name for c in only_tasks.items] == ["!reboot"]

    changed = await update_channel(
        db,
        p,
        plain.id,
        ChannelUpdate(is_private=True, retention=Retention(max_age_seconds=60, max_messages=10)),
    )
    assert changed.is_private
    assert changed.retention.max_age_seconds == 60
    assert changed.retention.max_messages == 10
    cleared = await update_channel(db, p, plain.id, ChannelUpdate(retention=None))
    assert cleared.retention.max_age_seconds is None
    assert cleared.is_private
    with pytest.raises(Unprocessable):
        await update_channel(db, p, plain.id, ChannelUpdate(json_schema={"type": "bogus"}))

    assert await delete_channel(writer, p, task.id) == task.id
    with pytest.raises(NotFound):
        await delete_channel(writer, p, task.id)


async def test_site_scopes_decide_access(
    db: Database, writer: IngestWriter, tenant: Tenant
) -> None:
    channel, _ = await create_channel(
        db, tenant.principal, tenant.agent.id, ChannelCreate(name="s")
    )
    private, _ = await create_channel(
        db, tenant.principal, tenant.agent.id, ChannelCreate(name="p", is_private=True)
    )

    def principal(*scopes: str) -> Principal:
        return Principal(kind="api_key", org_id=tenant.org_id, scopes=parse_scopes(list(scopes)))

    viewer = principal(f"site:{tenant.site_id}:read")
    stranger = principal("site:site_elsewhere:admin")
    device = principal(f"agent:{tenant.agent.id}:write")
    assert (await get_channel(db, viewer, channel.id)).id == channel.id
    with pytest.raises(NotFound):
        await get_channel(db, viewer, private.id)
    with pytest.raises(Forbidden):
        await publish(writer, viewer, channel.id, Publish(1))
    with pytest.raises(NotFound):
        await get_channel(db, stranger, channel.id)
    assert (await list_agents(db, stranger, PageRequest())).items == []
    ack = await publish(writer, device, ChannelRef.named(tenant.agent.id, "new"), Publish(1))
    assert ack.seq == 1
    assert [a.id for a in (await list_agents(db, device, PageRequest())).items] == [tenant.agent.id]
    with pytest.raises(Forbidden):
        await delete_channel(writer, device, channel.id)


async def test_agents_are_invisible_to_other_organisations(
    db: Database, writer: IngestWriter, tenant: Tenant, other: Tenant
) -> None:
    theirs = other.principal
    with pytest.raises(NotFound):
        await get_agent(db, theirs, tenant.agent.id)
    with pytest.raises(NotFound):
        await update_agent(db, theirs, tenant.agent.id, AgentUpdate(name="x"))
    with pytest.raises(NotFound):
        await delete_agent(writer, theirs, tenant.agent.id)
    with pytest.raises(NotFound):
        await create_channel(db, theirs, tenant.agent.id, ChannelCreate(name="x"))
    with pytest.raises(NotFound):
        await list_channels(db, theirs, tenant.agent.id, PageRequest())
    with pytest.raises(NotFound):
        await create_agent(db, theirs, AgentCreate(site_id=tenant.site_id, name="intruder"))
    with pytest.raises(NotFound):
        await set_presence(db, org_id=other.org_id, agent_id=tenant.agent.id, online=True)
    listed = await list_agents(db, theirs, PageRequest())
    assert [a.id for a in listed.items] == [other.agent.id]
    assert (await get_agent(db, tenant.principal, tenant.agent.id)).name == "pump-1"
