"""Sites and their members, list pagination, bad input and Idempotency-Key."""

from __future__ import annotations

import base64
import time

import httpx2
import pytest

from tests.server.conftest import ClientFor
from tests.server.helpers import create_other_org, login, make_site, make_user, ok, problem


def test_create_get_update(http: httpx2.Client) -> None:
    site = ok(http.post("/v1/sites", json={"name": "Depot", "description": "east"}), 201)
    assert site["id"].startswith("site_")
    assert site["created_at"] == site["updated_at"]
    assert ok(http.get(f"/v1/sites/{site['id']}")) == site
    problem(http.post("/v1/sites", json={"name": "Depot"}), 409, "already_exists")
    time.sleep(0.005)
    renamed = ok(http.patch(f"/v1/sites/{site['id']}", json={"name": "Depot 2"}))
    assert (renamed["name"], renamed["description"]) == ("Depot 2", "east")
    assert renamed["updated_at"] > site["updated_at"]
    cleared = ok(http.patch(f"/v1/sites/{site['id']}", json={"description": None}))
    assert (cleared["name"], cleared["description"]) == ("Depot 2", None)
    assert ok(http.patch(f"/v1/sites/{site['id']}", json={})) == cleared
    make_site(http, "Other")
    problem(http.patch(f"/v1/sites/{site['id']}", json={"name": "Other"}), 409, "already_exists")
    problem(http.patch(f"/v1/sites/{site['id']}", json={"name": None}), 422, "validation_failed")
    problem(http.get("/v1/sites/site_missing"), 404, "not_found")
    problem(http.patch("/v1/sites/site_missing", json={"name": "x"}), 404, "not_found")


def test_members_add_list_remove(
    http: httpx2.Client, client_for: ClientFor, database_url: str
) -> None:
    site = make_site(http, "plant")
    kim = make_user(http, "kim@example.com")
    member = ok(
        http.post(
            f"/v1/sites/{site['id']}/members", json={"user_id": kim["id"], "role": "manager"}
        ),
        201,
    )
    assert (member["user_id"], member["email"], member["role"]) == (
        kim["id"],
        "kim@example.com",
        "manager",
    )
    problem(
        http.post(f"/v1/sites/{site['id']}/members", json={"user_id": kim["id"]}),
        409,
        "already_exists",
    )
    # A manager manages the site's members.
    lee = make_user(http, "lee@example.com")
    manager = client_for(login(http, "kim@example.com")["access_token"])
    ok(manager.post(f"/v1/sites/{site['id']}/members", json={"user_id": lee["id"]}), 201)
    listed = ok(manager.get(f"/v1/sites/{site['id']}/members"))["items"]
    assert {m["user_id"] for m in listed} == {kim["id"], lee["id"]}

    foreign = create_other_org(database_url)
    problem(
        http.post(f"/v1/sites/{site['id']}/members", json={"user_id": foreign["user_id"]}),
        404,
        "not_found",
    )
    problem(http.post("/v1/sites/site_nope/members", json={"user_id": kim["id"]}), 404, "not_found")
    removed = ok(manager.delete(f"/v1/sites/{site['id']}/members/{lee['id']}"))
    assert removed == {"id": lee["id"], "deleted": True}
    problem(http.delete(f"/v1/sites/{site['id']}/members/{lee['id']}"), 404, "not_found")
    assert ok(http.get(f"/v1/users/{lee['id']}"))["site_ids"] == []


def test_another_organisation_is_invisible(
    http: httpx2.Client, client_for: ClientFor, database_url: str
) -> None:
    mine = make_site(http, "mine")
    theirs = create_other_org(database_url)
    other = client_for(theirs["key"])
    assert [s["id"] for s in ok(other.get("/v1/sites"))["items"]] == [theirs["site_id"]]
    assert [s["id"] for s in ok(http.get("/v1/sites"))["items"]] == [mine["id"]]
    problem(http.get(f"/v1/sites/{theirs['site_id']}"), 404, "not_found")
    problem(http.get(f"/v1/users/{theirs['user_id']}"), 404, "not_found")
    problem(http.delete(f"/v1/account/api-keys/{theirs['key_id']}"), 404, "not_found")
    assert theirs["key_id"] not in [k["id"] for k in ok(http.get("/v1/account/api-keys"))["items"]]
    # Same name in another organisation is fine.
    ok(other.post("/v1/sites", json={"name": "mine"}), 201)


def test_pagination_walks_every_item_once(http: httpx2.Client) -> None:
    created = [make_site(http, f"site {i:02d}")["id"] for i in range(7)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = ok(http.get("/v1/sites", params=params))
        seen += [s["id"] for s in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == sorted(created)
    whole = ok(http.get("/v1/sites", params={"limit": 200}))
    assert [s["id"] for s in whole["items"]] == seen
    assert whole["next_cursor"] is None
    exact = ok(http.get("/v1/sites", params={"limit": 7}))
    assert exact["next_cursor"] is None


@pytest.mark.parametrize(
    "cursor",
    ["not base64!", "AAAA", base64.urlsafe_b64encode(b"x' OR 1=1 --").decode(), "\u00e9"],
)
def test_bad_cursors_are_400(http: httpx2.Client, cursor: str) -> None:
    problem(http.get("/v1/sites", params={"cursor": cursor}), 400, "invalid_cursor")


@pytest.mark.parametrize("limit", ["0", "201", "ten", "-1"])
def test_bad_limits_are_422(http: httpx2.Client, limit: str) -> None:
    body = problem(http.get("/v1/users", params={"limit": limit}), 422, "validation_failed")
    assert body["errors"][0]["loc"] == ["query", "limit"]


def test_malformed_json_is_400(http: httpx2.Client) -> None:
    response = http.post(
        "/v1/sites", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    problem(response, 400, "invalid_json")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 12}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "ok", "colour": "red"}, "colour"),
        ({"name": "nul\u0000byte"}, "name"),
        ({}, "name"),
    ],
)
def test_invalid_bodies_are_422_per_field(
    http: httpx2.Client, body: dict[str, object], field: str
) -> None:
    errors = problem(http.post("/v1/sites", json=body), 422, "validation_failed")["errors"]
    assert ["body", field] in [e["loc"] for e in errors]


@pytest.mark.parametrize("raw", [b"[]", b"null", b'"name"', b"12"])
def test_bodies_of_the_wrong_shape_are_422(http: httpx2.Client, raw: bytes) -> None:
    response = http.post("/v1/sites", content=raw, headers={"Content-Type": "application/json"})
    problem(response, 422, "validation_failed")


def test_idempotency_key_replays_the_first_answer(http: httpx2.Client) -> None:
    headers = {"Idempotency-Key": "create-depot-1"}
    first = http.post("/v1/sites", json={"name": "Depot"}, headers=headers)
    assert first.status_code == 201
    replay = http.post("/v1/sites", json={"name": "Depot"}, headers=headers)
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert [s["name"] for s in ok(http.get("/v1/sites"))["items"]] == ["Depot"]
    problem(
        http.post("/v1/sites", json={"name": "Other"}, headers=headers),
        422,
        "idempotency_key_mismatch",
    )


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/v1/sites", rb'{"name": "\ud800"}'),
        ("/v1/sites", rb'{"name": "ok", "description": "a\u0000b"}'),
        ("/v1/users", rb'{"email": "a\ud800@b.co"}'),
        ("/v1/auth/login", rb'{"email": "a@b.co", "password": "\ud800"}'),
    ],
)
def test_text_no_database_can_store_is_422(http: httpx2.Client, path: str, raw: bytes) -> None:
    response = http.post(path, content=raw, headers={"Content-Type": "application/json"})
    problem(response, 422, "validation_failed")
