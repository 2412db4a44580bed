"""The window query searches ``messages`` through its ``(channel_pk, ts, seq)`` index.

SQLite only, on purpose. SQLite's planner picks the plan from the schema
(there is no ``ANALYZE`` data in a Fleetyard database), so the plan of a tiny
test table is the plan of a 10-million-row one (``bench/window_query.py``
shows the same line on 10 M rows). PostgreSQL's planner is cost-based: on a
table of a few rows it rightly prefers a sequential scan, and forcing it with
``SET enable_seqscan = off`` would prove nothing, so no PostgreSQL half here.

The SQL checked is the exact statement and parameters the repository sends,
captured from the engine, not a hand-written copy.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fleetyard.protocol.telemetry import ChannelCreate
from fleetyard.server.services.telemetry.channels import create_channel
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories.telemetry import messages as repo
from fleetyard.server.storage.telemetry_tables import channels as channel_table
from fleetyard.server.storage.telemetry_tables import messages
from tests.server.telemetry.conftest import make_tenant

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000_000


@pytest.mark.parametrize(
    ("descending", "after"),
    [(False, None), (True, None), (False, (T0 + 50, 51)), (True, (T0 + 50, 51))],
    ids=["oldest-first", "newest-first", "oldest-first-cursor", "newest-first-cursor"],
)
async def test_window_query_uses_the_time_index(
    tmp_path: Path, descending: bool, after: tuple[int, int] | None
) -> None:
    path = tmp_path / "plan.db"
    db = Database(f"sqlite:///{path}")
    await db.migrate()
    captured: list[tuple[str, tuple[Any, ...]]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM messages" in statement:
            captured.append((statement, tuple(parameters)))

    try:
        tenant = await make_tenant(db, "acme")
        channels = []
        for name in ("a", "b"):
            channel, _ = await create_channel(
                db, tenant.principal, tenant.agent.id, ChannelCreate(name=name)
            )
            channels.append(channel)
        async with db.begin() as conn:
            pks = await conn.execute(
                sa.select(channel_table.c.pk).where(
                    channel_table.c.id.in_([c.id for c in channels])
                )
            )
            pk, other = sorted(int(p) for p in pks.scalars())
            await conn.execute(
                sa.insert(messages),
                [
                    {
                        "channel_pk": channel_pk,
                        "seq": i + 1,
                        "org_id": tenant.org_id,
                        "ts": T0 + i,
                        "received_at": T0 + i,
                        "payload": {"i": i},
                    }
                    for channel_pk in (pk, other)
                    for i in range(100)
                ],
            )
        sa.event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
        async with db.connect() as conn:
            rows = await repo.list_window(
                conn,
                pk,
                org_id=tenant.org_id,
                start_ms=T0 + 10,
                end_ms=T0 + 90,
                after=after,
                descending=descending,
                limit=1000,
            )
        assert rows
        assert all(r.channel_pk == pk for r in rows)
    finally:
        await db.dispose()

    assert len(captured) == 1
    statement, parameters = captured[0]
    lite = sqlite3.connect(path)
    try:
        plan = [str(r[-1]) for r in lite.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)]
    finally:
        lite.close()
    assert any(
        line.startswith("SEARCH messages USING INDEX ix_messages_channel_pk_ts_seq (channel_pk=?")
        and "ts>" in line
        for line in plan
    ), plan
    assert not any(line.startswith("SCAN messages") for line in plan), plan
    # The index already yields (ts, seq) order: no sort step.
    assert not any("TEMP B-TREE" in line for line in plan), plan
