"""Ingest throughput into SQLite across 1,000 channels: the IngestWriter vs raw executemany.

Both runs use the same migrated schema, the same payloads and the same
durability settings (WAL, synchronous=NORMAL), in fresh database files:

- **writer**: concurrent producers hand pre-validated batches (like batch
  HTTP publishes of ``--request-size`` messages) to ``IngestWriter.submit``;
  the writer locks channels, dedups, merges aggregates, assigns seqs and
  inserts, answering each producer after its commit.
- **raw**: the stdlib ``sqlite3`` module inserting the same rows (seqs
  precomputed, payloads JSON-encoded) with one ``executemany`` per
  ``--batch`` rows and one commit each; no channel updates at all.

Run: ``.venv/bin/python bench/ingest.py [--messages 200000]``. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from _schema import seed_channels

from fleetyard.server.services.telemetry.ingest import IngestItem, IngestWriter
from fleetyard.server.storage.database import Database

PAYLOAD = {"temperature": 21.5, "humidity": 40, "battery": {"level": 87}, "ok": True}


async def setup(path: Path, n_channels: int) -> tuple[Database, str, list[tuple[int, str]]]:
    database = Database(f"sqlite:///{path}")
    await database.migrate()
    org_id, rows = await seed_channels(database, n_channels)
    return database, org_id, rows


async def bench_writer(path: Path, args: argparse.Namespace) -> float:
    database, org_id, chans = await setup(path, args.channels)
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


async def prepare_raw(path: Path, args: argparse.Namespace) -> tuple[str, list[tuple[int, str]]]:
    database, org_id, chans = await setup(path, args.channels)
    await database.dispose()
    return org_id, chans


def bench_raw(
    path: Path, org_id: str, chans: list[tuple[int, str]], args: argparse.Namespace
) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-65536")  # as the writer's connection
    now = int(time.time() * 1000)
    seqs = [0] * (len(chans) + 1)
    total = args.messages - args.messages % args.producers
    sql = (
        "INSERT INTO messages"
        " (channel_pk, seq, org_id, ts, received_at, payload, client_message_id)"
        " VALUES (?, ?, ?, ?, ?, ?, NULL)"
    )
    started = time.perf_counter()
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
        conn.execute("BEGIN")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
        done += size
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
    with tempfile.TemporaryDirectory() as tmp:
        writer_rate = asyncio.run(bench_writer(Path(tmp) / "writer.db", args))
        org_id, chans = asyncio.run(prepare_raw(Path(tmp) / "raw.db", args))
        raw_rate = bench_raw(Path(tmp) / "raw.db", org_id, chans, args)
    print(
        f"ingest into SQLite, {args.messages:,} messages over {args.channels:,} channels "
        f"({args.producers} producers x {args.request_size}-message requests, "
        f"batches <= {args.batch:,})"
    )
    print(f"  IngestWriter     : {writer_rate:>10,.0f} msg/s")
    print(f"  raw executemany  : {raw_rate:>10,.0f} msg/s")
    print(f"  ratio            : {writer_rate / raw_rate:>10.2f}")


if __name__ == "__main__":
    main()
