"""Ingest throughput across 1,000 channels: the IngestWriter vs raw executemany.

Both runs use the same migrated schema, the same payloads and the same
durability settings (SQLite: WAL, synchronous=NORMAL), in fresh databases:

- **writer**: concurrent producers hand pre-validated batches (like batch
  HTTP publishes of ``--request-size`` messages) to ``IngestWriter.submit``;
  the writer locks channels, dedups, merges aggregates, assigns seqs and
  inserts, answering each producer after its commit.
- **raw**: the stdlib ``sqlite3`` module inserting the same rows (seqs
  precomputed, payloads JSON-encoded) with one ``executemany`` per
  ``--batch`` rows and one commit each; no channel updates at all.

With ``FLEETYARD_BENCH_DATABASE_URL`` set to PostgreSQL, both run there
instead, each in a scratch database created beside it and dropped after, and
the yardstick is asyncpg's ``executemany`` of the same INSERT, one
transaction per ``--batch`` rows.

Run: ``.venv/bin/python bench/ingest.py [--messages 200000]``. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from _schema import asyncpg_dsn, bench_postgres_url, scratch_postgres, seed_channels

from fleetyard.server.services.telemetry.ingest import IngestItem, IngestWriter
from fleetyard.server.storage.database import Database

PAYLOAD = {"temperature": 21.5, "humidity": 40, "battery": {"level": 87}, "ok": True}


async def setup(url: str, n_channels: int) -> tuple[Database, str, list[tuple[int, str]]]:
    database = Database(url)
    await database.migrate()
    org_id, rows = await seed_channels(database, n_channels)
    return database, org_id, rows


async def bench_writer(url: str, args: argparse.Namespace) -> float:
    database, org_id, chans = await setup(url, args.channels)
    writer = IngestWriter(database, max_batch=args.batch, max_pending=1_000_000)
    await writer.start()
    per_producer = args.messages // args.producers
    now = int(time.time() * 1000)

    async def producer(worker: int) -> None:
        sent = 0
        i = worker
        while sent < per_producer:
            size = min(args.request_size, per_producer - sent)
            items = []
            for _ in range(size):
                pk, channel_id = chans[i % len(chans)]
                items.append(IngestItem(org_id, pk, channel_id, dict(PAYLOAD), now + i))
                i += args.producers
            await writer.submit(items)
            sent += size

    started = time.perf_counter()
    await asyncio.gather(*(producer(w) for w in range(args.producers)))
    elapsed = time.perf_counter() - started
    await writer.stop()
    async with database.connect() as conn:
        stored = (await conn.execute(sa.text("SELECT count(*) FROM messages"))).scalar_one()
    await database.dispose()
    assert stored == per_producer * args.producers, stored
    return float(stored) / elapsed


async def prepare_raw(url: str, args: argparse.Namespace) -> tuple[str, list[tuple[int, str]]]:
    database, org_id, chans = await setup(url, args.channels)
    await database.dispose()
    return org_id, chans


RawRow = tuple[int, int, str, int, int, str]


def raw_batches(
    org_id: str, chans: list[tuple[int, str]], args: argparse.Namespace
) -> Iterator[list[RawRow]]:
    """The yardstick's rows, ``--batch`` at a time, built as they are needed (inside the
    timing, as the writer's producers build theirs): seqs counted here, payload encoded."""
    now = int(time.time() * 1000)
    seqs = [0] * (len(chans) + 1)
    total = args.messages - args.messages % args.producers
    done = 0
    i = 0
    while done < total:
        size = min(args.batch, total - done)
        rows = []
        for _ in range(size):
            pk, _ = chans[i % len(chans)]
            seqs[i % len(chans)] += 1
            rows.append((pk, seqs[i % len(chans)], org_id, now + i, now, json.dumps(PAYLOAD)))
            i += 1
        yield rows
        done += size


async def bench_raw_postgres(
    url: str, org_id: str, chans: list[tuple[int, str]], args: argparse.Namespace
) -> float:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    sql = (
        "INSERT INTO messages"
        " (channel_pk, seq, org_id, ts, received_at, payload, client_message_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, NULL)"
    )
    try:
        started = time.perf_counter()
        total = 0
        for rows in raw_batches(org_id, chans, args):
            async with conn.transaction():
                await conn.executemany(sql, rows)
            total += len(rows)
        elapsed = time.perf_counter() - started
        stored = await conn.fetchval("SELECT count(*) FROM messages")
    finally:
        await conn.close()
    assert stored == total, stored
    return float(total) / elapsed


def bench_raw(
    path: Path, org_id: str, chans: list[tuple[int, str]], args: argparse.Namespace
) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-65536")  # as the writer's connection
    sql = (
        "INSERT INTO messages"
        " (channel_pk, seq, org_id, ts, received_at, payload, client_message_id)"
        " VALUES (?, ?, ?, ?, ?, ?, NULL)"
    )
    started = time.perf_counter()
    total = 0
    for rows in raw_batches(org_id, chans, args):
        conn.execute("BEGIN")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
        total += len(rows)
    elapsed = time.perf_counter() - started
    stored = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    conn.close()
    assert stored == total, stored
    return float(total) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--channels", type=int, default=1_000)
    parser.add_argument("--producers", type=int, default=16)
    parser.add_argument("--request-size", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=5_000)
    args = parser.parse_args()
    postgres = bench_postgres_url()
    if postgres:
        with scratch_postgres(postgres) as url:
            writer_rate = asyncio.run(bench_writer(url, args))
        with scratch_postgres(postgres) as url:
            org_id, chans = asyncio.run(prepare_raw(url, args))
            raw_rate = asyncio.run(bench_raw_postgres(url, org_id, chans, args))
        kind, yardstick = "PostgreSQL", "raw asyncpg executemany"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            writer_rate = asyncio.run(bench_writer(f"sqlite:///{Path(tmp) / 'writer.db'}", args))
            raw = Path(tmp) / "raw.db"
            org_id, chans = asyncio.run(prepare_raw(f"sqlite:///{raw}", args))
            raw_rate = bench_raw(raw, org_id, chans, args)
        kind, yardstick = "SQLite", "raw executemany"
    print(
        f"ingest into {kind}, {args.messages:,} messages over {args.channels:,} channels "
        f"({args.producers} producers x {args.request_size}-message requests, "
        f"batches <= {args.batch:,})"
    )
    print(f"  {'IngestWriter':<23} : {writer_rate:>10,.0f} msg/s")
    print(f"  {yardstick:<23} : {raw_rate:>10,.0f} msg/s")
    print(f"  {'ratio':<23} : {writer_rate / raw_rate:>10.2f}")


if __name__ == "__main__":
    main()
