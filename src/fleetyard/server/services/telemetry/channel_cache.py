"""A few seconds of memory of channel lookups, for single-message publishing.

Publishing one message needs the channel's row (its pk, site, privacy and
JSON Schema) before anything is queued; at thousands of publishes a second
that read would cost more than the group-committed write. So
:func:`~.publishing.publish` remembers the rows it looked up, per ingest
writer (one per database), for :data:`TTL_SECONDS`.

It stays correct because:

- access is still checked on every publish, against the remembered row;
- a channel deleted meanwhile is refused by the writer itself (it locks the
  row and answers 404 when it is gone);
- changes made through this process (channel settings, deleting a channel or
  an agent, moving an agent to another site) forget every entry at once
  (:func:`channels_changed`). Only such a change made on *another* replica
  reaches this one's publishes up to :data:`TTL_SECONDS` late.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from weakref import WeakKeyDictionary

from fleetyard.server.services.telemetry.ingest import IngestWriter
from fleetyard.server.storage.repositories.telemetry.channels import ChannelRecord

TTL_SECONDS = 2.0
MAX_ENTRIES = 10_000

_generation = 0
_caches: WeakKeyDictionary[IngestWriter, ChannelCache] = WeakKeyDictionary()

Key = tuple[str, ...]


def channels_changed() -> None:
    """Forget every remembered channel (settings, site or existence changed)."""
    global _generation
    _generation += 1


class ChannelCache:
    """``(org, channel id)`` and ``(org, agent id, name)`` → :class:`ChannelRecord`."""

    def __init__(self, ttl_seconds: float = TTL_SECONDS, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[Key, tuple[ChannelRecord, float, int]] = OrderedDict()
        # Lookups under way, shared by concurrent misses of the same key (None: it
        # failed, look up yourself); see publishing._resolve_one.
        self.pending: dict[Key, asyncio.Future[ChannelRecord | None]] = {}

    def get(self, key: Key) -> ChannelRecord | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        record, until, generation = entry
        if until <= time.monotonic() or generation != _generation:
            del self._entries[key]
            return None
        return record

    def generation(self) -> int:
        """The current generation: pass it to :meth:`put` with what was read after it."""
        return _generation

    def put(self, record: ChannelRecord, generation: int) -> None:
        """Remember ``record`` under its id and its name (read at ``generation``)."""
        if self.ttl_seconds <= 0 or generation != _generation:
            return
        entry = (record, time.monotonic() + self.ttl_seconds, generation)
        self._entries[by_id(record.org_id, record.id)] = entry
        self._entries[by_name(record.org_id, record.agent_id, record.name)] = entry
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


def by_id(org_id: str, channel_id: str) -> Key:
    return ("id", org_id, channel_id)


def by_name(org_id: str, agent_id: str, name: str) -> Key:
    return ("name", org_id, agent_id, name)


def cache_for(writer: IngestWriter) -> ChannelCache:
    """The cache of ``writer``'s database (made on first use)."""
    cache = _caches.get(writer)
    if cache is None:
        cache = _caches[writer] = ChannelCache()
    return cache
