"""Fan-out: every batch the ingest writer commits becomes stream events on the bus.

Registered as an :class:`~.ingest.IngestWriter` listener, so it runs after
the commit, in commit order, on the writer task: it must stay quick. With
the in-process bus it only serialises events somebody subscribed to (a
networked bus serialises all of them, since other replicas may listen).

Wiring (app lifespan)::

    writer.add_listener(StreamFanout(bus))
"""

from __future__ import annotations

from fleetyard.server.bus import Bus, BusEvent
from fleetyard.server.services.telemetry.batches import CommittedBatch
from fleetyard.server.services.telemetry.events import (
    aggregate_event,
    aggregate_topic,
    message_event,
    messages_topic,
)


class StreamFanout:
    """Turns a :class:`CommittedBatch` into ``message.created`` and ``aggregate.updated``."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    async def __call__(self, batch: CommittedBatch) -> None:
        bus = self.bus
        items: list[tuple[str, BusEvent]] = []
        topics = {channel_id: messages_topic(channel_id) for channel_id in batch.channel_ids}
        wanted = {channel_id for channel_id, topic in topics.items() if bus.wants(topic)}
        if wanted:
            for message in batch.messages:
                if message.channel_id in wanted:
                    items.append((topics[message.channel_id], message_event(message)))
        for aggregate in batch.aggregates:
            topic = aggregate_topic(aggregate.channel_id)
            if bus.wants(topic):
                items.append((topic, aggregate_event(aggregate)))
        if items:
            await bus.publish_many(items)
