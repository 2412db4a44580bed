"""The outbox on disk: what was acknowledged locally survives a crash, in order, once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fleetyard.agent.outbox import FILE_NAME, Outbox


def test_durable_mode(outbox: Outbox) -> None:
    db = sqlite3.connect(outbox.path)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.close()


def test_nothing_lost_after_a_crash_and_in_order(tmp_path: Path) -> None:
    first = Outbox.open(tmp_path)
    ids = [first.add_message("status", {"n": n}) for n in range(5)]
    first.add_frame({"type": "execution.update", "execution_id": "exe_1", "state": "completed"})
    # "Crash": the connection is never closed; a new process opens the same file.
    second = Outbox.open(tmp_path)
    rows = second.pending()
    assert [row.kind for row in rows] == ["message"] * 5 + ["frame"]
    assert [row.body["client_message_id"] for row in rows[:5]] == ids
    assert [row.body["payload"] for row in rows[:5]] == [{"n": n} for n in range(5)]
    assert rows[5].body["state"] == "completed"
    assert (tmp_path / FILE_NAME).exists()
    first.close()
    second.close()


def test_acked_rows_are_gone_and_resend_starts_after(outbox: Outbox) -> None:
    for n in range(4):
        outbox.add_message("status", n)
    rows = outbox.pending()
    outbox.delete([rows[0].id, rows[1].id])
    assert [row.body["payload"] for row in outbox.pending()] == [2, 3]
    assert [row.body["payload"] for row in outbox.pending(after=rows[2].id)] == [3]
    assert outbox.count() == 2
    assert outbox.contains(rows[3].id)
    assert not outbox.contains(rows[0].id)


def test_same_client_message_id_stored_once(outbox: Outbox) -> None:
    outbox.add_message("status", 1, client_message_id="abc")
    outbox.add_message("status", 1, client_message_id="abc")
    assert outbox.count() == 1


def test_optional_members_travel(outbox: Outbox) -> None:
    outbox.add_messages(
        [
            {
                "channel": "t",
                "payload": None,
                "timestamp": "2026-01-01T00:00:00.000Z",
                "save_log": False,
            }
        ]
    )
    [row] = outbox.pending()
    assert row.body["timestamp"] == "2026-01-01T00:00:00.000Z"
    assert row.body["save_log"] is False
    assert row.body["payload"] is None


def test_work_state_survives_and_unfinished_is_listed(tmp_path: Path) -> None:
    box = Outbox.open(tmp_path)
    box.add_frame({"type": "execution.update"}, work=("execution", "exe_1", "running"))
    box.set_work("execution", "exe_2", "completed")
    box.close()
    again = Outbox.open(tmp_path)
    assert again.unfinished_work("execution") == ["exe_1"]
    assert again.work_state("execution", "exe_2") == "completed"
    assert again.work_state("execution", "exe_3") is None
    again.close()
