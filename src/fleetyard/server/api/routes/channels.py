"""Channels of an agent, the same channel across agents, and each channel's aggregate.

``/v1/channels/latest`` is declared before ``/v1/channels/{channel_id}`` so
that ``latest`` is never taken for an id.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import Field

from fleetyard.protocol.common import Deleted, Page
from fleetyard.protocol.telemetry import (
    Aggregate,
    Channel,
    ChannelCreate,
    ChannelKind,
    ChannelLatest,
    ChannelUpdate,
)
from fleetyard.server.api import jsonbody
from fleetyard.server.api.deps import DB, State
from fleetyard.server.api.pagination import Pagination, to_page
from fleetyard.server.api.routes._shared import SCOPED, SCOPED_ONE, ResourceId, problems
from fleetyard.server.api.routes._telemetry import (
    ChannelName,
    OptionalId,
    StorableBody,
    TelemetryAdmin,
    TelemetryRead,
    TelemetryWrite,
    body_doc,
    etag,
    if_match_version,
)
from fleetyard.server.services.telemetry import channels, messages, publishing
from fleetyard.server.services.telemetry.channels import ChannelRef

router = APIRouter(tags=["channels"])

AgentIdItem = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
IfMatch = Annotated[
    str | None,
    Header(
        max_length=100,
        description='`"<version>"` from the ETag: write only if the aggregate is still there.',
    ),
]


def _etagged(description: str) -> dict[int | str, dict[str, Any]]:
    etag_header = {"ETag": {"description": 'The aggregate version: `"<version>"`.'}}
    return {200: {"description": description, "headers": etag_header}}


@router.get(
    "/v1/channels/latest",
    response_model=Page[ChannelLatest],
    summary="The same channel across agents",
    responses=problems(400, *SCOPED),
)
async def latest(
    principal: TelemetryRead,
    database: DB,
    page: Pagination,
    name: Annotated[str, Query(min_length=1, max_length=200, description="The channel name.")],
    site_id: OptionalId = None,
    agent_id: Annotated[
        list[AgentIdItem] | None, Query(max_length=1000, description="Only these agents.")
    ] = None,
) -> Page[ChannelLatest]:
    """The channel ``name`` of every agent the caller may read (one site's, or the named
    agents'): its aggregate and newest logged message, by agent id. Scope ``read``."""
    result = await messages.latest_across_agents(
        database,
        principal,
        name,
        site_id=site_id,
        agent_ids=agent_id,
        after_agent=page.after,
        limit=page.limit,
    )
    return to_page(result)


@router.get(
    "/v1/agents/{agent_id}/channels",
    response_model=Page[Channel],
    summary="List an agent's channels",
    responses=problems(400, *SCOPED_ONE),
)
async def list_channels(
    agent_id: ResourceId,
    principal: TelemetryRead,
    database: DB,
    page: Pagination,
    kind: ChannelKind | None = None,
) -> Page[Channel]:
    """An agent's channels by id; private ones only for callers who may write them."""
    return to_page(await channels.list_channels(database, principal, agent_id, page, kind=kind))


@router.post(
    "/v1/agents/{agent_id}/channels",
    status_code=201,
    response_model=Channel,
    summary="Create (or get) a channel",
    responses=problems(*SCOPED_ONE)
    | {200: {"model": Channel, "description": "It existed already."}},
)
async def create_channel(
    agent_id: ResourceId,
    principal: TelemetryWrite,
    _storable: StorableBody,
    database: DB,
    body: ChannelCreate,
    response: Response,
) -> Channel:
    """201 with the new channel, or 200 with the agent's channel of that name as it is.

    ``"#name"`` makes a processor and ``"!name"`` a task (or say ``kind``). A
    name with ``/`` or unprintable characters is 422 ``channel_name_invalid``.
    Scope ``write`` on the agent or its site.
    """
    channel, created = await channels.create_channel(database, principal, agent_id, body)
    if not created:
        response.status_code = 200
    return channel


@router.get(
    "/v1/agents/{agent_id}/channels/{name:path}",
    response_model=Channel,
    summary="Get a channel by name",
    responses=problems(*SCOPED_ONE),
)
async def get_channel_by_name(
    agent_id: ResourceId, name: ChannelName, principal: TelemetryRead, database: DB
) -> Channel:
    """The agent's channel ``name`` (percent-encoded: ``%23proc`` for ``#proc``). Scope ``read``."""
    return await channels.get_channel(database, principal, ChannelRef.named(agent_id, name))


@router.get(
    "/v1/channels/{channel_id}",
    response_model=Channel,
    summary="Get a channel",
    responses=problems(*SCOPED_ONE),
)
async def get_channel(channel_id: ResourceId, principal: TelemetryRead, database: DB) -> Channel:
    """One channel. Scope ``read`` (``write`` for a private channel)."""
    return await channels.get_channel(database, principal, channel_id)


@router.patch(
    "/v1/channels/{channel_id}",
    response_model=Channel,
    summary="Update a channel",
    responses=problems(*SCOPED_ONE),
)
async def update_channel(
    channel_id: ResourceId,
    principal: TelemetryWrite,
    _storable: StorableBody,
    database: DB,
    body: ChannelUpdate,
) -> Channel:
    """Change privacy, retention or JSON Schema; ``null`` clears retention or the schema.

    An unusable schema is 422 ``json_schema_invalid``. Scope ``write``.
    """
    return await channels.update_channel(database, principal, channel_id, body)


@router.delete(
    "/v1/channels/{channel_id}",
    response_model=Deleted,
    summary="Delete a channel",
    responses=problems(*SCOPED_ONE),
)
async def delete_channel(
    channel_id: ResourceId, principal: TelemetryAdmin, state: State
) -> Deleted:
    """Delete a channel and its whole log. Scope ``admin``."""
    return Deleted(id=await channels.delete_channel(state.ingest, principal, channel_id))


@router.get(
    "/v1/channels/{channel_id}/aggregate",
    response_model=Aggregate,
    summary="Get a channel's aggregate",
    responses=problems(*SCOPED_ONE) | _etagged("The aggregate."),
)
async def get_aggregate(
    channel_id: ResourceId, principal: TelemetryRead, database: DB, response: Response
) -> Aggregate:
    """The merged state of the channel, with its version as the ``ETag``. Scope ``read``."""
    aggregate = await channels.get_aggregate(database, principal, channel_id)
    response.headers["ETag"] = etag(aggregate.version)
    return aggregate


async def _write_aggregate(
    request: Request,
    state: State,
    principal: TelemetryWrite,
    channel_id: str,
    if_match: str | None,
    *,
    override: bool,
    response: Response,
) -> Aggregate:
    data = jsonbody.parse_any(await request.body())
    aggregate = await publishing.update_aggregate(
        state.ingest,
        principal,
        channel_id,
        data,
        override=override,
        if_version=if_match_version(if_match),
    )
    response.headers["ETag"] = etag(aggregate.version)
    return aggregate


@router.patch(
    "/v1/channels/{channel_id}/aggregate",
    response_model=Aggregate,
    summary="Merge into a channel's aggregate",
    responses=problems(400, *SCOPED_ONE, 412, 503) | _etagged("The new aggregate."),
    openapi_extra=body_doc(None, "A JSON Merge Patch (RFC 7396): any JSON value."),
)
async def patch_aggregate(
    channel_id: ResourceId,
    principal: TelemetryWrite,
    state: State,
    request: Request,
    response: Response,
    if_match: IfMatch = None,
) -> Aggregate:
    """Merge the body into the aggregate (objects merge, ``null`` deletes a key, anything
    else replaces) without logging a message. With ``If-Match: "<version>"`` only if the
    aggregate is still at that version, else 412 ``version_stale`` with
    ``current_version``. A channel JSON Schema applies (422 ``payload_invalid``). Scope
    ``write``."""
    return await _write_aggregate(
        request, state, principal, channel_id, if_match, override=False, response=response
    )


@router.put(
    "/v1/channels/{channel_id}/aggregate",
    response_model=Aggregate,
    summary="Replace a channel's aggregate",
    responses=problems(400, *SCOPED_ONE, 412, 503) | _etagged("The new aggregate."),
    openapi_extra=body_doc(None, "The new aggregate: any JSON value."),
)
async def put_aggregate(
    channel_id: ResourceId,
    principal: TelemetryWrite,
    state: State,
    request: Request,
    response: Response,
    if_match: IfMatch = None,
) -> Aggregate:
    """Replace the aggregate with the body, without logging a message; ``If-Match`` as for
    PATCH. Scope ``write``."""
    return await _write_aggregate(
        request, state, principal, channel_id, if_match, override=True, response=response
    )
