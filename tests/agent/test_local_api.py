"""The local API over a real loopback socket, and LocalPublisher against it."""

from __future__ import annotations

import asyncio
import http.client
import json
from typing import Any

import pytest

from fleetyard.agent.local import LocalPublisher, LocalPublishError
from fleetyard.agent.local_api import LocalAPI
from fleetyard.agent.outbox import Outbox

pytestmark = pytest.mark.anyio


def raw(port: int, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    data = (
        None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    conn.request(method, path, body=data)
    response = conn.getresponse()
    answer = json.loads(response.read())
    conn.close()
    return response.status, answer


async def test_publish_is_on_disk_before_the_answer(outbox: Outbox) -> None:
    stored = asyncio.Event()
    api = LocalAPI(outbox, port=0, on_stored=stored.set, health=lambda: {"connected": False})
    await api.start()
    try:
        assert api.port
        with LocalPublisher(api.url) as local:
            cmid = await asyncio.to_thread(local.publish, "status", {"cpu": 0.4})
            ids = await asyncio.to_thread(
                local.publish_many,
                [{"channel": "temp", "payload": 21.5, "timestamp": "2026-01-01T00:00:00Z"}],
            )
            health = await asyncio.to_thread(local.health)
        assert stored.is_set()
        rows = outbox.pending()
        assert [row.body["client_message_id"] for row in rows] == [cmid, *ids]
        assert rows[0].body == {
            "channel": "status",
            "payload": {"cpu": 0.4},
            "client_message_id": cmid,
        }
        assert rows[1].body["timestamp"] == "2026-01-01T00:00:00.000Z"
        assert health == {"status": "ok", "connected": False, "outbox_pending": 2}
    finally:
        await api.close()


async def test_errors_are_problems_with_codes(outbox: Outbox) -> None:
    api = LocalAPI(outbox, port=0, on_stored=lambda: None, health=dict)
    await api.start()
    try:
        assert api.port
        port = api.port
        status, body = await asyncio.to_thread(raw, port, "POST", "/v1/publish", {"payload": 1})
        assert (status, body["code"]) == (422, "payload_invalid")
        assert "channel" in body["detail"]
        status, body = await asyncio.to_thread(raw, port, "POST", "/v1/publish", b"{nope")
        assert (status, body["code"]) == (422, "payload_invalid")
        status, body = await asyncio.to_thread(raw, port, "GET", "/v1/publish")
        assert (status, body["code"]) == (405, "method_not_allowed")
        status, body = await asyncio.to_thread(raw, port, "GET", "/nowhere")
        assert (status, body["code"]) == (404, "not_found")
        with LocalPublisher(api.url) as local, pytest.raises(LocalPublishError) as refused:
            await asyncio.to_thread(local.publish, "", 1)
        assert refused.value.code == "payload_invalid"
        assert outbox.count() == 0
    finally:
        await api.close()


async def test_concurrent_publishes_share_commits(outbox: Outbox) -> None:
    api = LocalAPI(outbox, port=0, on_stored=lambda: None, health=dict)
    await api.start()
    try:

        def many(n: int) -> list[str]:
            with LocalPublisher(api.url) as local:
                return [local.publish("load", {"i": i, "n": n}) for i in range(20)]

        results = await asyncio.gather(*(asyncio.to_thread(many, n) for n in range(5)))
        assert outbox.count() == 100
        assert len({cmid for ids in results for cmid in ids}) == 100
    finally:
        await api.close()
