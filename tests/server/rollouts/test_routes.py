"""Rollout routes: dry run, download links for agents, the deploy permission, isolation."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.server.conftest import ClientFor
from tests.server.helpers import create_other_org, make_key, ok, problem
from tests.server.software.conftest import Setup, record_chunks


def _agent(setup: Setup, name: str) -> str:
    body = {"site_id": setup.site_id, "name": name, "kind": "device"}
    agent_id: str = ok(setup.http.post("/v1/agents", json=body), 201)["id"]
    return agent_id


def _token(setup: Setup, agent_id: str) -> str:
    secret: str = ok(setup.http.post(f"/v1/agents/{agent_id}/token", json={}), 201)["secret"]
    return secret


def _app(setup: Setup, targets: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    app = setup.app(targets=targets)
    version = setup.publish(app["id"], {"a.txt": b"alpha", "b.txt": b"beta"}, expected=None)
    return app, version


def test_a_dry_run_answers_the_plan_and_stores_nothing(setup: Setup) -> None:
    others = [_agent(setup, f"m{i}") for i in range(3)]
    app, version = _app(setup, [setup.agent_id, *others])
    plan = ok(
        setup.http.post(
            f"/v1/apps/{app['id']}/deploy",
            json={"strategy": "canary", "canary_count": 2, "dry_run": True, "version": "v1"},
        ),
        200,
    )
    assert plan["state"] == "dry_run"
    assert plan["version_id"] == version["id"]
    assert sorted(m["wave"] for m in plan["machines"]) == [0, 0, 1, 1]
    assert plan["counts"]["queued"] == 4
    assert ok(setup.http.get(f"/v1/apps/{app['id']}/rollouts"))["items"] == []
    problem(setup.http.get(f"/v1/rollouts/{plan['id']}"), 404, "not_found")


def test_bad_deploys_are_refused(setup: Setup) -> None:
    stranger = _agent(setup, "not-a-target")
    app, _ = _app(setup, [setup.agent_id])
    url = f"/v1/apps/{app['id']}/deploy"
    problem(setup.http.post(url, json={"version": "v9"}), 404, "version_not_found")
    bad = problem(setup.http.post(url, json={"machines": [stranger]}), 422, "validation_failed")
    assert bad["errors"][0]["loc"] == ["body", "machines", 0]
    problem(setup.http.post(url, json={"strategy": "rate"}), 422, "validation_failed")
    problem(setup.http.post(url, json={"canary_count": 2}), 422, "validation_failed")
    empty = setup.app(name="empty")
    setup.publish(empty["id"], {"x": b"x"}, expected=None)
    problem(setup.http.post(f"/v1/apps/{empty['id']}/deploy", json={}), 422, "validation_failed")
    assert ok(setup.http.get(f"/v1/apps/{app['id']}/rollouts"))["items"] == []


def test_download_urls_only_for_the_version_and_its_machines(
    setup: Setup, client_for: ClientFor
) -> None:
    outsider = _agent(setup, "outsider")
    app, version = _app(setup, [setup.agent_id, outsider])
    rollout = ok(
        setup.http.post(f"/v1/apps/{app['id']}/deploy", json={"machines": [setup.agent_id]}), 201
    )
    record_chunks(setup.database_url, setup.site_id, b"other chunk")
    alpha = hashlib.sha256(b"alpha").hexdigest()
    other = hashlib.sha256(b"other chunk").hexdigest()
    mine = client_for(_token(setup, setup.agent_id))
    url = f"/v1/agents/{setup.agent_id}/deployments/{rollout['id']}/download-urls"
    links = ok(mine.post(url, json={"hashes": [alpha, alpha]}))["urls"]
    assert [link["hash"] for link in links] == [alpha]
    # A signed link to the chunk in the app's site (the rows are there, not the bytes).
    assert f"/v1/chunk-downloads/{alpha}?site={setup.site_id}&" in links[0]["url"]
    refused = problem(mine.post(url, json={"hashes": [alpha, other]}), 422, "chunk_missing")
    assert refused["missing"] == [other]
    # A machine outside the rollout gets nothing, with its own token or another's path.
    theirs = client_for(_token(setup, outsider))
    outside = f"/v1/agents/{outsider}/deployments/{rollout['id']}/download-urls"
    problem(theirs.post(outside, json={"hashes": [alpha]}), 404, "not_found")
    assert theirs.post(url, json={"hashes": [alpha]}).status_code in (403, 404)
    problem(
        mine.post(url.replace(rollout["id"], "rol_nothing"), json={"hashes": [alpha]}),
        404,
        "not_found",
    )
    del version


def test_deploy_needs_the_deploy_permission(setup: Setup, client_for: ClientFor) -> None:
    app, _ = _app(setup, [setup.agent_id])
    site = setup.site_id
    writer = client_for(make_key(setup.http, [f"site:{site}:write"])["secret"])
    deployer = client_for(make_key(setup.http, [f"app:{app['id']}:deploy"])["secret"])
    reader = client_for(make_key(setup.http, [f"site:{site}:read"])["secret"])
    url = f"/v1/apps/{app['id']}/deploy"
    problem(writer.post(url, json={}), 403, "scope_insufficient")
    problem(reader.post(url, json={}), 403, "scope_insufficient")
    rollout = ok(deployer.post(url, json={}), 201)
    assert ok(reader.get(f"/v1/rollouts/{rollout['id']}"))["id"] == rollout["id"]
    assert ok(writer.get(f"/v1/apps/{app['id']}/rollouts"))["items"][0]["id"] == rollout["id"]
    problem(writer.post(f"/v1/rollouts/{rollout['id']}/cancel"), 403, "scope_insufficient")
    assert ok(deployer.post(f"/v1/rollouts/{rollout['id']}/cancel"))["state"] == "cancelled"


def test_every_route_is_404_across_organisations(setup: Setup, client_for: ClientFor) -> None:
    app, _ = _app(setup, [setup.agent_id])
    rollout = ok(setup.http.post(f"/v1/apps/{app['id']}/deploy", json={}), 201)
    other = create_other_org(setup.database_url)
    them = client_for(other["key"])
    alpha = hashlib.sha256(b"alpha").hexdigest()
    calls = [
        them.post(f"/v1/apps/{app['id']}/deploy", json={}),
        them.post(f"/v1/apps/{app['id']}/deploy", json={"dry_run": True}),
        them.get(f"/v1/apps/{app['id']}/rollouts"),
        them.get(f"/v1/agents/{setup.agent_id}/rollouts"),
        them.get(f"/v1/rollouts/{rollout['id']}"),
        them.post(f"/v1/rollouts/{rollout['id']}/cancel"),
        them.post(
            f"/v1/agents/{setup.agent_id}/deployments/{rollout['id']}/download-urls",
            json={"hashes": [alpha]},
        ),
    ]
    for response in calls:
        problem(response, 404, "not_found")
    assert ok(setup.http.get(f"/v1/rollouts/{rollout['id']}"))["state"] == "running"
