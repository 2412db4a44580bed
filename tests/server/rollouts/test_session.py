"""Deployments over the real agent session: deploy.start live and on reconnect, acks."""

from __future__ import annotations

import httpx2

from tests.server.agent_session.conftest import agent_token, open_session
from tests.server.agent_session.conftest import http as http  # the live server's client
from tests.server.agent_session.conftest import live as live
from tests.server.helpers import make_site, ok
from tests.server.software.conftest import file_entry, record_chunks
from tests.support.live import LiveServer


def test_an_agent_receives_deploy_start_and_its_updates_finish_the_rollout(
    live: LiveServer, http: httpx2.Client, database_url: str
) -> None:
    site = make_site(http, "plant")
    body = {"site_id": site["id"], "name": "press", "kind": "device"}
    first = ok(http.post("/v1/agents", json=body), 201)["id"]
    second = ok(http.post("/v1/agents", json={**body, "name": "press-2"}), 201)["id"]
    app = ok(
        http.post(
            "/v1/apps", json={"site_id": site["id"], "name": "kiosk", "targets": [first, second]}
        ),
        201,
    )
    record_chunks(database_url, site["id"], b"hello")
    manifest = {"entries": [file_entry("hello.txt", b"hello")]}
    ok(http.post(f"/v1/apps/{app['id']}/versions", json={"manifest": manifest}), 201)

    with open_session(live, agent_token(http, first)) as ws:
        ws.hello()
        rollout = ok(http.post(f"/v1/apps/{app['id']}/deploy", json={}), 201)
        start = ws.expect("deploy.start")["deployment"]
        assert start["rollout_id"] == rollout["id"]
        assert start["manifest"]["entries"][0]["path"] == "hello.txt"
        for ref, state in [("d1", "downloading"), ("d2", "installing"), ("d3", "succeeded")]:
            ws.send(type="deploy.update", ref=ref, rollout_id=rollout["id"], state=state)
            assert ws.expect("ack")["ref"] == ref
        # A resend after a reconnect is acknowledged again; an unknown rollout is refused.
        ws.send(type="deploy.update", ref="d3", rollout_id=rollout["id"], state="succeeded")
        assert ws.expect("ack")["ref"] == "d3"
        ws.send(type="deploy.update", ref="d4", rollout_id="rol_nothing", state="failed")
        refused = ws.expect("error")
        assert (refused["ref"], refused["code"]) == ("d4", "not_found")

    # The second machine was offline: it gets the deployment when it connects.
    with open_session(live, agent_token(http, second)) as ws:
        ws.hello()
        start = ws.expect("deploy.start")["deployment"]
        assert start["rollout_id"] == rollout["id"]
        ws.send(type="deploy.update", ref="x", rollout_id=rollout["id"], state="succeeded")
        assert ws.expect("ack")["ref"] == "x"
    done = ok(http.get(f"/v1/rollouts/{rollout['id']}"))
    assert done["state"] == "succeeded"
    assert done["counts"]["succeeded"] == 2
