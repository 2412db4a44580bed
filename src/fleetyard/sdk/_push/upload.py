"""Uploading a push's chunks: one request per chunk, or several small chunks per
request (a multi-chunk upload) where the server takes them.

A :class:`Unit` is what one ``PUT`` carries: a single chunk to its signed
URL (S3 presigned, or the server's own route), or a batch of chunks to a
signed multi-chunk URL whose body frames each chunk as its raw SHA-256, its
size (4 bytes, big-endian) and its bytes. :func:`upload_flow` sends one unit,
retrying like any call and asking for a new link when the old one expired.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import httpx2

from fleetyard.protocol.chunks import UploadUrls
from fleetyard.sdk._base_client import _connection_error
from fleetyard.sdk._exceptions import APIStatusError, error_from_response
from fleetyard.sdk._flow import Flow, send, sleep
from fleetyard.sdk._operation import RequestSpec
from fleetyard.sdk._push.chunker import changed_error, read_chunk
from fleetyard.sdk._push.walk import FileStamp
from fleetyard.sdk._retry import retry_delay
from fleetyard.sdk.resources.chunks import upload_urls_op

if TYPE_CHECKING:
    from fleetyard.sdk._base_client import BaseClient

__all__ = [
    "MAX_URL_RENEWALS",
    "Item",
    "Unit",
    "batch_body",
    "named_mismatch",
    "units_of",
    "upload_flow",
]

MAX_URL_RENEWALS = 3
"""How often one unit's upload link is requested again after ``url_expired``."""
_HEADER = struct.Struct(">32sI")
"""A chunk's header in a multi-chunk upload: its raw SHA-256, its size (big-endian)."""


class Counter(Protocol):
    def add(self, **amounts: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Item:
    """A chunk to upload and where its bytes are: ``size`` bytes at ``offset`` of ``source``."""

    hash: str
    size: int
    source: str | os.PathLike[str]
    offset: int
    stamp: FileStamp | None = None
    """The file's :func:`~.walk.stamp_of` when it was walked: while it still has it,
    the chunk is sent without hashing it again."""


@dataclass(frozen=True, slots=True)
class Unit:
    """What one upload request carries."""

    items: tuple[Item, ...]
    url: str
    method: str
    headers: dict[str, str]
    batch: bool

    @property
    def size(self) -> int:
        return sum(i.size for i in self.items)


def units_of(answer: UploadUrls, items: Iterable[Item]) -> list[Unit]:
    """The upload requests an ``upload-urls`` answer asks for, batches first."""
    by_hash = {i.hash: i for i in items}
    units = [
        Unit(
            tuple(by_hash[c.hash] for c in b.chunks if c.hash in by_hash),
            b.url,
            b.method,
            b.headers,
            batch=True,
        )
        for b in answer.batches
    ]
    units += [
        Unit((by_hash[u.hash],), u.url, u.method, u.headers, batch=False)
        for u in answer.urls
        if u.hash in by_hash
    ]
    return [u for u in units if u.items]


def batch_body(items: Sequence[Item]) -> bytes:
    """The body of a multi-chunk upload: per chunk its raw SHA-256, its size (4 bytes,
    big-endian) and its bytes, each chunk read again (and checked, see :func:`read_chunk`).

    The transport takes ``bytes`` only, so the body is one join of the parts:
    reading into a preallocated buffer would cost the same copy to make it bytes
    (and measured slower, by the page faults of a second large buffer).
    """
    parts: list[bytes] = []
    for item in items:
        parts.append(_HEADER.pack(bytes.fromhex(item.hash), item.size))
        parts.append(read_chunk(item.source, item.offset, item.size, item.hash, item.stamp))
    return b"".join(parts)


def _body(unit: Unit) -> bytes:
    if unit.batch:
        return batch_body(unit.items)
    (item,) = unit.items
    return read_chunk(item.source, item.offset, item.size, item.hash, item.stamp)


def named_mismatch(error: APIStatusError, items: Iterable[Item]) -> Exception:
    """The server's ``chunk_hash_mismatch`` for one of ``items`` as the error a read
    of that chunk raises when its file changed (naming the file); else ``error``."""
    if error.code != "chunk_hash_mismatch":
        return error
    extra = error.problem.model_extra if error.problem is not None else None
    bad = (extra or {}).get("hash")
    for item in items:
        if item.hash == bad:
            return changed_error(item.source, item.offset)
    return error


def _is_expired(response: httpx2.Response, error: APIStatusError) -> bool:
    if error.code == "url_expired":
        return True
    # An object store's own answer (S3: 403 "Request has expired") carries no problem code.
    return response.status_code == 403 and error.code is None and b"xpired" in response.content


def upload_flow(client: BaseClient, site_id: str, unit: Unit, tracker: Counter) -> Flow[None]:
    """PUT one unit: retried like any call; when its link expired, new links are asked
    for (the site may have some of its chunks by now) and those are sent instead."""
    queue = [unit]
    renewals = 0
    while queue:
        current = queue.pop(0)
        attempt = 0
        while True:
            attempt += 1
            # The transport builds the query from params (replacing the URL's own): split it.
            target = httpx2.URL(current.url)
            spec = RequestSpec(
                method=current.method,
                url=str(target.copy_with(query=None)),
                params=dict(target.params),
                headers={"Content-Type": "application/octet-stream", **current.headers},
                content=_body(current),
                timeout=client.timeout,
            )
            try:
                response = yield from send(spec)
            except httpx2.TransportError as exc:
                delay = retry_delay(client.retry, attempt, now=client._now(), rand=client._rand)
                if delay is None:
                    raise _connection_error(exc) from exc
                yield from sleep(delay)
                continue
            if response.status_code < 300:
                tracker.add(chunks_uploaded=len(current.items), bytes_uploaded=current.size)
                break
            error = error_from_response(response)
            if _is_expired(response, error) and renewals < MAX_URL_RENEWALS:
                renewals += 1
                refs = [(i.hash, i.size) for i in current.items]
                raw = yield from client._call(upload_urls_op(site_id, refs, pack=current.batch), {})
                queue[:0] = units_of(raw.parse(), current.items)
                break
            delay = None
            if client.retry.retries_status(response.status_code):
                delay = retry_delay(
                    client.retry,
                    attempt,
                    response.headers.get("Retry-After"),
                    now=client._now(),
                    rand=client._rand,
                )
            if delay is None:
                named = named_mismatch(error, current.items)
                if named is error:
                    raise error
                raise named from error
            yield from sleep(delay)
