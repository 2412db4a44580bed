"""SIGKILL the server in the middle of a publishing load: every acknowledged message survives."""

from __future__ import annotations

import threading
import time
from urllib.parse import quote

import httpx2
import pytest

from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import ServerProcess

pytestmark = pytest.mark.e2e

PUBLISHERS = 6
CHANNELS = ["temperature", "#processor", "status"]


def _publisher(
    url: str, agent_id: str, worker: int, acked: list[str], stop: threading.Event
) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with httpx2.Client(base_url=url, headers=headers, timeout=5.0) as http:
        n = 0
        while not stop.is_set():
            channel = CHANNELS[n % len(CHANNELS)]
            message_id = f"w{worker}-{n}"
            try:
                response = http.post(
                    f"/v1/agents/{agent_id}/channels/{quote(channel, safe='')}/messages",
                    json={"payload": {"n": n, "worker": worker}, "client_message_id": message_id},
                )
            except httpx2.TransportError:
                return  # the server is gone: whatever was not acknowledged may be lost
            if response.status_code in (200, 201):
                acked.append(f"{channel}|{message_id}")
            n += 1


def _stored(url: str, agent_id: str) -> list[str]:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    found: list[str] = []
    with httpx2.Client(base_url=url, headers=headers, timeout=30.0) as http:
        for channel in CHANNELS:
            got = http.get(f"/v1/agents/{agent_id}/channels/{quote(channel, safe='')}")
            assert got.status_code == 200, got.text
            channel_id = got.json()["id"]
            cursor: str | None = None
            while True:
                params: dict[str, str | int] = {"limit": 200, "order": "asc"}
                if cursor:
                    params["cursor"] = cursor
                page = http.get(f"/v1/channels/{channel_id}/messages", params=params).json()
                found += [f"{channel}|{m['client_message_id']}" for m in page["items"]]
                cursor = page["next_cursor"]
                if not cursor:
                    break
    return found


def test_acknowledged_messages_survive_sigkill(server_process: ServerProcess) -> None:
    url = server_process.url
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    site = httpx2.post(f"{url}/v1/sites", json={"name": "crash"}, headers=headers).json()
    agent = httpx2.post(
        f"{url}/v1/agents", json={"site_id": site["id"], "name": "gw-1"}, headers=headers
    ).json()

    acked: list[str] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=_publisher, args=(url, agent["id"], w, acked, stop))
        for w in range(PUBLISHERS)
    ]
    for thread in threads:
        thread.start()
    # Kill while the load is running, not after it drained.
    deadline = time.monotonic() + 20
    while len(acked) < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    server_process.kill()
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    assert len(acked) >= 300, "the load never got going"

    server_process.start()
    stored = _stored(url, agent["id"])
    assert len(stored) == len(set(stored)), "a message was stored twice"
    missing = set(acked) - set(stored)
    assert missing == set(), (
        f"{len(missing)} acknowledged messages lost, e.g. {sorted(missing)[:5]}"
    )
