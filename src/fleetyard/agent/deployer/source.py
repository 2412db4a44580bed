"""Where chunk bytes come from: an async callable ``source(hash) -> bytes``.

The deployer verifies whatever a source returns, so a source may be naive. In
production :class:`ServerChunkSource` asks the server for signed download URLs
(``POST /v1/agents/{agent_id}/deployments/{rollout_id}/download-urls``, at most
1,000 hashes per call, with the agent's own credential) and ``GET`` s each URL
without credentials (the URL carries its signature; an object store would refuse
a bearer next to a presigned query). An expired URL (403) is renewed once.

In tests a dict is enough::

    store = {hash_of(b"x"): b"x"}
    async def source(chunk_hash: str) -> bytes:
        return store[chunk_hash]
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from fleetyard.protocol.agent_session import Deployment
from fleetyard.protocol.chunks import MAX_HASHES_PER_REQUEST, DownloadUrls
from fleetyard.sdk import AsyncClient

__all__ = ["ChunkFetchError", "ChunkSource", "ServerChunkSource", "SourceFactory"]

ChunkSource = Callable[[str], Awaitable[bytes]]
"""``await source(chunk_hash)`` → the chunk's bytes (verified by the caller)."""

SourceFactory = Callable[[Deployment, Sequence[str]], ChunkSource]
"""``factory(deployment, missing_hashes)`` → the source for that deployment's chunks."""

GET_TIMEOUT_SECONDS = 120.0


class ChunkFetchError(Exception):
    """A chunk could not be fetched."""


class ServerChunkSource:
    """Chunks of one rollout from the server (see the module docstring)."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        agent_id: str,
        rollout_id: str,
        hashes: Sequence[str],
        batch_size: int = MAX_HASHES_PER_REQUEST,
    ) -> None:
        self._client = client
        self._path = f"/v1/agents/{agent_id}/deployments/{rollout_id}/download-urls"
        self._pending = dict.fromkeys(hashes)
        self._urls: dict[str, str] = {}
        self._batch_size = min(batch_size, MAX_HASHES_PER_REQUEST)
        self._lock = asyncio.Lock()

    async def __call__(self, chunk_hash: str) -> bytes:
        for attempt in range(2):
            url = await self._url(chunk_hash, renew=attempt > 0)
            response = await self._client._http_client.get(url, timeout=GET_TIMEOUT_SECONDS)
            if response.status_code == 200:
                self._pending.pop(chunk_hash, None)
                return bytes(response.content)
            if response.status_code != 403:
                break
        raise ChunkFetchError(
            f"GET chunk {chunk_hash[:12]}… answered {response.status_code}: {response.text[:200]}"
        )

    async def _url(self, chunk_hash: str, *, renew: bool) -> str:
        async with self._lock:
            if renew:
                self._urls.clear()  # signed together, they expire together
            if chunk_hash not in self._urls:
                others = [h for h in self._pending if h != chunk_hash and h not in self._urls]
                batch = [chunk_hash, *others[: self._batch_size - 1]]
                response = await self._client.http.post(self._path, json={"hashes": batch})
                for item in DownloadUrls.model_validate_json(response.content).urls:
                    self._urls[item.hash] = item.url
            url = self._urls.get(chunk_hash)
        if url is None:
            raise ChunkFetchError(f"the server gave no download URL for chunk {chunk_hash[:12]}…")
        return url
