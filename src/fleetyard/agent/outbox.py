"""The agent's outbox: everything it must not lose, on disk before anyone is told "done".

One SQLite file (stdlib ``sqlite3``, WAL, ``synchronous=FULL``: a commit is on
disk when it returns) with two tables:

- ``outbox``: rows to send, in insertion order. A *message* row is one
  telemetry message (channel, payload, timestamp, ``client_message_id``); a
  *frame* row is a whole agent → server frame without its ``ref``
  (``execution.update``, ``device.states``, ``command.result``…). A row is
  deleted only when the server acknowledged it; after a reconnect or a
  restart everything left is sent again, in order, with the same
  ``client_message_id`` (the server deduplicates messages and re-acknowledges
  updates it already applied), so nothing is lost and nothing doubles.
- ``work``: executions, machine commands and deployments this agent has seen,
  so a ``execution.start`` (``deploy.start``…) sent again after a reconnect (or a
  restart) is not run twice, and work cut short by a crash can be reported failed
  (or resumed) on restart; ``detail`` keeps a final error text.

Thread-safe (one connection behind a lock): the local API writes from the
event loop's worker threads while the session reads.

Example::

    outbox = Outbox.open(Path("/var/lib/fleetyard-agent"))
    cmid = outbox.add_message("status", {"ok": True})
    rows = outbox.pending(after=0, limit=100)
    outbox.delete([row.id for row in rows])   # after the server's ack
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["FILE_NAME", "Outbox", "OutboxRow", "new_client_message_id"]

FILE_NAME = "outbox.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    client_message_id TEXT UNIQUE,
    body TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS work (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    detail TEXT,
    PRIMARY KEY (kind, id)
);
"""
WORK_KEEP_ROWS = 5000
"""Finished work remembered for deduplication (the newest ones)."""


def new_client_message_id() -> str:
    """A fresh idempotency id for one message (time-ordered hex, unique across restarts)."""
    return f"{time.time_ns():x}-{uuid.uuid4().hex[:16]}"


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One row to send: ``body`` is a message (``kind="message"``) or a frame without ref."""

    id: int
    kind: Literal["message", "frame"]
    body: dict[str, Any]


class Outbox:
    """The durable queue (see the module docstring). Use :meth:`open`."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self._lock = threading.Lock()
        self.path = path

    @classmethod
    def open(cls, data_dir: Path) -> Outbox:
        """Open (creating) ``data_dir/outbox.sqlite3``."""
        data_dir = data_dir.expanduser()
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / FILE_NAME
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit that returned survives power loss, not only a process crash.
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(work)")}
        if "detail" not in columns:  # an outbox made by an agent before deployments
            db.execute("ALTER TABLE work ADD COLUMN detail TEXT")
        return cls(db, path)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing ------------------------------------------------------------------------

    def add_message(
        self,
        channel: str,
        payload: Any,
        *,
        timestamp: str | None = None,
        client_message_id: str | None = None,
    ) -> str:
        """Store one telemetry message; returns its ``client_message_id`` once on disk."""
        return self.add_messages(
            [
                {
                    "channel": channel,
                    "payload": payload,
                    "timestamp": timestamp,
                    "client_message_id": client_message_id,
                }
            ]
        )[0]

    def add_messages(self, messages: Sequence[dict[str, Any]]) -> list[str]:
        """Store several messages in one commit (one disk flush); returns their ids.

        A ``client_message_id`` already waiting in the outbox is not stored twice.
        """
        ids: list[str] = []
        rows: list[tuple[str, str, str, int]] = []
        now = _now_ms()
        for message in messages:
            cmid = message.get("client_message_id") or new_client_message_id()
            # Optional members (timestamp, save_log…) travel as given; payload always.
            body = {k: v for k, v in message.items() if v is not None and k != "payload"}
            body["payload"] = message.get("payload")
            body["client_message_id"] = cmid
            rows.append(("message", cmid, json.dumps(body, separators=(",", ":")), now))
            ids.append(cmid)
        with self._lock, self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO outbox (kind, client_message_id, body, created_ms)"
                " VALUES (?, ?, ?, ?)",
                rows,
            )
        return ids

    def add_frame(
        self,
        frame: dict[str, Any],
        *,
        work: tuple[str, str, str] | None = None,
        detail: str | None = None,
    ) -> int:
        """Store one frame (without ``ref``); ``work=(kind, id, state)`` records the work
        state (with an optional ``detail`` text) in the same commit. Returns the row id."""
        body = json.dumps(frame, separators=(",", ":"))
        with self._lock, self._transaction():
            cursor = self._db.execute(
                "INSERT INTO outbox (kind, body, created_ms) VALUES ('frame', ?, ?)",
                (body, _now_ms()),
            )
            if work is not None:
                self._set_work(*work, detail=detail)
        return int(cursor.lastrowid or 0)

    def delete(self, ids: Iterable[int]) -> None:
        """Forget rows the server acknowledged."""
        with self._lock, self._transaction():
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        # Autocommit connection, explicit transactions: one commit (one flush) per call.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- reading ------------------------------------------------------------------------

    def pending(self, *, after: int = 0, limit: int = 1000) -> list[OutboxRow]:
        """Rows with an id above ``after``, oldest first."""
        with self._lock:
            found = self._db.execute(
                "SELECT id, kind, body FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after, limit),
            ).fetchall()
        return [OutboxRow(int(i), kind, json.loads(body)) for i, kind, body in found]

    def count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM outbox").fetchone()
        return int(n)

    def contains(self, row_id: int) -> bool:
        with self._lock:
            found = self._db.execute("SELECT 1 FROM outbox WHERE id = ?", (row_id,)).fetchone()
        return found is not None

    # -- work ---------------------------------------------------------------------------

    def work_state(self, kind: str, work_id: str) -> str | None:
        with self._lock:
            found = self._db.execute(
                "SELECT state FROM work WHERE kind = ? AND id = ?", (kind, work_id)
            ).fetchone()
        return None if found is None else str(found[0])

    def set_work(self, kind: str, work_id: str, state: str, detail: str | None = None) -> None:
        with self._lock, self._transaction():
            self._set_work(kind, work_id, state, detail=detail)

    def work_record(self, kind: str, work_id: str) -> tuple[str, str | None] | None:
        """``(state, detail)`` of one piece of work, or ``None`` if never seen."""
        with self._lock:
            found = self._db.execute(
                "SELECT state, detail FROM work WHERE kind = ? AND id = ?", (kind, work_id)
            ).fetchone()
        return None if found is None else (str(found[0]), found[1])

    def unfinished_work(self, kind: str) -> list[str]:
        """Ids of ``kind`` work marked ``running`` (cut short when the agent last stopped)."""
        with self._lock:
            found = self._db.execute(
                "SELECT id FROM work WHERE kind = ? AND state = 'running' ORDER BY updated_ms",
                (kind,),
            ).fetchall()
        return [str(row[0]) for row in found]

    def _set_work(self, kind: str, work_id: str, state: str, *, detail: str | None = None) -> None:
        self._db.execute(
            "INSERT INTO work (kind, id, state, updated_ms, detail) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (kind, id) DO UPDATE SET state = excluded.state,"
            " updated_ms = excluded.updated_ms, detail = excluded.detail",
            (kind, work_id, state, _now_ms(), detail),
        )
        if state != "running":
            self._db.execute(
                "DELETE FROM work WHERE rowid IN (SELECT rowid FROM work WHERE state != 'running'"
                " ORDER BY updated_ms DESC LIMIT -1 OFFSET ?)",
                (WORK_KEEP_ROWS,),
            )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
