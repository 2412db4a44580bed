"""The upload part of a push, in commit groups, as steps (see :mod:`.steps`).

Chunks are sent in groups of at most :data:`COMMIT_BYTES` bytes and
:data:`~fleetyard.protocol.chunks.MAX_HASHES_PER_REQUEST` chunks: links for a
group (small chunks packed into multi-chunk uploads where the server takes
them), then its requests in parallel together with the commit of the group
before. :class:`Uploader` carries what is left between two groups, so that a
push can send a group as soon as it has one (while the rest is still hashed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fleetyard.protocol.chunks import MAX_HASHES_PER_REQUEST
from fleetyard.sdk._exceptions import APIStatusError, UnprocessableEntityError
from fleetyard.sdk._flow import Flow
from fleetyard.sdk._push.models import PushOptions
from fleetyard.sdk._push.steps import Call, NotRun, Parallel, Steps
from fleetyard.sdk._push.upload import Counter, Item, named_mismatch, units_of, upload_flow
from fleetyard.sdk._types import WriteOptions
from fleetyard.sdk.resources.chunks import commit_op, upload_urls_op

if TYPE_CHECKING:
    from fleetyard.sdk._base_client import BaseClient

__all__ = ["COMMIT_BYTES", "Uploader", "batch_ready", "commit_flow", "group_ready"]

COMMIT_BYTES = 64 * 1024 * 1024
"""Chunks are committed in groups of at most this many bytes (and 1,000 chunks), each
while the next group uploads: a push cut off by a crash sends at most about two
groups again, since only committed chunks count as the site's."""


def group_ready(items: Sequence[Item], *, final: bool) -> int:
    """How many of ``items`` (from the start) make the next commit group: 0 while
    they do not fill one yet, unless ``final`` (no more items will come)."""
    size = 0
    for count, item in enumerate(items):
        if count >= MAX_HASHES_PER_REQUEST or (count and size + item.size > COMMIT_BYTES):
            return count
        size += item.size
    if len(items) >= MAX_HASHES_PER_REQUEST or final:
        return len(items)
    return 0


def batch_ready(items: Sequence[Item], *, final: bool) -> int:
    """How many of ``items`` (from the start) to ask the server about now: a full
    request's worth, or less once they hold a commit group's bytes (so that a tree
    of large files starts uploading early too), or the rest when ``final``."""
    if len(items) >= MAX_HASHES_PER_REQUEST:
        return MAX_HASHES_PER_REQUEST
    if final or sum(i.size for i in items) >= COMMIT_BYTES:
        return len(items)
    return 0


def commit_flow(
    client: BaseClient, site_id: str, items: Sequence[Item], call_options: WriteOptions
) -> Flow[None]:
    """Commit ``items``; a chunk the server finds not matching its hash (its file was
    written to after it was hashed) fails naming its file, as a read of it would."""
    try:
        yield from client._call(commit_op(site_id, [(i.hash, i.size) for i in items]), call_options)
    except APIStatusError as exc:
        named = named_mismatch(exc, items)
        if named is exc:
            raise
        raise named from exc


@dataclass
class Uploader:
    """Sends commit groups one after another; each group's requests run together
    with the commit of the group before, and :meth:`finish` commits the last.

    What was uploaded before a failure is committed all the same (by
    :meth:`send` when a request fails, by :meth:`finish` otherwise), so a
    push run again (resume) finds those chunks present and skips them.
    """

    client: BaseClient
    site_id: str
    options: PushOptions
    tracker: Counter
    call: Callable[..., Steps[Any]]
    call_options: WriteOptions
    uncommitted: list[Item] = field(default_factory=list)
    pack: bool = True
    """False once the server refused multi-chunk uploads: one request per chunk."""

    def send(self, group: Sequence[Item]) -> Steps[None]:
        """Upload one commit group (see :func:`group_ready`)."""
        refs = [(i.hash, i.size) for i in group]
        try:
            raw = yield from self.call(upload_urls_op(self.site_id, refs, pack=self.pack))
        except UnprocessableEntityError as exc:
            if not self.pack or exc.code != "validation_failed":
                raise
            # A server from before multi-chunk uploads refuses the field: one per chunk.
            self.pack = False
            raw = yield from self.call(upload_urls_op(self.site_id, refs))
        units = units_of(raw.parse(), group)
        flows = [upload_flow(self.client, self.site_id, unit, self.tracker) for unit in units]
        committing = list(self.uncommitted)
        if committing:  # first, so that it starts at once, in a slot of its own
            flows.insert(0, commit_flow(self.client, self.site_id, committing, self.call_options))
        outcomes: list[BaseException | None] = yield Parallel(
            flows, self.options.concurrency + (1 if committing else 0)
        )
        if committing:
            committed, outcomes = outcomes[0], outcomes[1:]
            if committed is None:
                self.uncommitted = []
            elif not isinstance(committed, NotRun):
                self.uncommitted = []  # refused: committing them again would fail again
                raise committed
        self.uncommitted += [
            item
            for unit, out in zip(units, outcomes, strict=True)
            if out is None
            for item in unit.items
        ]
        failures = [out for out in outcomes if out is not None and not isinstance(out, NotRun)]
        if failures:
            yield from self.finish()
            raise failures[0]

    def finish(self) -> Steps[None]:
        """Commit what was uploaded and not committed yet."""
        if self.uncommitted:
            committing, self.uncommitted = self.uncommitted, []
            yield Call(commit_flow(self.client, self.site_id, committing, self.call_options))

    def send_all(self, items: Sequence[Item]) -> Steps[None]:
        """Upload ``items`` group by group, then commit the last group."""
        rest = list(items)
        while count := group_ready(rest, final=True):
            group, rest = rest[:count], rest[count:]
            yield from self.send(group)
        yield from self.finish()
