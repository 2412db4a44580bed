"""Another organisation's admin gets 404 on every app and version route."""

from __future__ import annotations

from tests.server.conftest import ClientFor
from tests.server.helpers import create_other_org, ok, problem
from tests.server.software.conftest import Setup, dir_entry


def test_every_route_is_404_across_organisations(setup: Setup, client_for: ClientFor) -> None:
    app = setup.app(id="app_ours0001")
    v1 = setup.publish(app["id"], {"a": b"1"}, expected=None)
    setup.publish(app["id"], {"a": b"2"}, expected=v1["id"])
    other = create_other_org(setup.database_url)
    them = client_for(other["key"])
    base = f"/v1/apps/{app['id']}"
    calls = [
        them.get(base),
        them.patch(base, json={"name": "x"}),
        them.delete(base),
        them.post(f"{base}/restore"),
        them.post(
            f"{base}/versions",
            json={"manifest": {"entries": [dir_entry("d")]}, "expected_current": v1["id"]},
        ),
        them.get(f"{base}/versions"),
        them.get(f"{base}/versions/1"),
        them.get(f"{base}/versions/{v1['id']}"),
        them.patch(f"{base}/versions/1", json={"description": "x"}),
        them.get(f"{base}/versions/current/files"),
        them.get(f"{base}/versions/2/diff"),
        them.post(f"{base}/rollback", json={"to": 1}),
    ]
    for response in calls:
        problem(response, 404, "not_found")
    assert ok(them.get("/v1/apps"))["items"] == []
    assert ok(them.get("/v1/apps", params={"include_deleted": "true"}))["items"] == []
    # Our site is not theirs to create apps in; their own site works.
    problem(them.post("/v1/apps", json={"site_id": setup.site_id, "name": "x"}), 404, "not_found")
    theirs = ok(them.post("/v1/apps", json={"site_id": other["site_id"], "name": "t"}), 201)
    problem(setup.http.get(f"/v1/apps/{theirs['id']}"), 404, "not_found")
    assert [a["id"] for a in ok(setup.http.get("/v1/apps"))["items"]] == [app["id"]]
    # Nothing changed on our side.
    mine = ok(setup.http.get(base))
    assert mine["name"] == "kiosk"
    assert mine["deleted_at"] is None
    assert mine["current_version"]["number"] == 2
