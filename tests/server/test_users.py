"""Users: invite, list and filter, roles, deletion, site assignment."""

from __future__ import annotations

import httpx2

from tests.server.conftest import ClientFor
from tests.server.helpers import login, make_key, make_site, make_user, ok, problem


def _admin_user_id(http: httpx2.Client) -> str:
    users = ok(http.get("/v1/users"))["items"]
    user_id: str = next(u["id"] for u in users if u["email"] == "admin@fleetyard.local")
    return user_id


def test_create_get_list_and_delete(http: httpx2.Client) -> None:
    site = make_site(http, "north")
    created = ok(
        http.post(
            "/v1/users",
            json={"email": "Grace@Example.com", "name": "Grace", "site_ids": [site["id"]]},
        ),
        201,
    )
    assert created["id"].startswith("usr_")
    assert (created["email"], created["name"], created["role"]) == (
        "grace@example.com",
        "Grace",
        "member",
    )
    assert created["site_ids"] == [site["id"]]
    assert created["created_at"].endswith("Z")
    assert ok(http.get(f"/v1/users/{created['id']}")) == created
    assert created["id"] in [u["id"] for u in ok(http.get("/v1/users"))["items"]]
    by_site = ok(http.get("/v1/users", params={"site_id": site["id"]}))["items"]
    assert [u["id"] for u in by_site] == [created["id"]]
    members = ok(http.get(f"/v1/sites/{site['id']}/members"))["items"]
    assert [(m["user_id"], m["role"]) for m in members] == [(created["id"], "operator")]

    problem(http.post("/v1/users", json={"email": "grace@example.com"}), 409, "already_exists")
    assert ok(http.delete(f"/v1/users/{created['id']}")) == {"id": created["id"], "deleted": True}
    problem(http.get(f"/v1/users/{created['id']}"), 404, "not_found")
    problem(http.delete(f"/v1/users/{created['id']}"), 404, "not_found")


def test_unknown_sites_are_404(http: httpx2.Client) -> None:
    problem(
        http.post("/v1/users", json={"email": "x@example.com", "site_ids": ["site_nope"]}),
        404,
        "not_found",
    )
    user = make_user(http, "y@example.com")
    problem(
        http.post(f"/v1/users/{user['id']}/sites", json={"site_ids": ["site_nope"]}),
        404,
        "not_found",
    )


def test_assign_and_remove_sites(http: httpx2.Client) -> None:
    a, b = make_site(http, "a"), make_site(http, "b")
    user = make_user(http, "hal@example.com")
    both = ok(http.post(f"/v1/users/{user['id']}/sites", json={"site_ids": [a["id"], b["id"]]}))
    assert both["site_ids"] == sorted([a["id"], b["id"]])
    # Adding again is fine and keeps the membership.
    again = ok(http.post(f"/v1/users/{user['id']}/sites", json={"site_ids": [a["id"]]}))
    assert again["site_ids"] == both["site_ids"]
    left = ok(http.post(f"/v1/users/{user['id']}/sites/remove", json={"site_ids": [a["id"]]}))
    assert left["site_ids"] == [b["id"]]
    problem(
        http.post(f"/v1/users/{user['id']}/sites", json={"site_ids": []}),
        422,
        "validation_failed",
    )


def test_promote_demote_and_the_last_admin(http: httpx2.Client, client_for: ClientFor) -> None:
    admin_id = _admin_user_id(http)
    problem(http.post(f"/v1/users/{admin_id}/demote"), 409, "conflict")
    problem(http.delete(f"/v1/users/{admin_id}"), 409, "conflict")
    ivy = make_user(http, "ivy@example.com")
    assert ok(http.post(f"/v1/users/{ivy['id']}/promote"))["role"] == "admin"
    ivy_client = client_for(login(http, "ivy@example.com")["access_token"])
    assert ok(ivy_client.get("/v1/account"))["scopes"] == ["*:*:admin"]
    # A user cannot delete themselves, even as an admin.
    problem(ivy_client.delete(f"/v1/users/{ivy['id']}"), 409, "conflict")
    assert ok(http.post(f"/v1/users/{admin_id}/demote"))["role"] == "member"
    problem(http.post(f"/v1/users/{ivy['id']}/demote"), 409, "conflict")
    # The demotion takes effect at once for tokens already issued.
    assert ok(ivy_client.post(f"/v1/users/{admin_id}/promote"))["role"] == "admin"
    assert ok(http.post(f"/v1/users/{ivy['id']}/demote"))["role"] == "member"
    problem(ivy_client.get("/v1/users"), 403, "scope_insufficient")


def test_user_admins_cannot_make_admins(http: httpx2.Client, client_for: ClientFor) -> None:
    hr = client_for(make_key(http, ["user:*:admin"])["secret"])
    member = ok(hr.post("/v1/users", json={"email": "m@example.com"}), 201)
    problem(
        hr.post("/v1/users", json={"email": "a@example.com", "role": "admin"}),
        403,
        "scope_insufficient",
    )
    problem(hr.post(f"/v1/users/{member['id']}/promote"), 403, "scope_insufficient")
    problem(hr.delete(f"/v1/users/{_admin_user_id(http)}"), 403, "scope_insufficient")
    site = make_site(http, "s")
    body = problem(
        hr.post(f"/v1/users/{member['id']}/sites", json={"site_ids": [site["id"]]}),
        403,
        "scope_insufficient",
    )
    assert body["missing_scopes"] == [f"site:{site['id']}:admin"]
    ok(hr.delete(f"/v1/users/{member['id']}"))


def test_members_only_see_their_sites(http: httpx2.Client, client_for: ClientFor) -> None:
    mine, other = make_site(http, "mine"), make_site(http, "other")
    make_user(http, "jo@example.com", site_ids=[mine["id"]])
    jo = client_for(login(http, "jo@example.com")["access_token"])
    assert [s["id"] for s in ok(jo.get("/v1/sites"))["items"]] == [mine["id"]]
    ok(jo.get(f"/v1/sites/{mine['id']}"))
    ok(jo.patch(f"/v1/sites/{mine['id']}", json={"description": "ours"}))
    problem(jo.get(f"/v1/sites/{other['id']}"), 403, "scope_insufficient")
    problem(jo.post("/v1/sites", json={"name": "new"}), 403, "scope_insufficient")
    # An operator cannot manage the site's members; a manager can.
    problem(
        jo.post(f"/v1/sites/{mine['id']}/members", json={"user_id": _admin_user_id(http)}),
        403,
        "scope_insufficient",
    )
    problem(jo.get("/v1/users"), 403, "scope_insufficient")


def test_bad_user_input_is_422(http: httpx2.Client) -> None:
    for body in (
        {"email": "nope"},
        {"email": "a@b.co", "role": "owner"},
        {"email": "a@b.co", "password": "short"},
        {"email": "a@b.co", "site_ids": ["bad id!"]},
        {"email": "a@b.co", "name": "nul\u0000"},
        {"email": "a@b.co", "nickname": "x"},
    ):
        assert problem(http.post("/v1/users", json=body), 422, "validation_failed")["errors"]
    problem(http.get("/v1/users", params={"site_id": "bad\u0000"}), 422, "validation_failed")
    problem(http.get("/v1/users/bad%00id"), 422, "validation_failed")
