"""Content-defined chunking (FastCDC) and hashing of files, with bounded memory.

A file is read through ``pyfastcdc``'s stream chunker, which holds one
buffer of twice the largest chunk (8 MiB) whatever the file's size; each
chunk is hashed with SHA-256 as it is cut and then dropped. Both the cutting
and the hashing release the GIL, so hashing several files in threads uses
every core. A file of at most the minimum chunk size is one chunk: it is read
and hashed at once, and such files all go through one thread (see
:func:`hash_files`), their per-file Python work holding the GIL.

Because the cut points depend only on the bytes around them, inserting a byte
near the start of a large file changes the chunk(s) around the insertion and
none after them: a re-push uploads a megabyte or two, not the whole file.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from pyfastcdc import FastCDC

from fleetyard.sdk._push.walk import FileStamp, TreeEntry, stamp_of

__all__ = [
    "AVG_CHUNK_SIZE",
    "MAX_CHUNK_SIZE",
    "MIN_CHUNK_SIZE",
    "FileChunk",
    "HashingRun",
    "HashingStopped",
    "changed_error",
    "chunk_file",
    "chunk_small_file",
    "hash_files",
    "new_chunker",
    "read_chunk",
]

MIN_CHUNK_SIZE = 256 * 1024
AVG_CHUNK_SIZE = 1024 * 1024
MAX_CHUNK_SIZE = 4 * 1024 * 1024
READ_BLOCK = 1024 * 1024
SMALL_FILES_PER_REPORT = 256
"""Small files are counted in the progress by this many at a time."""
READY_CHUNKS = 256
READY_BYTES = 16 * 1024 * 1024
"""A :class:`HashingRun` wakes its consumer once this many chunks or bytes are hashed."""


class Counter(Protocol):
    """Where progress is counted (the push's tracker)."""

    def add(self, **amounts: int) -> None: ...


@dataclass(frozen=True, slots=True)
class FileChunk:
    """One chunk of a file: where it starts, its size, its bare lowercase SHA-256 hex."""

    offset: int
    size: int
    hash: str


def new_chunker() -> FastCDC:
    """A FastCDC chunker with Fleetyard's sizes (not thread-safe: one per thread)."""
    # pyfastcdc's average is avg_size + min_size (cut-point skipping), so ask for
    # avg - min to average about 1 MiB.
    return FastCDC(
        AVG_CHUNK_SIZE - MIN_CHUNK_SIZE,
        min_size=MIN_CHUNK_SIZE,
        max_size=MAX_CHUNK_SIZE,
    )


def chunk_file(
    path: str | os.PathLike[str],
    *,
    chunker: FastCDC | None = None,
    on_bytes: Callable[[int], object] | None = None,
) -> list[FileChunk]:
    """The chunks of one file, read in blocks (never the whole file in memory).

    ``on_bytes`` hears the size of each chunk once it is hashed (for progress).
    An empty file has no chunks.
    """
    if os.stat(path).st_size <= MIN_CHUNK_SIZE:
        chunks = chunk_small_file(path, chunker=chunker)
        if on_bytes is not None and chunks:
            on_bytes(sum(c.size for c in chunks))
        return chunks
    return _cut_file(path, chunker, on_bytes)


def chunk_small_file(
    path: str | os.PathLike[str], *, chunker: FastCDC | None = None
) -> list[FileChunk]:
    """The chunks of a file expected to hold at most :data:`MIN_CHUNK_SIZE` bytes.

    FastCDC never cuts below the minimum, so such a file is one chunk (or none,
    when empty): it is read and hashed at once, without the chunker's buffer
    and stream. A file that grew past the minimum is chunked like any file.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.read(fd, MIN_CHUNK_SIZE + 1)
    finally:
        os.close(fd)
    if len(data) > MIN_CHUNK_SIZE:
        return _cut_file(path, chunker, None)
    if not data:
        return []
    return [FileChunk(0, len(data), hashlib.sha256(data).hexdigest())]


def _cut_file(
    path: str | os.PathLike[str],
    chunker: FastCDC | None,
    on_bytes: Callable[[int], object] | None,
) -> list[FileChunk]:
    chunks: list[FileChunk] = []
    with open(path, "rb", buffering=0) as stream:
        cdc = chunker if chunker is not None else new_chunker()
        for piece in cdc.cut_stream(stream):
            digest = hashlib.sha256(piece.data).hexdigest()
            chunks.append(FileChunk(piece.offset, piece.length, digest))
            if on_bytes is not None:
                on_bytes(piece.length)
    return chunks


class HashingStopped(Exception):
    """Hashing was stopped (its ``stop`` flag set) before every file was hashed."""


def hash_files(
    files: Sequence[TreeEntry],
    workers: int,
    tracker: Counter,
    on_file: Callable[[int, list[FileChunk]], object] | None = None,
    stop: threading.Event | None = None,
) -> list[list[FileChunk]]:
    """Chunk every file, ``workers`` threads at once; results in the order of ``files``.

    Files of at most :data:`MIN_CHUNK_SIZE` bytes (as walked) are one chunk each
    and cost mostly Python work per file, which holds the GIL: one thread reads
    and hashes them in a tight loop, since a second one would only contend
    for the GIL. The others run FastCDC over the larger files, largest first
    (so one big file does not start last and run alone), releasing the GIL for
    the cutting and hashing; the small-file thread joins them once done.
    Progress is counted per chunk of a large file and per batch of small ones.

    ``on_file`` hears each file's index and chunks as soon as it is hashed (on
    a hashing thread). Once ``stop`` is set, every thread stops at its next
    file or chunk and :class:`HashingStopped` is raised; a thread that fails
    sets it, so that the others stop too, and its error is raised.
    """
    results: list[list[FileChunk]] = [[] for _ in files]
    small: list[int] = []
    large: list[int] = []
    for index, entry in enumerate(files):
        (small if entry.size <= MIN_CHUNK_SIZE else large).append(index)
    large.sort(key=lambda i: files[i].size)  # taken from the end: largest first
    taking = threading.Lock()
    stopping = stop if stop is not None else threading.Event()

    def check_stop() -> None:
        if stopping.is_set():
            raise HashingStopped

    def on_bytes(n: int) -> None:
        tracker.add(bytes_hashed=n)
        check_stop()

    def hash_small() -> None:
        files_done = bytes_done = 0
        for count, index in enumerate(small, 1):
            check_stop()
            entry = files[index]
            assert entry.source is not None
            chunks = results[index] = chunk_small_file(entry.source)
            files_done += 1
            for chunk in chunks:
                bytes_done += chunk.size
            if on_file is not None:
                on_file(index, chunks)
            if count % SMALL_FILES_PER_REPORT == 0:
                tracker.add(files_done=files_done, bytes_hashed=bytes_done)
                files_done = bytes_done = 0
        tracker.add(files_done=files_done, bytes_hashed=bytes_done)

    def hash_large() -> None:
        chunker = new_chunker()
        while True:
            check_stop()
            with taking:
                if not large:
                    return
                index = large.pop()
            entry = files[index]
            assert entry.source is not None
            chunks = results[index] = chunk_file(entry.source, chunker=chunker, on_bytes=on_bytes)
            tracker.add(files_done=1)
            if on_file is not None:
                on_file(index, chunks)

    def small_then_large() -> None:
        hash_small()
        hash_large()

    def stopping_the_others(job: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                job()
            except HashingStopped:
                raise
            except BaseException:
                stopping.set()
                raise

        return run

    jobs = [small_then_large] if small else []
    jobs += [hash_large] * min(max(1, workers) - len(jobs), len(large))
    if len(jobs) <= 1:
        small_then_large()
        return results
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="fleetyard-hash") as pool:
        futures = [pool.submit(stopping_the_others(job)) for job in jobs]
        errors = [f.exception() for f in futures]
    failures = [e for e in errors if e is not None and not isinstance(e, HashingStopped)]
    if failures:
        raise failures[0]
    check_stop()
    return results


class HashingRun:
    """:func:`hash_files` in background threads, its results taken as they come.

    :meth:`take` answers the files hashed since the last take; a consumer is
    woken once :data:`READY_CHUNKS` chunks or :data:`READY_BYTES` bytes are ready
    (or hashing ended), so that thousands of small files cost a few hundred
    wake-ups, not one each. :meth:`close` stops the threads and waits for them.
    """

    def __init__(self, files: Sequence[TreeEntry], workers: int, tracker: Counter) -> None:
        self._files = files
        self._workers = workers
        self._tracker = tracker
        self._ready: list[tuple[int, list[FileChunk]]] = []
        self._ready_chunks = 0
        self._ready_bytes = 0
        self._finished = False
        self._error: BaseException | None = None
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleetyard-hash", daemon=True)

    def start(self) -> HashingRun:
        self._thread.start()
        return self

    def _run(self) -> None:
        error: BaseException | None = None
        try:
            hash_files(self._files, self._workers, self._tracker, self._arrived, self._stop)
        except HashingStopped:
            pass
        except BaseException as exc:  # handed to the consumer by take()
            error = exc
        with self._changed:
            self._finished = True
            self._error = error
            self._changed.notify_all()

    def _arrived(self, index: int, chunks: list[FileChunk]) -> None:
        with self._changed:
            self._ready.append((index, chunks))
            self._ready_chunks += len(chunks) or 1
            self._ready_bytes += sum(c.size for c in chunks)
            if self._ready_chunks >= READY_CHUNKS or self._ready_bytes >= READY_BYTES:
                self._changed.notify_all()

    def take(self, timeout: float) -> tuple[list[tuple[int, list[FileChunk]]], bool] | None:
        """The files hashed since the last take (``(index, chunks)``) and whether every
        file is hashed; ``None`` when none was within ``timeout`` seconds.

        Waits up to ``timeout`` for a full batch, then answers what there is.
        Raises what hashing failed with.
        """
        with self._changed:
            full = self._ready_chunks >= READY_CHUNKS or self._ready_bytes >= READY_BYTES
            if not self._finished and not full:
                self._changed.wait(timeout)
            if self._error is not None:
                raise self._error
            if not self._ready and not self._finished:
                return None
            ready, self._ready = self._ready, []
            self._ready_chunks = self._ready_bytes = 0
            return ready, self._finished

    def close(self) -> None:
        """Stop hashing (if it still runs) and wait for its threads to end."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def read_chunk(
    path: str | os.PathLike[str],
    offset: int,
    size: int,
    expected_hash: str | None = None,
    stamp: FileStamp | None = None,
) -> bytes:
    """The bytes of one chunk, read again for its upload.

    With ``expected_hash`` the bytes are hashed again, unless the file still has
    ``stamp``, the :func:`stamp_of` it had when walked (before it was hashed): an
    unchanged file has the bytes that were hashed. So a file written to while it
    is pushed fails here, with its name; a write that leaves even its stamp
    unchanged (same size, within one tick of the file system's clock) is caught
    by the server as ``chunk_hash_mismatch``, which the push names the same way.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        unchanged = stamp is not None and stamp_of(os.fstat(fd)) == stamp
        data = os.pread(fd, size, offset)
    finally:
        os.close(fd)
    if len(data) != size or (
        expected_hash is not None
        and not unchanged
        and hashlib.sha256(data).hexdigest() != expected_hash
    ):
        raise changed_error(path, offset)
    return data


def changed_error(path: str | os.PathLike[str], offset: int) -> OSError:
    """The error of a file written to between its hashing and its upload."""
    return OSError(f"{os.fspath(path)} changed while pushing (the chunk at byte {offset} differs)")
