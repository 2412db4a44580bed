"""A short-lived, in-process memory of who a bearer secret is, for the hot routes.

Authenticating costs a database round trip (two or more for a user's key);
at thousands of publishes a second that is most of the request. The
publishing routes therefore remember a secret's :class:`Principal` for a few
seconds (``Settings.auth_cache_seconds``, 2 by default; 0 turns it off).

What that means for revocation: a key revoked or rotated *through this
server process* is forgotten at once (:func:`credentials_changed`); anything
else — a revocation on another replica, a user demoted or removed from a
site — takes effect on the hot routes within ``auth_cache_seconds``. Every
other route authenticates against the database on every request. An entry
never outlives the credential's own ``expires_at``; failures (401) are never
remembered. Secrets are not kept: entries are keyed by the secret's hash.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

from fleetyard.server.services import auth
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.security import hash_secret
from fleetyard.server.storage.database import Database

_generation = 0


def credentials_changed() -> None:
    """Forget every remembered principal (in every cache of this process)."""
    global _generation
    _generation += 1


class PrincipalCache:
    """Remembers ``secret hash → Principal`` for ``ttl_seconds``, at most ``max_entries``.

    Example::

        cache = PrincipalCache(ttl_seconds=2)
        principal = await cache.authenticate(database, "fy_live_…")
    """

    def __init__(self, ttl_seconds: float, *, max_entries: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[Principal, float, int]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[Principal | None]] = {}

    async def authenticate(self, database: Database, secret: str) -> Principal:
        """Like :func:`auth.authenticate`, answered from memory while the entry is fresh."""
        if self.ttl_seconds <= 0:
            return await auth.authenticate(database, secret)
        key = hash_secret(secret)
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None:
            principal, until, generation = entry
            if until > now and generation == _generation:
                return principal
            del self._entries[key]
        pending = self._pending.get(key)
        if pending is not None:
            # The same secret is being authenticated right now: when its entry
            # expires, every request in flight with it misses at once, and their
            # database round trips stall them all. Share that answer (a failure
            # is not shared: each caller then authenticates for itself).
            shared = await asyncio.shield(pending)
            if shared is not None:
                return shared
        generation = _generation
        lookup: asyncio.Future[Principal | None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, lookup)
        loaded: Principal | None = None
        try:
            loaded = principal = await auth.authenticate(database, secret)
        finally:
            if self._pending.get(key) is lookup:
                del self._pending[key]
            lookup.set_result(loaded)
        until = now + self.ttl_seconds
        if principal.expires_at is not None:
            until = min(until, now + (principal.expires_at - time.time() * 1000) / 1000)
        self._entries[key] = (principal, until, generation)
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return principal
