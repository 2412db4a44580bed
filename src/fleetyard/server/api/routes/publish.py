"""Publishing: one message by channel id or by (agent, name), and batches.

The hot path of the server. These routes skip FastAPI's body machinery: the
raw body is validated by the pydantic model in one call
(``model_validate_json``) and the acknowledgement leaves as pre-serialised
JSON. Single-message publishes are normally answered even before FastAPI's
routing, by :mod:`fleetyard.server.api.fastpath`, with the same
:func:`publish_raw`; these routes stay for what it passes on and for the
OpenAPI document (``openapi_extra`` describes the hand-read bodies). Both
remember credentials and channel lookups for a few seconds
(:mod:`fleetyard.server.services.auth_cache`,
:mod:`fleetyard.server.services.telemetry.channel_cache`), so a steady
publisher costs the database only its share of a group commit.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from fleetyard.protocol.telemetry import (
    BatchPublish,
    BatchPublishAck,
    MessagePublish,
    PublishAck,
)
from fleetyard.server.api import jsonbody
from fleetyard.server.api.deps import get_state
from fleetyard.server.api.routes._shared import SCOPED, SCOPED_ONE, ResourceId, problems
from fleetyard.server.api.routes._telemetry import (
    ChannelName,
    Publisher,
    body_doc,
    json_response,
)
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import to_ms
from fleetyard.server.services.telemetry import publishing
from fleetyard.server.services.telemetry.channels import ChannelRef, Target
from fleetyard.server.services.telemetry.ingest import IngestWriter
from fleetyard.server.services.telemetry.publishing import Publish

router = APIRouter(tags=["publishing"])

_ACK_RESPONSES = problems(400, *SCOPED_ONE, 503) | {
    200: {"model": PublishAck, "description": "A resend of a stored `client_message_id`."},
}
_PUBLISH_BODY = body_doc(MessagePublish, "One message: a JSON payload and publish options.")


def _publish(body: MessagePublish) -> Publish:
    return Publish(
        payload=body.payload,
        timestamp_ms=None if body.timestamp is None else to_ms(body.timestamp),
        client_message_id=body.client_message_id,
        save_log=body.save_log,
        log_aggregate=body.log_aggregate,
        override_aggregate=body.override_aggregate,
    )


async def publish_raw(
    writer: IngestWriter, principal: Principal, target: Target, raw: bytes
) -> tuple[int, bytes]:
    """Publish the raw body of a single-message publish: ``(status, JSON answer)``.

    Shared by the routes below and :mod:`fleetyard.server.api.fastpath`.
    """
    message = _publish(jsonbody.parse(raw, MessagePublish))
    result = await publishing.publish_result(writer, principal, target, message)
    return (200 if result.duplicate else 201), publishing.ack_json(result)


async def _publish_one(request: Request, principal: Publisher, target: Target) -> Response:
    status, body = await publish_raw(
        get_state(request).ingest, principal, target, await request.body()
    )
    return Response(body, status_code=status, media_type="application/json")


@router.post(
    "/v1/channels/{channel_id}/messages",
    status_code=201,
    response_model=PublishAck,
    summary="Publish a message",
    response_description="Stored durably.",
    responses=_ACK_RESPONSES,
    openapi_extra=_PUBLISH_BODY,
)
async def publish_to_channel(
    channel_id: ResourceId, principal: Publisher, request: Request
) -> Response:
    """Publish one message; answered once it is durable (201).

    The payload is merged into the aggregate (RFC 7396; ``override_aggregate``
    replaces it) and logged unless ``save_log`` is false. A resend with a
    stored ``client_message_id`` is 200 with ``duplicate: true`` and is not
    stored again. A payload the channel's JSON Schema refuses, or a timestamp
    more than 24 h ahead, is 422 ``payload_invalid``. Under load: 503
    ``overloaded`` with ``Retry-After``. Scope ``write`` on the agent or its site.
    """
    return await _publish_one(request, principal, channel_id)


@router.post(
    "/v1/agents/{agent_id}/channels/{name:path}/messages",
    status_code=201,
    response_model=PublishAck,
    summary="Publish a message by channel name",
    response_description="Stored durably.",
    responses=_ACK_RESPONSES,
    openapi_extra=_PUBLISH_BODY,
)
async def publish_by_name(
    agent_id: ResourceId, name: ChannelName, principal: Publisher, request: Request
) -> Response:
    """As publishing by id, to the agent's channel ``name``, which is created if missing
    (``#name`` a processor, ``!name`` a task; a bad name is 422 ``channel_name_invalid``)."""
    return await _publish_one(request, principal, ChannelRef.named(agent_id, name))


@router.post(
    "/v1/messages/batch",
    status_code=201,
    response_model=BatchPublishAck,
    summary="Publish many messages",
    response_description="Every item stored durably, acknowledged in item order.",
    responses=problems(400, *SCOPED, 503),
    openapi_extra=body_doc(
        BatchPublish, "Up to 10,000 messages, each to a channel by id or by agent + name."
    ),
)
async def publish_batch(principal: Publisher, request: Request) -> Response:
    """Publish many messages to many channels, all or nothing.

    Every item is checked before anything is stored: any bad item makes the
    whole batch 422 (``payload_invalid``, or ``validation_failed`` for a
    malformed item) with one ``errors`` entry per problem whose ``loc`` starts
    ``["body", "items", <index>]``, and nothing is stored. Named channels are
    created when missing. Acknowledgements come in item order; a resent
    ``client_message_id`` is acknowledged with ``duplicate: true``.
    """
    body = jsonbody.parse(await request.body(), BatchPublish)
    items: list[tuple[Target, Publish]] = [
        (
            item.channel_id
            if item.channel_id is not None
            else ChannelRef.named(item.agent_id or "", item.channel or ""),
            _publish(item),
        )
        for item in body.items
    ]
    acks = await publishing.publish_batch(get_state(request).ingest, principal, items)
    return json_response(BatchPublishAck(items=acks), 201)
