"""API keys: create, rotate with a grace period, revoke, and the minting limits."""

from __future__ import annotations

import httpx2
import pytest

from tests.conftest import ADMIN_KEY
from tests.server.conftest import ClientFor
from tests.server.helpers import login, make_key, make_site, make_user, ok, problem


def test_create_shows_the_secret_once(http: httpx2.Client, client_for: ClientFor) -> None:
    created = ok(
        http.post(
            "/v1/account/api-keys",
            json={"name": "ci", "scopes": ["site:*:read"], "environment": "test"},
        ),
        201,
    )
    secret = created["secret"]
    assert secret.startswith("fy_test_")
    assert len(secret) == len("fy_test_") + 40
    assert created["prefix"] == secret[:12]
    assert created["id"].startswith("key_")
    listed = ok(http.get("/v1/account/api-keys"))["items"]
    mine = next(k for k in listed if k["id"] == created["id"])
    assert "secret" not in mine
    assert mine["scopes"] == ["site:*:read"]
    assert mine["environment"] == "test"
    me = ok(client_for(secret).get("/v1/account"))
    assert (me["api_key_id"], me["scopes"]) == (created["id"], ["site:*:read"])


def test_live_is_the_default_environment(http: httpx2.Client) -> None:
    created = make_key(http, ["site:*:read"])
    assert created["environment"] == "live"
    assert created["secret"].startswith("fy_live_")


def test_last_used_is_recorded(http: httpx2.Client, client_for: ClientFor) -> None:
    created = make_key(http, ["site:*:read"])
    assert created["last_used_at"] is None

    def last_used() -> str | None:
        listed = ok(http.get("/v1/account/api-keys"))["items"]
        value: str | None = next(k for k in listed if k["id"] == created["id"])["last_used_at"]
        return value

    ok(client_for(created["secret"]).get("/v1/sites"))
    first = last_used()
    assert first is not None
    # Within the minute another use does not write again.
    ok(client_for(created["secret"]).get("/v1/sites"))
    assert last_used() == first


def test_rotate_keeps_the_old_key_working_during_the_grace(
    http: httpx2.Client, client_for: ClientFor
) -> None:
    old = make_key(http, ["site:*:read"], name="deploy")
    new = ok(http.post(f"/v1/account/api-keys/{old['id']}/rotate"))
    assert new["id"] != old["id"]
    assert (new["name"], new["scopes"]) == ("deploy", ["site:*:read"])
    assert new["secret"] != old["secret"]
    for secret in (old["secret"], new["secret"]):
        ok(client_for(secret).get("/v1/sites"))
    listed = {k["id"]: k for k in ok(http.get("/v1/account/api-keys"))["items"]}
    assert listed[old["id"]]["rotated_to"] == new["id"]
    assert listed[old["id"]]["expires_at"] is not None
    problem(http.post(f"/v1/account/api-keys/{old['id']}/rotate"), 409, "conflict")


def test_rotate_with_no_grace_expires_the_old_key_at_once(
    http: httpx2.Client, client_for: ClientFor
) -> None:
    old = make_key(http, ["site:*:read"])
    new = ok(http.post(f"/v1/account/api-keys/{old['id']}/rotate", json={"grace_seconds": 0}))
    response = client_for(old["secret"]).get("/v1/sites")
    problem(response, 401, "token_expired")
    assert "invalid_token" in response.headers["www-authenticate"]
    ok(client_for(new["secret"]).get("/v1/sites"))


def test_revoke_stops_a_key_and_is_repeatable(http: httpx2.Client, client_for: ClientFor) -> None:
    created = make_key(http, ["site:*:read"])
    revoked = ok(http.delete(f"/v1/account/api-keys/{created['id']}"))
    assert revoked["revoked_at"] is not None
    problem(client_for(created["secret"]).get("/v1/sites"), 401, "unauthenticated")
    again = ok(http.delete(f"/v1/account/api-keys/{created['id']}"))
    assert again["revoked_at"] == revoked["revoked_at"]
    problem(http.post(f"/v1/account/api-keys/{created['id']}/rotate"), 409, "conflict")
    problem(http.delete("/v1/account/api-keys/key_0000000000nothing"), 404, "not_found")


def test_a_key_cannot_mint_more_than_it_holds(http: httpx2.Client, client_for: ClientFor) -> None:
    minter = client_for(make_key(http, ["key:*:write", "site:*:read"])["secret"])
    ok(minter.post("/v1/account/api-keys", json={"name": "ro", "scopes": ["site:s1:read"]}), 201)
    body = problem(
        minter.post(
            "/v1/account/api-keys", json={"name": "rw", "scopes": ["site:*:read", "site:*:write"]}
        ),
        403,
        "scope_insufficient",
    )
    assert body["missing_scopes"] == ["site:*:write"]
    assert "site:*:write" in body["detail"]
    problem(
        minter.post("/v1/account/api-keys", json={"name": "god", "scopes": ["*:*:admin"]}),
        403,
        "scope_insufficient",
    )
    # Rotating hands out a working secret, so it needs the key's scopes too.
    problem(
        minter.post(f"/v1/account/api-keys/{_bootstrap_key_id(http)}/rotate"),
        404,
        "not_found",
    )
    clients = client_for(make_key(http, ["client:*:write", "site:*:read"])["secret"])
    problem(
        clients.post("/v1/account/service-clients", json={"name": "x", "scopes": ["site:*:write"]}),
        403,
        "scope_insufficient",
    )


def test_rotating_a_stronger_key_needs_its_scopes(
    http: httpx2.Client, client_for: ClientFor
) -> None:
    manager = client_for(make_key(http, ["key:*:admin", "site:*:read"])["secret"])
    body = problem(
        manager.post(f"/v1/account/api-keys/{_bootstrap_key_id(http)}/rotate"),
        403,
        "scope_insufficient",
    )
    assert body["missing_scopes"] == ["*:*:admin"]


def test_members_manage_only_their_own_keys(http: httpx2.Client, client_for: ClientFor) -> None:
    site = make_site(http, "north")
    make_user(http, "mia@example.com", site_ids=[site["id"]])
    mia = client_for(login(http, "mia@example.com")["access_token"])
    own = make_key(mia, [f"site:{site['id']}:read"])
    problem(
        mia.post("/v1/account/api-keys", json={"name": "x", "scopes": ["site:*:read"]}),
        403,
        "scope_insufficient",
    )
    assert [k["id"] for k in ok(mia.get("/v1/account/api-keys"))["items"]] == [own["id"]]
    problem(mia.delete(f"/v1/account/api-keys/{_bootstrap_key_id(http)}"), 404, "not_found")
    # The admin sees every key of the organisation, including Mia's.
    assert own["id"] in [k["id"] for k in ok(http.get("/v1/account/api-keys"))["items"]]
    # Mia's key acts as Mia: it reads her site, and loses it when she leaves the site.
    mia_key = client_for(own["secret"])
    ok(mia_key.get(f"/v1/sites/{site['id']}"))
    me = ok(mia_key.get("/v1/account"))
    assert me["user"]["email"] == "mia@example.com"
    ok(http.post(f"/v1/users/{me['user']['id']}/sites/remove", json={"site_ids": [site["id"]]}))
    problem(mia_key.get(f"/v1/sites/{site['id']}"), 403, "scope_insufficient")


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "scopes": ["not a scope"]},
        {"name": "x", "scopes": []},
        {"name": "", "scopes": ["site:*:read"]},
        {"name": "x", "scopes": ["site:*:read"], "environment": "prod"},
        {"name": "x", "scopes": ["site:*:read"], "expires_at": "2001-01-01T00:00:00Z"},
        {"name": "x", "scopes": "site:*:read"},
    ],
)
def test_bad_key_requests_are_422(http: httpx2.Client, body: dict[str, object]) -> None:
    response = http.post("/v1/account/api-keys", json=body)
    assert problem(response, 422, "validation_failed")["errors"]


def _bootstrap_key_id(http: httpx2.Client) -> str:
    keys = ok(http.get("/v1/account/api-keys"))["items"]
    key_id: str = next(k["id"] for k in keys if k["prefix"] == ADMIN_KEY[:12])
    return key_id
