"""The ingest writer: one task per database that stores every publish, in batches.

Why one writer: SQLite has a single write lock, and many small transactions
from many request handlers would spend their time waiting for it and
fsyncing. Instead, request handlers validate (before anything is queued, so
nothing invalid is ever half-written) and hand a request to the writer; the
writer takes everything queued (up to ``max_batch`` messages, whole requests
only) and commits it in ONE transaction ("group commit"):

1. lock the batch's channel rows (``BEGIN IMMEDIATE`` on SQLite,
   ``SELECT … ORDER BY pk FOR UPDATE`` on PostgreSQL) and read ``last_seq``
   and the aggregate;
2. look up which ``client_message_id`` s are already stored (a resend is
   acknowledged with the stored seq and not stored twice — across batches via
   the lookup, within the batch via the same map);
3. assign seqs ``last_seq + 1 …`` and merge the aggregates in memory
   (:mod:`.staging`);
4. write each channel once and insert the messages (one executemany each on
   SQLite; one statement each on PostgreSQL, values as arrays);
5. commit, then answer each caller, then tell the listeners (stream fan-out).

Seqs are gap-free in commit order because they are assigned while holding the
channel's row, on both databases and across replicas. A request is atomic:
either all its messages commit or none (a channel deleted meanwhile fails
just that request with 404).

Back-pressure: at most ``max_pending`` messages wait; beyond that
:meth:`IngestWriter.submit` raises :class:`Overloaded` (503, ``Retry-After``)
instead of growing memory.

Other writes to the message tables (message edits, deletes, retention) go
through :meth:`IngestWriter.run`, so on SQLite this task is their only writer.

Wiring (app lifespan)::

    writer = IngestWriter(database)
    await writer.start()
    try:
        yield
    finally:
        await writer.stop()        # drains what is queued, then ends
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.services.clock import now_ms
from fleetyard.server.services.errors import (
    Overloaded,
    ServiceError,
    Unavailable,
)
from fleetyard.server.services.telemetry import staging
from fleetyard.server.services.telemetry.batches import (
    CommittedAggregate,
    CommittedBatch,
    CommittedMessage,
    IngestItem,
    IngestResult,
    Listener,
)
from fleetyard.server.services.telemetry.staging import Outcome, Request
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.dialect import (
    DatabaseKind,
    begin_write,
    connect_sqlite_writer,
    prepare_bulk_writer,
    sqlite_file,
)
from fleetyard.server.storage.repositories.telemetry import ingest as repo

log = logging.getLogger(__name__)

__all__ = [
    "CommittedAggregate",
    "CommittedBatch",
    "CommittedMessage",
    "IngestItem",
    "IngestResult",
    "IngestWriter",
    "Listener",
]

T = TypeVar("T")

DEFAULT_MAX_PENDING = 100_000
DEFAULT_MAX_BATCH = 5_000


@dataclass(slots=True)
class _Operation:
    fn: Callable[[AsyncConnection], Awaitable[Any]]
    future: asyncio.Future[Any]


class IngestWriter:
    """The single writer of one database's message log. See the module docstring.

    Example::

        writer = IngestWriter(database, max_pending=100_000)
        await writer.start()
        [result] = await writer.submit([IngestItem(org_id, ch.pk, ch.id, {"t": 21.5}, ts)])
        await writer.stop()
    """

    def __init__(
        self,
        database: Database,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        max_batch: int = DEFAULT_MAX_BATCH,
        retry_after_seconds: int = 1,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.database = database
        self.max_pending = max_pending
        self.max_batch = max_batch
        self.retry_after_seconds = retry_after_seconds
        self._clock = clock
        self._queue: deque[Request | _Operation] = deque()
        self._pending = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._listeners: list[Listener] = []
        self._conn: AsyncConnection | None = None
        # SQLite batches run on a plain sqlite3 connection in one worker thread,
        # one hand-off per batch (see _write_sqlite); None: the SQLAlchemy path.
        self._sqlite_path = (
            sqlite_file(database.url) if database.kind is DatabaseKind.SQLITE else None
        )
        self._sqlite: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._closing

    @property
    def pending(self) -> int:
        """Messages queued and not yet taken into a batch."""
        return self._pending

    async def start(self) -> None:
        """Start the drain task on the running event loop."""
        if self._task is not None:
            raise RuntimeError("the ingest writer is already started")
        self._closing = False
        if self._sqlite_path is not None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="fleetyard-ingest-sqlite")
        self._task = asyncio.create_task(self._loop(), name="fleetyard-ingest-writer")

    async def stop(self) -> None:
        """Refuse new work, store everything already queued, then end the task."""
        if self._task is None:
            return
        self._closing = True
        self._wakeup.set()
        try:
            await self._task
        finally:
            self._task = None
            await self._drop_connection()

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` with every :class:`CommittedBatch`, after its callers are answered.

        A listener that raises is logged and skipped; it never fails a publish.
        """
        self._listeners.append(listener)

    # -- submitting --------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._task is None or self._closing:
            raise Unavailable(
                "The server is not accepting telemetry right now.",
                headers={"Retry-After": str(self.retry_after_seconds)},
            )

    async def submit(
        self, items: Sequence[IngestItem], *, expected_version: int | None = None
    ) -> list[IngestResult]:
        """Queue validated items as one atomic request; answer after they are durable.

        ``expected_version`` (a single-item request) fails with ``version_stale``
        unless the channel's aggregate version is still that one when written.
        Raises :class:`Overloaded` when the queue is full; a request is never
        refused for its size alone while the queue is empty.
        """
        self._check_open()
        if not items:
            return []
        if expected_version is not None and len(items) != 1:
            raise ValueError("expected_version applies to a single item")
        if self._pending and self._pending + len(items) > self.max_pending:
            raise Overloaded(
                "Too much telemetry is waiting to be stored; retry shortly.",
                retry_after=self.retry_after_seconds,
            )
        future: asyncio.Future[list[IngestResult]] = asyncio.get_running_loop().create_future()
        self._queue.append(Request(items, future, expected_version))
        self._pending += len(items)
        self._wakeup.set()
        return await future

    async def run(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``fn(conn)`` in its own write transaction, in turn with the batches.

        For the other writers of the message tables (edits, deletes, retention).
        """
        self._check_open()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append(_Operation(fn, future))
        self._wakeup.set()
        return await future

    # -- the drain task ----------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            try:
                head = self._queue[0]
                if isinstance(head, _Operation):
                    self._queue.popleft()
                    await self._run_operation(head)
                    continue
                await self._commit(self._take_batch())
            except Exception:  # pragma: no cover - a bug; keep serving the others
                log.exception("ingest writer step failed")

    def _take_batch(self) -> list[Request]:
        batch: list[Request] = []
        count = 0
        while self._queue:
            head = self._queue[0]
            if not isinstance(head, Request):
                break
            if batch and count + len(head.items) > self.max_batch:
                break
            self._queue.popleft()
            batch.append(head)
            count += len(head.items)
        self._pending -= count
        return batch

    async def _run_operation(self, operation: _Operation) -> None:
        try:
            async with self.database.engine.connect() as conn:
                await begin_write(conn, self.database.kind)
                result = await operation.fn(conn)
                await conn.commit()
        except Exception as exc:
            # Handed to the caller, who raises it: the writer itself carries on.
            if not operation.future.done():
                operation.future.set_exception(exc)
            return
        if not operation.future.done():
            operation.future.set_result(result)

    async def _commit(self, batch: list[Request]) -> None:
        try:
            outcome = await self._write(batch)
        except Exception as exc:
            if len(batch) > 1:
                # Isolate the request that poisons the batch; the others still commit.
                for request in batch:
                    await self._commit([request])
                return
            log.exception("could not store a telemetry batch")
            error = Unavailable(
                "The telemetry could not be stored; retry shortly.",
                headers={"Retry-After": str(self.retry_after_seconds)},
            )
            error.__cause__ = exc
            if not batch[0].future.done():
                batch[0].future.set_exception(error)
            return
        for request, result in zip(batch, outcome.results, strict=True):
            if request.future.done():
                continue  # the caller went away; its messages are stored all the same
            if isinstance(result, ServiceError):
                request.future.set_exception(result)
            else:
                request.future.set_result(result)
        await self._notify(outcome.committed)

    async def _notify(self, committed: CommittedBatch) -> None:
        if not committed:
            return
        for listener in self._listeners:
            try:
                result = listener(committed)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("ingest listener failed")

    async def _batch_connection(self) -> AsyncConnection:
        """The connection batches are written on, kept between batches.

        Checking a connection out of the pool and resetting it on return costs
        two driver round trips per batch, as much as the writes of a small
        batch; the writer is the only user of this one, so it keeps it.
        """
        if self._conn is None:
            conn = await self.database.engine.connect()
            try:
                await prepare_bulk_writer(conn, self.database.kind)
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
        return self._conn

    async def _drop_connection(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            # Closed on the thread that used it, after any batch still running there.
            await asyncio.get_running_loop().run_in_executor(executor, self._close_sqlite)
            executor.shutdown(wait=False)
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:  # pragma: no cover - a broken connection is being dropped anyway
                log.debug("closing the batch connection failed", exc_info=True)

    def _close_sqlite(self) -> None:
        db, self._sqlite = self._sqlite, None
        if db is not None:
            db.close()

    def _write_sqlite(self, batch: list[Request], now: int) -> Outcome:
        """:meth:`_write` on SQLite, run whole on the writer's thread.

        The same steps and statements as the SQLAlchemy path, on a plain
        ``sqlite3`` connection: through SQLAlchemy and aiosqlite a batch costs
        some fifteen thread hand-offs, each a wake-up of the event loop, and
        under a load of single publishes that cost more than the batch's SQLite
        work. The event loop waits on one future per batch instead.
        """
        if self._sqlite is None:
            assert self._sqlite_path is not None
            self._sqlite = connect_sqlite_writer(self._sqlite_path)
        db = self._sqlite
        owners = {item.channel_pk: item.org_id for request in batch for item in request.items}
        outcome = Outcome()
        try:
            db.execute("BEGIN IMMEDIATE")
            states = repo.lock_channels_sqlite(db, owners)
            wanted = staging.wanted(batch, states)
            seen = repo.existing_client_ids_sqlite(db, wanted, owners=owners) if wanted else {}
            rows: list[tuple[Any, ...]] = []
            changed: set[int] = set()
            for request in batch:
                outcome.results.append(staging.stage(request, states, seen, rows, changed, now))
            repo.save_channels_sqlite(db, [states[pk] for pk in sorted(changed)], now)
            repo.insert_messages_sqlite(db, rows)
            db.execute("COMMIT")
        except BaseException:
            # Never reuse a connection a failed batch may have left mid-transaction.
            self._close_sqlite()
            raise
        outcome.committed = staging.committed(batch, states, rows, changed, now)
        return outcome

    async def _write(self, batch: list[Request]) -> Outcome:
        now = self._clock()
        if self._executor is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._write_sqlite, batch, now)
        if self.database.kind is DatabaseKind.POSTGRESQL:
            return await self._write_postgres(batch, now)
        owners = {item.channel_pk: item.org_id for request in batch for item in request.items}
        outcome = Outcome()
        conn = await self._batch_connection()
        try:
            await begin_write(conn, self.database.kind)
            states = await repo.lock_channels(conn, self.database.kind, owners)
            wanted = staging.wanted(batch, states)
            seen = await repo.existing_client_ids(conn, wanted, owners=owners) if wanted else {}
            rows: list[tuple[Any, ...]] = []
            changed: set[int] = set()
            for request in batch:
                outcome.results.append(staging.stage(request, states, seen, rows, changed, now))
            await repo.save_channels(
                conn,
                seq_only=[],
                with_aggregate=[
                    {
                        "b_pk": pk,
                        "b_last_seq": states[pk].last_seq,
                        "b_aggregate": states[pk].aggregate,
                        "b_version": states[pk].aggregate_version,
                        "b_updated_at": now,
                    }
                    for pk in sorted(changed)
                ],
            )
            await repo.insert_messages(conn, self.database.kind, rows)
            await conn.commit()
        except BaseException:
            # Never reuse a connection a failed batch may have left mid-transaction.
            await self._drop_connection()
            raise
        outcome.committed = staging.committed(batch, states, rows, changed, now)
        return outcome

    async def _write_postgres(self, batch: list[Request], now: int) -> Outcome:
        """:meth:`_write` on PostgreSQL, on the asyncpg connection under the batch one.

        The same steps as the SQLAlchemy path, each one statement with array
        parameters (see the repository's PostgreSQL section): four round trips
        and a commit per batch, and no SQLAlchemy work per row.
        """
        conn = await self._batch_connection()
        owners = {item.channel_pk: item.org_id for request in batch for item in request.items}
        outcome = Outcome()
        try:
            driver: Any = (await conn.get_raw_connection()).driver_connection
            async with driver.transaction():
                states = await repo.lock_channels_pg(driver, owners)
                wanted = staging.wanted(batch, states)
                seen = (
                    await repo.existing_client_ids_pg(driver, wanted, owners=owners)
                    if wanted
                    else {}
                )
                rows: list[tuple[Any, ...]] = []
                changed: set[int] = set()
                for request in batch:
                    outcome.results.append(staging.stage(request, states, seen, rows, changed, now))
                await repo.save_channels_pg(driver, [states[pk] for pk in sorted(changed)], now)
                await repo.insert_messages_pg(driver, rows)
        except BaseException:
            # Never reuse a connection a failed batch may have left mid-transaction.
            await self._drop_connection()
            raise
        outcome.committed = staging.committed(batch, states, rows, changed, now)
        return outcome
