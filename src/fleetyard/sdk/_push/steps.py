"""The steps :func:`~.engine.push_steps` yields, and what its drivers answer to them.

- :class:`Discover` — walk the tree (answer: :class:`~.walk.TreeWalk`);
- :class:`Hash` — chunk and hash these files (answer: their chunk lists);
- :class:`StartHash` — start hashing these files in background threads (answer:
  a :class:`~.chunker.HashingRun`, which the driver stops and waits for when
  the steps end, however they end);
- :class:`NextHashed` — wait for more of those files to be hashed, emitting
  progress meanwhile (answer: :class:`Hashed`; a hashing error is raised here);
- :class:`Call` — drive an SDK flow (answer: what the flow returned);
- :class:`Parallel` — drive these flows concurrently (answer: per flow
  ``None`` or the exception it raised; after the first failure the ones not
  started yet are not started and answer :class:`NotRun`);
- :class:`Emit` — tell ``on_progress`` the current counters.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fleetyard.sdk._flow import Flow
from fleetyard.sdk._push.chunker import FileChunk, HashingRun
from fleetyard.sdk._push.walk import TreeEntry

__all__ = [
    "Call",
    "Discover",
    "Emit",
    "Hash",
    "Hashed",
    "NextHashed",
    "NotRun",
    "Parallel",
    "StartHash",
    "Step",
    "Steps",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Discover:
    root: Path
    ignore: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Hash:
    files: list[TreeEntry]
    workers: int


@dataclass(frozen=True, slots=True)
class StartHash:
    files: list[TreeEntry]
    workers: int


@dataclass(frozen=True, slots=True)
class NextHashed:
    run: HashingRun


@dataclass(frozen=True, slots=True)
class Hashed:
    """Files hashed since the last :class:`NextHashed` (their index among the files
    and their chunks), and whether every file is hashed now."""

    files: list[tuple[int, list[FileChunk]]]
    finished: bool


@dataclass(frozen=True, slots=True)
class Call:
    flow: Flow[Any]


@dataclass(frozen=True, slots=True)
class Parallel:
    flows: list[Flow[None]]
    concurrency: int


@dataclass(frozen=True, slots=True)
class Emit:
    pass


class NotRun(Exception):
    """A parallel flow that was not started because another one failed first."""


Step = Discover | Hash | StartHash | NextHashed | Call | Parallel | Emit
Steps = Generator[Step, Any, T]
