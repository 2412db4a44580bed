"""Every /v1 route, enumerated from the app, against missing, expired, useless and foreign keys.

A new route is covered the moment it is mounted: it must answer 401 without a
token, ``token_expired`` to an expired key and 403 to a key with a useless
scope, unless it is listed below as public or open to any authenticated
caller. Ids of this organisation's resources must be 404 to another
organisation's admin.
"""

from __future__ import annotations

import re
from typing import Any

import httpx2
from fastapi.routing import iter_route_contexts

from fleetyard.server.app import create_app
from fleetyard.server.settings import Settings
from tests.server.conftest import ClientFor
from tests.server.helpers import create_other_org, make_key, make_site, make_user, ok

PUBLIC = {
    ("GET", "/v1/system/info"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/token"),
    # Chunk links of the filesystem blob store: the HMAC signature in the query (bound to
    # one chunk, one site and an expiry) is the authorisation, like an S3 presigned URL,
    # so that agents and the SDK can fetch and push chunks without handing out a token.
    ("PUT", "/v1/chunk-uploads/{hash}"),
    ("PUT", "/v1/chunk-uploads"),
    ("GET", "/v1/chunk-downloads/{hash}"),
}
"""Routes that need no token at all."""

ANY_AUTHENTICATED = {
    ("GET", "/v1/account"),
    ("GET", "/v1/account/version"),
    ("GET", "/v1/sites"),  # filtered to the readable sites instead of refused
    ("POST", "/v1/account/totp"),
    ("POST", "/v1/account/totp/confirm"),
    ("DELETE", "/v1/account/totp"),
    ("POST", "/v1/auth/logout"),
}
"""Routes open to any valid credential, whatever its scopes."""


def v1_routes() -> list[tuple[str, str]]:
    """(method, path template) of every mounted /v1 route, included routers flattened."""
    app = create_app(Settings(dev=True))
    found = {
        (method, route.path)
        for route in iter_route_contexts(app.routes)
        if route.path is not None and route.path.startswith("/v1/")
        for method in route.methods or ()
    }
    return sorted(found)


def _fill(path: str, ids: dict[str, str]) -> str:
    # {name:path} too: a converter does not change what the parameter is called.
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: ids.get(m.group(1), "unknown_1"), path)


def _send(
    client: httpx2.Client, method: str, path: str, body: Any, params: dict[str, str] | None = None
) -> httpx2.Response:
    if method in ("POST", "PATCH", "PUT"):
        return client.request(method, path, json=body, params=params)
    return client.request(method, path, params=params)


def test_the_lists_name_real_routes() -> None:
    routes = set(v1_routes())
    assert PUBLIC - routes == set()
    assert ANY_AUTHENTICATED - routes == set()


def test_every_v1_route_enforces_authentication_and_scopes(
    http: httpx2.Client, client_for: ClientFor, database_url: str
) -> None:
    site = make_site(http, "matrix")
    user = make_user(http, "matrix@example.com", site_ids=[site["id"]], password=None)
    key = make_key(http, ["site:*:read"])
    client = ok(
        http.post("/v1/account/service-clients", json={"name": "c", "scopes": ["site:*:read"]}),
        201,
    )
    expired = make_key(http, ["*:*:admin"])
    ok(http.post(f"/v1/account/api-keys/{expired['id']}/rotate", json={"grace_seconds": 0}))
    useless = make_key(http, ["nothing:none:read"])
    agent = ok(http.post("/v1/agents", json={"site_id": site["id"], "name": "matrix"}), 201)
    channel = ok(http.post(f"/v1/agents/{agent['id']}/channels", json={"name": "status"}), 201)
    ok(http.post(f"/v1/channels/{channel['id']}/messages", json={"payload": {"t": 1}}), 201)
    ids = {
        "site_id": site["id"],
        "user_id": user["id"],
        "key_id": key["id"],
        "client_id": client["id"],
        "agent_id": agent["id"],
        "channel_id": channel["id"],
        "name": channel["name"],
        "seq": "1",
        "hash": "0" * 64,
    }
    bodies: dict[tuple[str, str], Any] = {
        ("PATCH", "/v1/sites/{site_id}"): {"description": "changed"},
        ("POST", "/v1/sites/{site_id}/members"): {"user_id": user["id"]},
        ("POST", "/v1/users/{user_id}/sites"): {"site_ids": [site["id"]]},
        ("POST", "/v1/users/{user_id}/sites/remove"): {"site_ids": [site["id"]]},
        # Valid bodies, so that another organisation is refused for the ids, not the body.
        ("PATCH", "/v1/agents/{agent_id}"): {"name": "renamed"},
        ("POST", "/v1/agents/{agent_id}/channels"): {"name": "status"},
        ("POST", "/v1/agents/{agent_id}/commands"): {"name": "ping"},
        ("PATCH", "/v1/channels/{channel_id}"): {"is_private": True},
        ("POST", "/v1/channels/{channel_id}/messages"): {"payload": {"t": 2}},
        ("POST", "/v1/agents/{agent_id}/channels/{name:path}/messages"): {"payload": {"t": 3}},
        ("PATCH", "/v1/channels/{channel_id}/messages/{seq}"): {"payload": {"t": 4}},
        ("PATCH", "/v1/channels/{channel_id}/aggregate"): {"t": 5},
        ("PUT", "/v1/channels/{channel_id}/aggregate"): {"t": 6},
        ("POST", "/v1/sites/{site_id}/chunks/check"): {"hashes": []},
        ("POST", "/v1/sites/{site_id}/chunks/upload-urls"): {"chunks": []},
        ("POST", "/v1/sites/{site_id}/chunks/commit"): {"chunks": []},
        ("POST", "/v1/sites/{site_id}/chunks/download-urls"): {"hashes": []},
        ("POST", "/v1/sites/{site_id}/chunks/mount"): {"hashes": [], "from_app_id": "app_x"},
        ("PATCH", "/v1/sites/{site_id}/quota"): {"limit_bytes": 1},
        ("POST", "/v1/agents/{agent_id}/deployments/{rollout_id}/download-urls"): {"hashes": []},
    }
    # Required query parameters, so that another organisation is refused for the ids.
    queries: dict[tuple[str, str], dict[str, str]] = {
        ("GET", "/v1/channels/{channel_id}/timeseries"): {"field": "t"},
        ("GET", "/v1/channels/latest"): {"name": "status"},
    }
    anonymous = client_for(None)
    with_expired = client_for(expired["secret"])
    with_useless = client_for(useless["secret"])
    foreign = client_for(create_other_org(database_url)["key"])

    wrong: list[str] = []

    def check(label: str, response: httpx2.Response, status: int, code: str) -> None:
        body = response.json() if response.content else {}
        if response.status_code != status or body.get("code") != code:
            wrong.append(
                f"{label}: {response.status_code} {body.get('code')} (want {status} {code})"
            )

    for method, template in v1_routes():
        path = _fill(template, ids)
        body = bodies.get((method, template), {})
        params = queries.get((method, template))
        label = f"{method} {template}"
        if (method, template) in PUBLIC:
            continue
        check(
            f"{label} without a token", _send(anonymous, method, path, body), 401, "unauthenticated"
        )
        check(f"{label} expired key", _send(with_expired, method, path, body), 401, "token_expired")
        if (method, template) in ANY_AUTHENTICATED:
            response = _send(with_useless, method, path, body)
            if response.status_code in (401, 403):
                wrong.append(f"{label} refused a valid credential: {response.status_code}")
        else:
            check(
                f"{label} useless scope",
                _send(with_useless, method, path, body),
                403,
                "scope_insufficient",
            )
        if any(f"{{{name}}}" in template for name in ids):
            check(
                f"{label} other org", _send(foreign, method, path, body, params), 404, "not_found"
            )

    assert wrong == [], "\n".join(wrong)
    # Nothing the other organisation tried changed this one.
    assert ok(http.get(f"/v1/sites/{site['id']}"))["description"] is None
    assert ok(http.get(f"/v1/users/{user['id']}"))["site_ids"] == [site["id"]]
    assert ok(http.get(f"/v1/agents/{agent['id']}"))["name"] == "matrix"
    seen = ok(http.get(f"/v1/channels/{channel['id']}"))
    assert (seen["is_private"], seen["last_seq"], seen["aggregate_version"]) == (False, 1, 1)
