"""Deployments through the session (scripted frames → outbox frames) and the server source."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx2
import pytest

from fleetyard.agent.config import load_config
from fleetyard.agent.deployer import Deployer, ServerChunkSource
from fleetyard.agent.outbox import Outbox
from fleetyard.agent.session import (
    Acknowledged,
    CancelDeployment,
    Send,
    StartDeployment,
)
from fleetyard.sdk import AsyncClient
from tests.agent.test_deployer import Source, version
from tests.agent.test_session import WELCOME, welcomed

pytestmark = pytest.mark.anyio


async def test_deploy_start_frames_run_and_updates_leave_through_the_outbox(
    tmp_path: Path, outbox: Outbox
) -> None:
    source = Source()
    deployment = version(source, {"app.py": b"print('hello')\n"}, rollout="rol_s1")
    session = welcomed()
    frame = json.dumps({"type": "deploy.start", "deployment": deployment.model_dump(mode="json")})
    [action] = session.received(frame, now=1.0)
    assert isinstance(action, StartDeployment)
    assert action.deployment.manifest == deployment.manifest
    deployer = Deployer(tmp_path / "apps", outbox, lambda d, missing: source)
    assert deployer.start(action.deployment)
    await deployer.wait("rol_s1")

    sent = [json.loads(a.text) for a in session.offer(outbox.pending()) if isinstance(a, Send)]
    assert [(f["type"], f["state"]) for f in sent] == [
        ("deploy.update", "downloading"),
        ("deploy.update", "installing"),
        ("deploy.update", "succeeded"),
    ]
    assert all(f["rollout_id"] == "rol_s1" and f["ref"] for f in sent)
    for f in sent:
        [ack] = session.received(json.dumps({"type": "ack", "ref": f["ref"]}), now=2.0)
        assert isinstance(ack, Acknowledged)
        outbox.delete(ack.row_ids)
    assert outbox.count() == 0

    # After a reconnect the server sends deploy.start again: answered, not re-run.
    session.disconnected()
    session.connected(now=3.0)
    session.received(WELCOME, now=3.0)
    [again] = session.received(frame, now=3.1)
    assert isinstance(again, StartDeployment)
    assert not deployer.start(again.deployment)
    [resent] = [json.loads(a.text) for a in session.offer(outbox.pending()) if isinstance(a, Send)]
    assert (resent["state"], resent["error"]) == ("succeeded", None)

    [cancel] = session.received('{"type": "deploy.cancel", "rollout_id": "rol_s1"}', now=4.0)
    assert cancel == CancelDeployment("rol_s1")


async def test_server_source_asks_for_urls_in_batches_and_renews_expired_ones() -> None:
    chunks = {hashlib.sha256(bytes([i])).hexdigest(): bytes([i]) for i in range(5)}
    posts: list[list[str]] = []
    gets: dict[str, int] = {}

    def api(request: httpx2.Request) -> httpx2.Response:
        if request.method == "POST":
            assert request.url.path == "/v1/agents/agt_1/deployments/rol_1/download-urls"
            assert request.headers["authorization"] == "Bearer fy_agent"
            hashes: list[str] = json.loads(request.content)["hashes"]
            posts.append(hashes)
            urls = [
                {
                    "hash": h,
                    "url": f"http://blobs.test/{h}?n={len(posts)}",
                    "expires_at": "2030-01-01T00:00:00Z",
                }
                for h in hashes
            ]
            return httpx2.Response(200, json={"urls": urls})
        assert "authorization" not in request.headers  # signed URLs carry no bearer
        key = request.url.path.strip("/")
        gets[key] = gets.get(key, 0) + 1
        if key == first and request.url.params["n"] == "1":
            return httpx2.Response(403, json={"code": "url_expired"})
        return httpx2.Response(200, content=chunks[key])

    first = next(iter(chunks))
    client = AsyncClient(
        "fy_agent", base_url="http://yard.test", transport=httpx2.MockTransport(api)
    )
    try:
        source = ServerChunkSource(
            client, agent_id="agt_1", rollout_id="rol_1", hashes=list(chunks), batch_size=2
        )
        got = {h: await source(h) for h in chunks}
    finally:
        await client.close()
    assert got == chunks
    assert all(len(batch) <= 2 for batch in posts)
    assert posts[0] == list(chunks)[:2]
    assert posts[1][0] == first  # renewed (with the rest of its batch) after the 403
    assert gets[first] == 2


def test_deployments_config_defaults_apps_dir_under_data_dir() -> None:
    config = load_config(None, data_dir="/srv/agentx", deployments={"health_timeout_seconds": 5})
    assert config.apps_dir() == Path("/srv/agentx/apps")
    assert config.deployments.health_timeout_seconds == 5
