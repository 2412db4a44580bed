"""Apps over HTTP: create, list, get, patch, soft delete and restore, scopes."""

from __future__ import annotations

import httpx2
import sqlalchemy as sa

from fleetyard.server.services.clock import now_ms
from fleetyard.server.storage.software_tables import apps
from tests.server.conftest import ClientFor
from tests.server.helpers import execute, make_key, make_site, ok, problem
from tests.server.software.conftest import Setup

DAY_MS = 86_400_000


def test_create_get_patch(setup: Setup) -> None:
    http = setup.http
    app = setup.app(
        targets=[setup.agent_id, setup.agent_id],
        extract_path="/opt/kiosk",
        run={"command": ["./run"], "env": {"A": "1"}},
    )
    assert app["id"].startswith("app_")
    assert app["targets"] == [setup.agent_id]
    assert app["run"] == {"command": ["./run"], "env": {"A": "1"}, "health_command": None}
    assert app["current_version"] is None
    assert app["deleted_at"] is None
    assert ok(http.get(f"/v1/apps/{app['id']}")) == app

    renamed = ok(http.patch(f"/v1/apps/{app['id']}", json={"name": "kiosk 2", "targets": []}))
    assert (renamed["name"], renamed["targets"]) == ("kiosk 2", [])
    assert renamed["extract_path"] == "/opt/kiosk"
    cleared = ok(http.patch(f"/v1/apps/{app['id']}", json={"extract_path": None}))
    assert cleared["extract_path"] is None
    assert cleared["name"] == "kiosk 2"


def test_caller_chosen_id_and_conflicts(setup: Setup) -> None:
    app = setup.app(id="app_kiosk01")
    assert app["id"] == "app_kiosk01"
    problem(
        setup.http.post(
            "/v1/apps", json={"site_id": setup.site_id, "name": "x", "id": "app_kiosk01"}
        ),
        409,
        "already_exists",
    )
    problem(
        setup.http.post("/v1/apps", json={"site_id": setup.site_id, "name": "x", "id": "kiosk"}),
        422,
        "validation_failed",
    )


def test_targets_must_be_agents_of_the_site(setup: Setup) -> None:
    other_site = make_site(setup.http, "elsewhere")
    body = problem(
        setup.http.post(
            "/v1/apps",
            json={"site_id": other_site["id"], "name": "x", "targets": [setup.agent_id]},
        ),
        422,
        "validation_failed",
    )
    assert body["errors"][0]["loc"] == ["body", "targets", 0]
    app = setup.app()
    problem(
        setup.http.patch(f"/v1/apps/{app['id']}", json={"targets": ["agt_nope"]}),
        422,
        "validation_failed",
    )
    problem(
        setup.http.post("/v1/apps", json={"site_id": "site_nope", "name": "x"}), 404, "not_found"
    )


def test_list_pages_and_filters(setup: Setup) -> None:
    made = sorted(setup.app(name=f"a{i}")["id"] for i in range(5))
    other_site = make_site(setup.http, "second")
    elsewhere = ok(
        setup.http.post("/v1/apps", json={"site_id": other_site["id"], "name": "z"}), 201
    )
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2, "site_id": setup.site_id}
        if cursor:
            params["cursor"] = cursor
        page = ok(setup.http.get("/v1/apps", params=params))
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made
    everything = [a["id"] for a in ok(setup.http.get("/v1/apps"))["items"]]
    assert elsewhere["id"] in everything
    assert len(everything) == 6


def test_soft_delete_and_restore(setup: Setup) -> None:
    http = setup.http
    app = setup.app()
    url = f"/v1/apps/{app['id']}"
    deleted = ok(http.delete(url))
    assert deleted["deleted_at"] is not None
    assert ok(http.delete(url))["deleted_at"] == deleted["deleted_at"]  # twice: unchanged
    assert app["id"] not in [a["id"] for a in ok(http.get("/v1/apps"))["items"]]
    listed = ok(http.get("/v1/apps", params={"include_deleted": "true"}))["items"]
    assert [a["id"] for a in listed] == [app["id"]]
    assert ok(http.get(url))["deleted_at"] == deleted["deleted_at"]
    # A deleted app takes no changes, versions or rollbacks.
    problem(http.patch(url, json={"name": "x"}), 404, "not_found")
    problem(http.post(f"{url}/versions", json={"manifest": {"entries": []}}), 404, "not_found")
    problem(http.post(f"{url}/rollback", json={}), 404, "not_found")
    problem(http.get(f"{url}/versions"), 404, "not_found")

    restored = ok(http.post(f"{url}/restore"))
    assert restored["deleted_at"] is None
    assert ok(http.post(f"{url}/restore"))["deleted_at"] is None
    assert app["id"] in [a["id"] for a in ok(http.get("/v1/apps"))["items"]]


def test_restore_window_is_thirty_days(setup: Setup) -> None:
    http = setup.http
    recent, old = setup.app(name="recent"), setup.app(name="old")
    for app in (recent, old):
        ok(http.delete(f"/v1/apps/{app['id']}"))
    execute(
        setup.database_url,
        sa.update(apps).where(apps.c.id == recent["id"]).values(deleted_at=now_ms() - 29 * DAY_MS),
    )
    execute(
        setup.database_url,
        sa.update(apps).where(apps.c.id == old["id"]).values(deleted_at=now_ms() - 31 * DAY_MS),
    )
    listed = ok(http.get("/v1/apps", params={"include_deleted": "true"}))["items"]
    assert [a["id"] for a in listed] == [recent["id"]]
    problem(http.get(f"/v1/apps/{old['id']}"), 404, "not_found")
    problem(http.post(f"/v1/apps/{old['id']}/restore"), 404, "not_found")
    problem(http.delete(f"/v1/apps/{old['id']}"), 404, "not_found")
    assert ok(http.post(f"/v1/apps/{recent['id']}/restore"))["deleted_at"] is None


def test_scopes(setup: Setup, client_for: ClientFor) -> None:
    http = setup.http
    app = setup.app()
    other_site = make_site(http, "hidden")
    hidden = ok(http.post("/v1/apps", json={"site_id": other_site["id"], "name": "h"}), 201)
    reader = client_for(make_key(http, [f"site:{setup.site_id}:read"])["secret"])
    assert ok(reader.get(f"/v1/apps/{app['id']}"))["id"] == app["id"]
    assert [a["id"] for a in ok(reader.get("/v1/apps"))["items"]] == [app["id"]]
    problem(reader.get(f"/v1/apps/{hidden['id']}"), 404, "not_found")
    problem(reader.patch(f"/v1/apps/{app['id']}", json={"name": "x"}), 403, "scope_insufficient")
    problem(reader.delete(f"/v1/apps/{app['id']}"), 403, "scope_insufficient")
    problem(
        reader.post("/v1/apps", json={"site_id": setup.site_id, "name": "x"}),
        403,
        "scope_insufficient",
    )
    # One app by its own scope.
    one = client_for(make_key(http, [f"app:{app['id']}:write"])["secret"])
    assert ok(one.patch(f"/v1/apps/{app['id']}", json={"name": "mine"}))["name"] == "mine"
    assert [a["id"] for a in ok(one.get("/v1/apps"))["items"]] == [app["id"]]
    problem(one.get(f"/v1/apps/{hidden['id']}"), 404, "not_found")
    problem(
        one.post("/v1/apps", json={"site_id": setup.site_id, "name": "x"}),
        404,
        "not_found",
    )
    nothing = client_for(make_key(http, ["key:*:read"])["secret"])
    problem(nothing.get("/v1/apps"), 403, "scope_insufficient")


def test_unauthenticated(client_for: ClientFor) -> None:
    anonymous: httpx2.Client = client_for(None)
    problem(anonymous.get("/v1/apps"), 401, "unauthenticated")
