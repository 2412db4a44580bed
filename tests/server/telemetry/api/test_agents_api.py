"""/v1/agents over HTTP: CRUD, list filters and pages, per-agent tokens, isolation."""

from __future__ import annotations

from typing import Any

import httpx2

from tests.server.conftest import ClientFor
from tests.server.helpers import create_other_org, make_key, make_site, ok, problem
from tests.server.telemetry.api.conftest import make_agent, make_channel


def test_agent_crud(http: httpx2.Client, site: dict[str, Any]) -> None:
    agent = make_agent(http, site["id"], "pump-7", labels={"line": "3"}, metadata={"fw": [1, 2]})
    assert agent["id"].startswith("agt_")
    assert (agent["kind"], agent["online"], agent["last_seen"]) == ("device", False, None)
    assert (agent["labels"], agent["metadata"]) == ({"line": "3"}, {"fw": [1, 2]})
    assert ok(http.get(f"/v1/agents/{agent['id']}")) == agent

    changed = ok(
        http.patch(f"/v1/agents/{agent['id']}", json={"kind": "gateway", "labels": {"a": "b"}})
    )
    assert (changed["kind"], changed["labels"], changed["name"]) == (
        "gateway",
        {"a": "b"},
        "pump-7",
    )
    assert changed["metadata"] == {"fw": [1, 2]}

    problem(
        http.post("/v1/agents", json={"site_id": site["id"], "name": "pump-7"}),
        409,
        "already_exists",
    )
    problem(http.post("/v1/agents", json={"site_id": "site_nope", "name": "x"}), 404, "not_found")
    problem(http.post("/v1/agents", json={"site_id": site["id"]}), 422, "validation_failed")
    problem(
        http.post("/v1/agents", json={"site_id": site["id"], "name": "x", "kind": "toaster"}),
        422,
        "validation_failed",
    )
    problem(
        http.patch(f"/v1/agents/{agent['id']}", json={"site_id": "site_nope"}), 404, "not_found"
    )

    assert ok(http.delete(f"/v1/agents/{agent['id']}")) == {"id": agent["id"], "deleted": True}
    problem(http.get(f"/v1/agents/{agent['id']}"), 404, "not_found")
    problem(http.delete(f"/v1/agents/{agent['id']}"), 404, "not_found")
    problem(http.get("/v1/agents/bad%20id"), 422, "validation_failed")


def test_deleting_an_agent_deletes_its_channels(http: httpx2.Client, agent: dict[str, Any]) -> None:
    channel = make_channel(http, agent["id"], "status")
    ok(http.post(f"/v1/channels/{channel['id']}/messages", json={"payload": 1}), 201)
    ok(http.delete(f"/v1/agents/{agent['id']}"))
    problem(http.get(f"/v1/channels/{channel['id']}"), 404, "not_found")
    problem(http.get(f"/v1/channels/{channel['id']}/messages"), 404, "not_found")


def test_list_filters_and_pages(http: httpx2.Client, site: dict[str, Any]) -> None:
    other_site = make_site(http, "yard")
    made = [
        make_agent(
            http,
            site["id"] if i < 4 else other_site["id"],
            f"dev-{i}",
            kind="gateway" if i % 2 else "device",
            labels={"line": str(i % 3)} | ({"critical": "yes"} if i == 2 else {}),
        )
        for i in range(6)
    ]

    def names(**params: Any) -> list[str]:
        return [a["name"] for a in ok(http.get("/v1/agents", params=params))["items"]]

    assert names() == [a["name"] for a in made]
    assert names(site_id=other_site["id"]) == ["dev-4", "dev-5"]
    assert names(kind="gateway") == ["dev-1", "dev-3", "dev-5"]
    assert names(label="line=1") == ["dev-1", "dev-4"]
    assert names(label=["line=2", "critical"]) == ["dev-2"]
    assert names(label="critical", site_id=other_site["id"]) == []
    assert names(online="false") == [a["name"] for a in made]
    assert names(online="true") == []

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        page = ok(http.get("/v1/agents", params=params))
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [a["id"] for a in made]

    problem(http.get("/v1/agents", params={"label": "bad key"}), 422, "validation_failed")
    problem(http.get("/v1/agents", params={"label": "k=\x01"}), 422, "validation_failed")
    problem(http.get("/v1/agents", params={"kind": "toaster"}), 422, "validation_failed")
    problem(http.get("/v1/agents", params={"site_id": "x\x00"}), 422, "validation_failed")
    problem(http.get("/v1/agents", params={"cursor": "garbage!"}), 400, "invalid_cursor")


def test_agent_token_reaches_its_own_agent_only(
    http: httpx2.Client, client_for: ClientFor, site: dict[str, Any], agent: dict[str, Any]
) -> None:
    neighbour = make_agent(http, site["id"], "pump-2")
    theirs = make_channel(http, neighbour["id"], "status")
    created = ok(http.post(f"/v1/agents/{agent['id']}/token", json={"name": "firmware"}), 201)
    assert created["scopes"] == [f"agent:{agent['id']}:write"]
    assert created["name"] == "firmware"
    assert created["secret"].startswith("fy_live_")
    listed = ok(http.get("/v1/account/api-keys", params={"limit": 200}))["items"]
    assert created["id"] in [k["id"] for k in listed]
    assert "secret" not in next(k for k in listed if k["id"] == created["id"])

    device = client_for(created["secret"])
    # Its own agent: publish (creating the channel), read, list.
    ack = ok(
        device.post(
            f"/v1/agents/{agent['id']}/channels/status/messages", json={"payload": {"t": 21.5}}
        ),
        201,
    )
    ok(device.post(f"/v1/channels/{ack['channel_id']}/messages", json={"payload": {"t": 22}}), 201)
    assert [
        m["payload"] for m in ok(device.get(f"/v1/channels/{ack['channel_id']}/messages"))["items"]
    ] == [{"t": 22}, {"t": 21.5}]
    assert ok(device.get(f"/v1/channels/{ack['channel_id']}/aggregate"))["data"] == {"t": 22}
    assert ok(device.get(f"/v1/agents/{agent['id']}"))["id"] == agent["id"]
    assert [a["id"] for a in ok(device.get("/v1/agents"))["items"]] == [agent["id"]]
    assert [c["name"] for c in ok(device.get(f"/v1/agents/{agent['id']}/channels"))["items"]] == [
        "status"
    ]
    latest = ok(device.get("/v1/channels/latest", params={"name": "status"}))["items"]
    assert [x["agent_id"] for x in latest] == [agent["id"]]

    # Another agent of the same site: as if it did not exist.
    problem(device.get(f"/v1/agents/{neighbour['id']}"), 404, "not_found")
    problem(device.get(f"/v1/channels/{theirs['id']}"), 404, "not_found")
    problem(
        device.post(f"/v1/channels/{theirs['id']}/messages", json={"payload": 1}), 404, "not_found"
    )
    problem(
        device.post(f"/v1/agents/{neighbour['id']}/channels/x/messages", json={"payload": 1}),
        404,
        "not_found",
    )
    batch = {"items": [{"agent_id": neighbour["id"], "channel": "x", "payload": 1}]}
    problem(device.post("/v1/messages/batch", json=batch), 422, "payload_invalid")
    # Admin work is not a device's.
    problem(device.delete(f"/v1/channels/{ack['channel_id']}"), 403, "scope_insufficient")
    problem(device.delete(f"/v1/agents/{agent['id']}"), 403, "scope_insufficient")
    problem(device.post(f"/v1/agents/{agent['id']}/token"), 403, "scope_insufficient")
    problem(
        device.post("/v1/agents", json={"site_id": site["id"], "name": "x"}),
        403,
        "scope_insufficient",
    )

    # Revoked through the API: refused at once, on the publish fast path too.
    ok(http.delete(f"/v1/account/api-keys/{created['id']}"))
    problem(
        device.post(f"/v1/channels/{ack['channel_id']}/messages", json={"payload": 1}),
        401,
        "unauthenticated",
    )
    problem(device.get(f"/v1/agents/{agent['id']}"), 401, "unauthenticated")


def test_who_may_issue_agent_tokens(
    http: httpx2.Client, client_for: ClientFor, site: dict[str, Any], agent: dict[str, Any]
) -> None:
    writer = client_for(make_key(http, [f"site:{site['id']}:write"])["secret"])
    problem(writer.post(f"/v1/agents/{agent['id']}/token"), 403, "scope_insufficient")
    site_admin = client_for(make_key(http, [f"site:{site['id']}:admin"])["secret"])
    by_site = ok(site_admin.post(f"/v1/agents/{agent['id']}/token"), 201)
    assert by_site["name"] == "agent pump-1"
    agent_admin = client_for(make_key(http, [f"agent:{agent['id']}:admin"])["secret"])
    ok(agent_admin.post(f"/v1/agents/{agent['id']}/token", json={}), 201)
    problem(agent_admin.post("/v1/agents/agt_unknown/token"), 404, "not_found")
    problem(
        http.post(f"/v1/agents/{agent['id']}/token", json={"expires_at": "2001-01-01T00:00:00Z"}),
        422,
        "validation_failed",
    )
    expiring = ok(
        http.post(f"/v1/agents/{agent['id']}/token", json={"expires_at": "2999-01-01T00:00:00Z"}),
        201,
    )
    assert expiring["expires_at"] == "2999-01-01T00:00:00.000Z"
    problem(
        http.post(f"/v1/agents/{agent['id']}/token", json={"scopes": ["*:*:admin"]}),
        422,
        "validation_failed",
    )


def test_another_organisation_sees_none_of_it(
    http: httpx2.Client, client_for: ClientFor, database_url: str, agent: dict[str, Any]
) -> None:
    channel = make_channel(http, agent["id"], "status")
    other = create_other_org(database_url)
    foreign = client_for(other["key"])
    assert ok(foreign.get("/v1/agents"))["items"] == []
    for method, path, body in [
        ("GET", f"/v1/agents/{agent['id']}", None),
        ("PATCH", f"/v1/agents/{agent['id']}", {"name": "mine"}),
        ("DELETE", f"/v1/agents/{agent['id']}", None),
        ("POST", f"/v1/agents/{agent['id']}/token", {}),
        ("GET", f"/v1/agents/{agent['id']}/channels", None),
        ("POST", f"/v1/agents/{agent['id']}/channels", {"name": "mine"}),
        ("GET", f"/v1/agents/{agent['id']}/channels/status", None),
        ("POST", f"/v1/agents/{agent['id']}/channels/status/messages", {"payload": 1}),
        ("POST", f"/v1/agents/{agent['id']}/channels/new/messages", {"payload": 1}),
        ("GET", f"/v1/channels/{channel['id']}", None),
        ("POST", f"/v1/channels/{channel['id']}/messages", {"payload": 1}),
    ]:
        response = foreign.request(method, path, json=body)
        problem(response, 404, "not_found")
    # Their agent in their site cannot be given our site either.
    problem(
        foreign.post("/v1/agents", json={"site_id": agent["site_id"], "name": "x"}),
        404,
        "not_found",
    )
    assert ok(http.get(f"/v1/agents/{agent['id']}/channels"))["items"] == [channel]
    assert ok(foreign.get("/v1/channels/latest", params={"name": "status"}))["items"] == []
