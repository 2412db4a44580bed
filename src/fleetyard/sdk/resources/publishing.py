"""Publishing into channels: ``client.channels.publish`` and ``publish_batch``.

Part of :class:`~fleetyard.sdk.resources.channels.Channels`; not used on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Unpack

from pydantic import JsonValue

from fleetyard.protocol.telemetry import (
    BATCH_MAX_ITEMS,
    BatchPublishAck,
    BatchPublishItem,
    PublishAck,
)
from fleetyard.sdk._operation import Operation
from fleetyard.sdk._types import WriteOptions
from fleetyard.sdk.resources._base import AsyncAPIResource, SyncAPIResource
from fleetyard.sdk.resources._telemetry import ChannelRef, checked_name, target_path, wire_time

__all__ = ["AsyncChannelPublishing", "ChannelPublishing"]


def _publish(
    channel: ChannelRef,
    payload: JsonValue,
    at: datetime | None,
    client_message_id: str | None,
    save_log: bool,
    log_aggregate: bool,
    override_aggregate: bool,
) -> Operation[PublishAck]:
    # The hot path: only what differs from the contract's defaults goes on the wire.
    body: dict[str, Any] = {"payload": payload}
    if at is not None:
        body["timestamp"] = wire_time(at)
    if client_message_id is not None:
        body["client_message_id"] = client_message_id
    if not save_log:
        body["save_log"] = False
    if log_aggregate:
        body["log_aggregate"] = True
    if override_aggregate:
        body["override_aggregate"] = True
    return Operation("POST", f"{target_path(channel)}/messages", PublishAck, json=body)


def _batch_item(item: BatchPublishItem | Mapping[str, Any]) -> dict[str, Any]:
    checked = item if isinstance(item, BatchPublishItem) else BatchPublishItem.model_validate(item)
    if checked.channel is not None:
        checked_name(checked.channel)
    return checked.model_dump(mode="json", exclude_unset=True)


def _publish_batch(
    items: Iterable[BatchPublishItem | Mapping[str, Any]],
) -> Operation[BatchPublishAck]:
    if isinstance(items, Mapping | BatchPublishItem):
        raise TypeError("items must be a list of items, not a single item")
    body = [_batch_item(item) for item in items]
    if not body:
        raise ValueError("a batch needs at least one item")
    if len(body) > BATCH_MAX_ITEMS:
        raise ValueError(f"a batch holds at most {BATCH_MAX_ITEMS} items, got {len(body)}")
    return Operation("POST", "/v1/messages/batch", BatchPublishAck, json={"items": body})


class ChannelPublishing(SyncAPIResource):
    """Publishing, as part of ``client.channels``.

    Example::

        client.channels.publish(("agt_01…", "status"), {"temperature": 21.5})
    """

    def publish(
        self,
        channel: ChannelRef,
        payload: JsonValue,
        *,
        timestamp: datetime | None = None,
        client_message_id: str | None = None,
        save_log: bool = True,
        log_aggregate: bool = False,
        override_aggregate: bool = False,
        **options: Unpack[WriteOptions],
    ) -> PublishAck:
        """Publish one JSON message and return once the server has stored it.

        ``channel`` is a channel id (``"ch_…"``) or an ``(agent_id, name)``
        pair; by name, a missing channel is created. ``payload`` (any JSON
        value) is merged into the aggregate (RFC 7396; replaces it with
        ``override_aggregate``) and appended to the log unless ``save_log`` is
        false. ``log_aggregate`` logs the resulting aggregate instead.
        ``timestamp`` is the message's own time (a naive ``datetime`` is UTC;
        the server's clock when omitted).

        ``client_message_id`` makes a resend harmless: the server stores the
        first message with that id once and acknowledges a resend with
        ``duplicate=True``. Without it nothing is deduplicated, so an agent that
        may resend after a crash or lost answer should give every message its
        own stable id (retries inside one call are already safe: they reuse
        one ``Idempotency-Key``).

        Example::

            ack = client.channels.publish(("agt_01…", "status"), {"temperature": 21.5},
                                          client_message_id="pump-7:000123")
            print(ack.seq, ack.aggregate_version)
            client.channels.publish("ch_01…", {"door": "open"})
        """
        op = _publish(
            channel,
            payload,
            timestamp,
            client_message_id,
            save_log,
            log_aggregate,
            override_aggregate,
        )
        return self._send(op, options)

    def publish_batch(
        self,
        items: Iterable[BatchPublishItem | Mapping[str, Any]],
        **options: Unpack[WriteOptions],
    ) -> BatchPublishAck:
        """Publish many messages to many channels in one request (at most 10,000).

        Each item is a :class:`~fleetyard.protocol.telemetry.BatchPublishItem`
        or a dict of its fields: ``payload`` plus the channel, as
        ``channel_id`` or as ``agent_id`` + ``channel`` (the name), and the
        options of :meth:`publish`. The batch is validated all-or-nothing: one
        bad item rejects it whole (422 ``payload_invalid``, an error per item)
        and nothing is stored. Acknowledgements come in the order of the items.

        Example::

            acks = client.channels.publish_batch([
                {"agent_id": "agt_01…", "channel": "status", "payload": {"t": 21.5}},
                {"channel_id": "ch_01…", "payload": 7, "client_message_id": "m-8"},
            ])
            print([ack.seq for ack in acks.items])
        """
        return self._send(_publish_batch(items), options)


class AsyncChannelPublishing(AsyncAPIResource):
    """Publishing, as part of ``client.channels`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        await client.channels.publish(("agt_01…", "status"), {"temperature": 21.5})
    """

    async def publish(
        self,
        channel: ChannelRef,
        payload: JsonValue,
        *,
        timestamp: datetime | None = None,
        client_message_id: str | None = None,
        save_log: bool = True,
        log_aggregate: bool = False,
        override_aggregate: bool = False,
        **options: Unpack[WriteOptions],
    ) -> PublishAck:
        """Publish one JSON message and return once the server has stored it.

        See :meth:`ChannelPublishing.publish`: ``channel`` is an id or an
        ``(agent_id, name)`` pair; give ``client_message_id`` to make resends
        after a crash harmless (the server then stores the message once).

        Example::

            ack = await client.channels.publish(("agt_01…", "status"), {"t": 21.5},
                                                client_message_id="pump-7:000123")
        """
        op = _publish(
            channel,
            payload,
            timestamp,
            client_message_id,
            save_log,
            log_aggregate,
            override_aggregate,
        )
        return await self._send(op, options)

    async def publish_batch(
        self,
        items: Iterable[BatchPublishItem | Mapping[str, Any]],
        **options: Unpack[WriteOptions],
    ) -> BatchPublishAck:
        """Publish many messages to many channels in one request (at most 10,000).

        See :meth:`ChannelPublishing.publish_batch`.

        Example::

            acks = await client.channels.publish_batch([
                {"agent_id": "agt_01…", "channel": "status", "payload": {"t": 21.5}},
            ])
        """
        return await self._send(_publish_batch(items), options)
