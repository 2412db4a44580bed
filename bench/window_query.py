"""A 10,000-message time window out of a 10-million-message channel, on SQLite or PostgreSQL.

Builds a fresh migrated database (``Database.migrate``), one organisation,
site and agent, one big channel and ``--other-channels`` small ones, then
bulk-loads the message log with the stdlib ``sqlite3`` (one ``executemany``
per ``--chunk`` rows; on PostgreSQL asyncpg's binary ``COPY``, one per
``--chunk`` rows, then ``VACUUM ANALYZE``): ``--messages`` messages in the big channel with
timestamps spread evenly over ``--days`` days, and ``--other-messages`` in
each small channel over the same span, so the ``(channel_pk, ts, seq)``
index is shared.

It then times, best and median of ``--runs`` runs each, the window that
holds exactly ``--window`` messages in the middle of the range:

- **repository**: ``repositories.telemetry.messages.list_window`` (the SQL,
  fetching ``limit + 1`` rows and decoding them into records);
- **service**: ``services.telemetry.messages.list_messages`` (adds the
  org-checked channel lookup and the ``Message`` models the API returns).

As a yardstick it runs the same SQL with the stdlib ``sqlite3`` (or asyncpg on
PostgreSQL; rows fetched as tuples, nothing decoded): the gap to it is Python
per row. Finally it prints the plan of the exact SQL and parameters the
repository sent (captured from the engine): ``EXPLAIN QUERY PLAN`` on SQLite,
``EXPLAIN (ANALYZE, BUFFERS)`` on PostgreSQL, which must read ``messages``
through the ``(channel_pk, ts, seq)`` index rather than scan it, with no sort.

With ``FLEETYARD_BENCH_DATABASE_URL`` set to PostgreSQL the whole bench runs
in a scratch database created beside that one and dropped at the end (its
role needs CREATEDB; 10 million rows take about 3 GB there while it runs).

Run: ``.venv/bin/python bench/window_query.py [--messages 10000000]``. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _schema import asyncpg_dsn, bench_postgres_url, scratch_postgres, seed_channels

from fleetyard.protocol.scopes import parse_scopes
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.telemetry.messages import list_messages
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories.telemetry import messages as repo

PAYLOAD = json.dumps({"temperature": 21.5, "humidity": 40, "battery": {"level": 87}, "ok": True})
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY_MS = 86_400_000
INSERT = (
    "INSERT INTO messages"
    " (channel_pk, seq, org_id, ts, received_at, payload, client_message_id)"
    " VALUES (?, ?, ?, ?, ?, ?, NULL)"
)


COLUMNS = ["channel_pk", "seq", "org_id", "ts", "received_at", "payload", "client_message_id"]
INDEX = "ix_messages_channel_pk_ts_seq"


async def setup(url: str, n_channels: int) -> tuple[str, list[tuple[int, str]]]:
    """Migrate a fresh database; one org/site/agent and ``n_channels`` channels (big one first)."""
    database = Database(url)
    await database.migrate()
    org_id, rows = await seed_channels(database, n_channels)
    await database.dispose()
    return org_id, rows


def _rows(
    pk: int, org_id: str, first: int, count: int, n: int, span: int
) -> Iterator[tuple[int, int, str, int, int, str]]:
    for i in range(first, first + count):
        ts = T0 + i * span // n
        yield (pk, i + 1, org_id, ts, ts, PAYLOAD)


def load(path: Path, org_id: str, chans: list[tuple[int, str]], args: argparse.Namespace) -> float:
    """Bulk-load the log; returns messages/s. Journal off while loading, WAL again after."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    span = args.days * DAY_MS
    started = time.perf_counter()
    big_pk = chans[0][0]
    total = 0
    for first in range(0, args.messages, args.chunk):
        count = min(args.chunk, args.messages - first)
        conn.execute("BEGIN")
        conn.executemany(INSERT, _rows(big_pk, org_id, first, count, args.messages, span))
        conn.execute("COMMIT")
        total += count
    conn.execute("BEGIN")
    for pk, _ in chans[1:]:
        n = args.other_messages
        conn.executemany(INSERT, _rows(pk, org_id, 0, n, n, span))
        total += n
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.execute("PRAGMA journal_mode=WAL")
    stored = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    conn.close()
    assert stored == total, (stored, total)
    return total / elapsed


async def load_postgres(
    url: str, org_id: str, chans: list[tuple[int, str]], args: argparse.Namespace
) -> float:
    """The same rows with asyncpg's binary COPY, one per ``--chunk`` rows; then
    ``VACUUM ANALYZE`` so the planner has statistics. Returns messages/s (COPY only)."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        span = args.days * DAY_MS
        started = time.perf_counter()
        total = 0
        for first in range(0, args.messages, args.chunk):
            count = min(args.chunk, args.messages - first)
            rows = [
                (*row, None)
                for row in _rows(chans[0][0], org_id, first, count, args.messages, span)
            ]
            await conn.copy_records_to_table("messages", records=rows, columns=COLUMNS)
            total += count
        for pk, _ in chans[1:]:
            n = args.other_messages
            rows = [(*row, None) for row in _rows(pk, org_id, 0, n, n, span)]
            await conn.copy_records_to_table("messages", records=rows, columns=COLUMNS)
            total += n
        elapsed = time.perf_counter() - started
        await conn.execute("VACUUM (ANALYZE) messages")
        stored = await conn.fetchval("SELECT count(*) FROM messages")
    finally:
        await conn.close()
    assert stored == total, (stored, total)
    return total / elapsed


async def timed(runs: int, call: Callable[[], Awaitable[int]], expected: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        got = await call()
        times.append(time.perf_counter() - started)
        assert got == expected, (got, expected)
    return times


async def measure(
    url: str, org_id: str, chans: list[tuple[int, str]], args: argparse.Namespace
) -> tuple[list[float], list[float], str, tuple[Any, ...]]:
    span = args.days * DAY_MS
    middle = args.messages // 2
    # Half-open [start, end): exactly messages middle .. middle + window - 1 of the big channel.
    start_ms = T0 + middle * span // args.messages
    end_ms = T0 + (middle + args.window) * span // args.messages
    big_pk, big_id = chans[0]
    database = Database(url)
    captured: list[tuple[str, tuple[Any, ...]]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM messages" in statement:
            captured.append((statement, tuple(parameters)))

    sa.event.listen(database.engine.sync_engine, "before_cursor_execute", capture)

    async def by_repository() -> int:
        async with database.connect() as conn:
            rows = await repo.list_window(
                conn,
                big_pk,
                org_id=org_id,
                start_ms=start_ms,
                end_ms=end_ms,
                descending=False,
                limit=args.window,
            )
        return len(rows)

    principal = Principal(kind="api_key", org_id=org_id, scopes=parse_scopes(["*:*:admin"]))

    async def by_service() -> int:
        page = await list_messages(
            database,
            principal,
            big_id,
            limit=args.window,
            start_ms=start_ms,
            end_ms=end_ms,
            newest_first=False,
        )
        return len(page.items)

    try:
        await by_repository()  # warm the pool and the page cache once, untimed
        statement, parameters = captured[0]
        repo_times = await timed(args.runs, by_repository, args.window)
        service_times = await timed(args.runs, by_service, args.window)
    finally:
        await database.dispose()
    return repo_times, service_times, statement, parameters


def raw_times(
    path: Path, statement: str, parameters: tuple[Any, ...], runs: int, window: int
) -> list[float]:
    """The same SQL through the stdlib ``sqlite3``: index range plus row fetch, no decoding."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(statement, parameters).fetchall()  # warm, untimed
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            rows = conn.execute(statement, parameters).fetchall()
            times.append(time.perf_counter() - started)
    finally:
        conn.close()
    assert len(rows) == window, len(rows)  # limit + 1 asked, window rows returned
    return times


def query_plan(path: Path, statement: str, parameters: tuple[Any, ...]) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
    finally:
        conn.close()
    return [str(r[-1]) for r in rows]


async def raw_times_postgres(
    url: str, statement: str, parameters: tuple[Any, ...], runs: int, window: int
) -> tuple[list[float], list[str], float]:
    """The same SQL through asyncpg (prepared, rows as Records, jsonb left as text);
    then ``EXPLAIN (ANALYZE, BUFFERS)`` of it, and the size of ``messages`` in MB."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.fetch(statement, *parameters)  # warm, untimed
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            rows = await conn.fetch(statement, *parameters)
            times.append(time.perf_counter() - started)
        plan = [
            str(r[0])
            for r in await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", *parameters)
        ]
        size = await conn.fetchval("SELECT pg_total_relation_size('messages')")
    finally:
        await conn.close()
    assert len(rows) == window, len(rows)
    return times, plan, size / 1e6


def plan_verdict(plan: list[str], postgres: bool) -> tuple[bool, bool, bool]:
    """(reads messages through the (channel_pk, ts, seq) index, scans it whole, sorts)."""
    if postgres:
        uses = any(
            f"Index Scan using {INDEX} on messages" in line
            or f"Bitmap Index Scan on {INDEX}" in line
            for line in plan
        )
        scans = any("Seq Scan on messages" in line for line in plan)
        sorts = any(line.split()[:2] in (["Sort"], ["->", "Sort"]) for line in plan)
        return uses, scans, sorts
    uses = any(line.startswith(f"SEARCH messages USING INDEX {INDEX}") for line in plan)
    scans = any(line.startswith("SCAN messages") for line in plan)
    sorts = any("TEMP B-TREE" in line for line in plan)
    return uses, scans, sorts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000_000)
    parser.add_argument("--other-channels", type=int, default=50)
    parser.add_argument("--other-messages", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--window", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the database file")
    args = parser.parse_args()
    assert args.window < args.messages
    postgres = bench_postgres_url()
    if postgres:
        with scratch_postgres(postgres) as url:
            org_id, chans = asyncio.run(setup(url, 1 + args.other_channels))
            rate = asyncio.run(load_postgres(url, org_id, chans, args))
            repo_times, service_times, statement, parameters = asyncio.run(
                measure(url, org_id, chans, args)
            )
            raw_times_, plan, size_mb = asyncio.run(
                raw_times_postgres(url, statement, parameters, args.runs, args.window)
            )
        kind, raw_name, plan_name = "PostgreSQL", "raw asyncpg, same SQL", "EXPLAIN (ANALYZE)"
    else:
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            path = Path(tmp) / "window.db"
            org_id, chans = asyncio.run(setup(f"sqlite:///{path}", 1 + args.other_channels))
            rate = load(path, org_id, chans, args)
            size_mb = path.stat().st_size / 1e6
            repo_times, service_times, statement, parameters = asyncio.run(
                measure(f"sqlite:///{path}", org_id, chans, args)
            )
            plan = query_plan(path, statement, parameters)
            raw_times_ = raw_times(path, statement, parameters, args.runs, args.window)
        kind, raw_name, plan_name = "SQLite", "raw sqlite3, same SQL", "EXPLAIN QUERY PLAN"
    print(
        f"window query on {kind}: {args.window:,} of {args.messages:,} messages in one channel "
        f"(+{args.other_channels} channels x {args.other_messages:,}), {args.days} days, "
        f"messages {size_mb:,.0f} MB, loaded at {rate:,.0f} msg/s"
    )
    for name, times in (
        (raw_name, raw_times_),
        ("repository list_window", repo_times),
        ("service list_messages", service_times),
    ):
        best, median = min(times) * 1000, statistics.median(times) * 1000
        print(f"  {name:<24}: best {best:8.1f} ms   median {median:8.1f} ms   ({args.runs} runs)")
    print("  SQL:", " ".join(statement.split()))
    print("  parameters:", parameters)
    print(f"  {plan_name}:")
    for line in plan:
        print("   ", line)
    uses_index, scans, sorts = plan_verdict(plan, bool(postgres))
    print(f"  uses the {INDEX} index: {uses_index}; scans messages: {scans}; sorts: {sorts}")
    if not uses_index or scans:
        raise SystemExit("the window query does not use the (channel_pk, ts, seq) index")


if __name__ == "__main__":
    main()
