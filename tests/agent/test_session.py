"""The session state machine with scripted frames: no sockets, no disk, no clock."""

from __future__ import annotations

import json
from typing import Any

from fleetyard.agent.outbox import OutboxRow
from fleetyard.agent.session import (
    Acknowledged,
    AgentSession,
    CancelExecution,
    Close,
    Log,
    Rejected,
    RunCommand,
    Send,
    StartExecution,
    Welcomed,
)

WELCOME = json.dumps(
    {
        "type": "welcome",
        "agent_id": "agt_1",
        "site_id": "site_1",
        "heartbeat_seconds": 10,
        "server_time": "2026-01-01T00:00:00.000Z",
    }
)


def sent(actions: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(a.text) for a in actions if isinstance(a, Send)]


def message(row_id: int, channel: str = "status") -> OutboxRow:
    body = {"channel": channel, "payload": row_id, "client_message_id": f"m{row_id}"}
    return OutboxRow(row_id, "message", body)


def frame(row_id: int) -> OutboxRow:
    body = {"type": "execution.update", "execution_id": "exe_1", "state": "in_progress"}
    return OutboxRow(row_id, "frame", body)


def welcomed(**options: Any) -> AgentSession:
    session = AgentSession(agent_version="0.1.0", commands=["ping"], **options)
    session.connected(now=0.0)
    session.received(WELCOME, now=0.0)
    return session


def test_hello_first_and_nothing_before_welcome() -> None:
    session = AgentSession(agent_version="0.1.0", commands=["ping", "shell"])
    [hello] = sent(session.connected(now=0.0))
    assert hello == {"type": "hello", "agent_version": "0.1.0", "commands": ["ping", "shell"]}
    assert session.capacity() == 0
    assert session.offer([message(1)]) == []
    actions = session.received(WELCOME, now=0.1)
    assert isinstance(actions[0], Welcomed)
    assert session.ready
    assert session.agent_id == "agt_1"
    assert session.capacity() > 0


def test_messages_batch_into_publish_frames_and_frames_go_alone() -> None:
    session = welcomed()
    frames = sent(session.offer([message(1), message(2), frame(3), message(4)]))
    assert [f["type"] for f in frames] == ["publish", "execution.update", "publish"]
    assert frames[0]["ref"] == "m1-2"
    assert [m["client_message_id"] for m in frames[0]["messages"]] == ["m1", "m2"]
    assert frames[1]["ref"] == "f3"
    assert frames[1]["execution_id"] == "exe_1"
    assert frames[2]["ref"] == "m4-4"
    assert session.sent_through == 4
    assert session.in_flight == 3
    # Offered again (the runner reads from sent_through on): nothing goes twice.
    assert session.offer([message(4)]) == []


def test_ack_deletes_exactly_its_rows_and_unknown_refs_are_ignored() -> None:
    session = welcomed()
    session.offer([message(1), message(2), frame(3)])
    assert session.received('{"type": "ack", "ref": "m1-2", "results": []}', now=1.0) == [
        Acknowledged((1, 2))
    ]
    assert session.received('{"type": "ack", "ref": "f3"}', now=1.0) == [Acknowledged((3,))]
    assert session.received('{"type": "ack", "ref": "f3"}', now=1.0) == []
    assert session.in_flight == 0


def test_window_limits_frames_in_flight() -> None:
    session = welcomed(max_in_flight=2)
    frames = sent(session.offer([frame(1), frame(2), frame(3)]))
    assert [f["ref"] for f in frames] == ["f1", "f2"]
    assert session.sent_through == 2
    assert session.capacity() == 0
    session.received('{"type": "ack", "ref": "f1"}', now=1.0)
    assert [f["ref"] for f in sent(session.offer([frame(3)]))] == ["f3"]


def test_reconnect_resends_everything_unacknowledged() -> None:
    session = welcomed()
    session.offer([message(1), frame(2)])
    session.disconnected()
    assert session.sent_through == 0
    assert session.in_flight == 0
    session.connected(now=5.0)
    session.received(WELCOME, now=5.0)
    frames = sent(session.offer([message(1), frame(2)]))
    assert [f["ref"] for f in frames] == ["m1-1", "f2"]
    # An ack for a ref of the old connection that arrives late still matches the resend.
    assert session.received('{"type": "ack", "ref": "f2"}', now=6.0) == [Acknowledged((2,))]


def test_errors_for_a_ref_drop_on_4xx_and_reconnect_on_5xx() -> None:
    session = welcomed()
    session.offer([message(1), frame(2)])
    refused = session.received(
        '{"type": "error", "ref": "m1-1", "code": "payload_invalid", "status": 422}', now=1.0
    )
    assert refused == [Rejected((1,), "payload_invalid", None)]
    busy = session.received(
        '{"type": "error", "ref": "f2", "code": "unavailable", "status": 503}', now=1.0
    )
    assert len(busy) == 1
    assert isinstance(busy[0], Close)
    assert not busy[0].fatal


def test_credential_refused_is_fatal_other_errors_are_logged() -> None:
    session = welcomed()
    [close] = session.received('{"type": "error", "code": "unauthorized", "status": 401}', now=1)
    assert isinstance(close, Close)
    assert close.fatal
    [log] = session.received('{"type": "error", "code": "odd", "status": 400}', now=1)
    assert isinstance(log, Log)


def test_server_work_becomes_actions() -> None:
    session = welcomed()
    start = {
        "type": "execution.start",
        "execution": {
            "id": "exe_1",
            "label": "x",
            "actions": [{"device_url": "io://g/1", "commands": [{"name": "open"}]}],
        },
    }
    [action] = session.received(json.dumps(start), now=1.0)
    assert isinstance(action, StartExecution)
    assert action.order.actions[0].commands[0].name == "open"
    [cancel] = session.received('{"type": "execution.cancel", "execution_id": "exe_1"}', now=1)
    assert cancel == CancelExecution("exe_1")
    dispatch = {
        "type": "command.dispatch",
        "command": {
            "id": "cmd_1",
            "agent_id": "agt_1",
            "name": "ping",
            "state": "sent",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        },
    }
    [run] = session.received(json.dumps(dispatch), now=1.0)
    assert isinstance(run, RunCommand)
    assert run.command.id == "cmd_1"


def test_unknown_and_broken_frames_are_logged_not_fatal() -> None:
    session = welcomed()
    [unknown] = session.received('{"type": "from.the.future"}', now=1.0)
    assert isinstance(unknown, Log)
    [broken] = session.received("not json", now=1.0)
    assert isinstance(broken, Log)
    assert session.ready


def test_heartbeats_when_due_and_silence_closes_once_server_heartbeats_seen() -> None:
    session = welcomed()
    assert session.tick(now=5.0) == []
    assert session.next_tick_in(now=5.0) == 5.0
    assert sent(session.tick(now=10.0)) == [{"type": "heartbeat"}]
    assert session.tick(now=11.0) == []
    # The server never sent a heartbeat: silence alone does not close (its pings keep watch).
    assert not any(isinstance(a, Close) for a in session.tick(now=100.0))
    session.received('{"type": "heartbeat", "at": "2026-01-01T00:00:00Z"}', now=100.0)
    assert not any(isinstance(a, Close) for a in session.tick(now=120.0))
    assert any(isinstance(a, Close) for a in session.tick(now=130.0))


def test_no_welcome_in_time_closes() -> None:
    session = AgentSession()
    session.connected(now=0.0)
    assert session.tick(now=1.0) == []
    [close] = session.tick(now=31.0)
    assert isinstance(close, Close)


def test_a_full_publish_frame_is_split() -> None:
    session = welcomed()
    frames = sent(session.offer([message(i) for i in range(1, 1502)]))
    assert [len(f["messages"]) for f in frames] == [1000, 501]
    assert frames[0]["ref"] == "m1-1000"
