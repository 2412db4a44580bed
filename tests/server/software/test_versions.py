"""Versions over HTTP: publish rules, refs, lists, files, diff, description, rollback."""

from __future__ import annotations

from typing import Any

from tests.server.conftest import ClientFor
from tests.server.helpers import make_key, ok, problem
from tests.server.software.conftest import Setup, chunk_of, dir_entry, file_entry, link_entry


def _publish_three(setup: Setup, app_id: str) -> list[dict[str, Any]]:
    v1 = setup.publish(
        app_id, {"a.txt": b"one", "b.txt": b"bee"}, expected=None, description="first"
    )
    v2 = setup.publish(
        app_id, {"a.txt": b"two", "b.txt": b"bee", "c.txt": b"sea"}, expected=v1["id"]
    )
    v3 = setup.publish(
        app_id,
        {"a.txt": b"three!", "c.txt": b"sea"},
        expected=v2["id"],
        extra=(dir_entry("empty"),),
    )
    return [v1, v2, v3]


def test_publish_makes_numbered_current_versions(setup: Setup) -> None:
    app = setup.app()
    v1 = setup.publish(
        app["id"],
        {"bin/run": b"#!/bin/sh\n", "empty": b""},
        expected=None,
        description="hello",
        extra=(dir_entry("bin"), dir_entry("logs"), link_entry("run", "bin/run")),
    )
    assert v1["id"].startswith("ver_")
    assert len(v1["id"]) == 36
    assert (v1["number"], v1["current"], v1["description"]) == (1, True, "hello")
    assert (v1["files"], v1["bytes"]) == (2, 10)
    assert v1["created_by"] is not None
    assert v1["manifest"] is None
    got = ok(setup.http.get(f"/v1/apps/{app['id']}"))
    assert got["current_version"]["id"] == v1["id"]
    one = ok(setup.http.get(f"/v1/apps/{app['id']}/versions/1"))
    assert [e["path"] for e in one["manifest"]["entries"]] == [
        "bin",
        "bin/run",
        "empty",
        "logs",
        "run",
    ]
    v2 = setup.publish(app["id"], {"bin/run": b"#!/bin/sh\nexit 0\n"}, expected=v1["id"])
    assert v2["number"] == 2
    listed = ok(setup.http.get(f"/v1/apps/{app['id']}/versions"))["items"]
    assert [(v["number"], v["current"]) for v in listed] == [(2, True), (1, False)]


def test_stale_publish_is_412_with_the_current_id(setup: Setup) -> None:
    app = setup.app()
    v1 = setup.publish(app["id"], {"a": b"1"}, expected=None)
    stale = setup.http.post(
        f"/v1/apps/{app['id']}/versions",
        json={
            "manifest": {"entries": [file_entry("a", b"1"), dir_entry("d")]},
            "expected_current": None,
        },
    )
    body = problem(stale, 412, "version_stale")
    assert body["current_version_id"] == v1["id"]
    problem(
        setup.http.post(
            f"/v1/apps/{app['id']}/versions",
            json={"manifest": {"entries": [dir_entry("d")]}, "expected_current": "ver_nope"},
        ),
        412,
        "version_stale",
    )
    v2 = setup.publish(
        app["id"], {"a": b"1"}, expected=body["current_version_id"], extra=(dir_entry("d"),)
    )
    assert v2["number"] == 2


def test_identical_manifests(setup: Setup) -> None:
    app = setup.app()
    v1 = setup.publish(app["id"], {"a": b"1"}, expected=None)
    v2 = setup.publish(app["id"], {"a": b"2"}, expected=v1["id"])
    # The current one again: 200 with it, whatever expected_current says (a retry).
    again = setup.publish(app["id"], {"a": b"2"}, expected=v1["id"], status=200)
    assert again["id"] == v2["id"]
    assert again["number"] == 2
    # An older one: 409 naming it.
    body = problem(
        setup.http.post(
            f"/v1/apps/{app['id']}/versions",
            json={"manifest": {"entries": [file_entry("a", b"1")]}, "expected_current": v2["id"]},
        ),
        409,
        "already_exists",
    )
    assert body["version_id"] == v1["id"]
    assert len(ok(setup.http.get(f"/v1/apps/{app['id']}/versions"))["items"]) == 2


def test_chunks_must_be_on_the_site(setup: Setup) -> None:
    app = setup.app()
    body = problem(
        setup.http.post(
            f"/v1/apps/{app['id']}/versions",
            json={
                "manifest": {"entries": [file_entry("a", b"never uploaded"), file_entry("e", b"")]}
            },
        ),
        422,
        "chunk_missing",
    )
    assert body["missing"] == [chunk_of(b"never uploaded")["hash"]]
    assert ok(setup.http.get(f"/v1/apps/{app['id']}"))["current_version"] is None
    assert ok(setup.http.get(f"/v1/apps/{app['id']}/versions"))["items"] == []


def test_invalid_manifests_are_422_manifest_invalid(setup: Setup) -> None:
    app = setup.app()
    url = f"/v1/apps/{app['id']}/versions"
    for entries in (
        [file_entry("../x", b"")],
        [file_entry("a", b""), file_entry("a", b"")],
        [link_entry("l", "../../etc")],
        [{**file_entry("a", b"abc"), "size": 4}],
    ):
        body = problem(
            setup.http.post(url, json={"manifest": {"entries": entries}}), 422, "manifest_invalid"
        )
        assert body["errors"]
    problem(setup.http.post(url, json={"manifest": {"entries": "no"}}), 422, "validation_failed")
    problem(
        setup.http.post(url, json={"manifest": {"entries": []}, "description": "x" * 501}),
        422,
        "validation_failed",
    )
    problem(
        setup.http.post(url, content=b"{nope", headers={"content-type": "application/json"}),
        400,
        "invalid_json",
    )


def test_refs_of_every_form(setup: Setup) -> None:
    app = setup.app()
    v1, v2, v3 = _publish_three(setup, app["id"])
    base = f"/v1/apps/{app['id']}/versions"
    expected = {
        "1": v1,
        "%231": v1,
        "v1": v1,
        "first": v1,
        "2": v2,
        "%232": v2,
        "v2": v2,
        "previous": v2,
        v2["id"]: v2,
        "3": v3,
        "v3": v3,
        "current": v3,
        v3["id"]: v3,
    }
    for ref, version in expected.items():
        assert ok(setup.http.get(f"{base}/{ref}"))["id"] == version["id"], ref
    for ref in ("4", "v0", "%230", "latest", "ver_0000", "V1", "-1"):
        problem(setup.http.get(f"{base}/{ref}"), 404, "version_not_found")
    # A version id of another app is unknown here.
    other = setup.app(name="other")
    theirs = setup.publish(other["id"], {"x": b"x"}, expected=None)
    problem(setup.http.get(f"{base}/{theirs['id']}"), 404, "version_not_found")


def test_refs_without_versions(setup: Setup) -> None:
    app = setup.app()
    for ref in ("current", "previous", "first", "1"):
        problem(setup.http.get(f"/v1/apps/{app['id']}/versions/{ref}"), 404, "version_not_found")
    problem(setup.http.post(f"/v1/apps/{app['id']}/rollback", json={}), 404, "version_not_found")


def test_version_list_pages_newest_first(setup: Setup) -> None:
    app = setup.app()
    previous: str | None = None
    for i in range(5):
        previous = setup.publish(app["id"], {"f": str(i).encode()}, expected=previous)["id"]
    numbers: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = ok(setup.http.get(f"/v1/apps/{app['id']}/versions", params=params))
        numbers += [v["number"] for v in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert numbers == [5, 4, 3, 2, 1]
    problem(
        setup.http.get(f"/v1/apps/{app['id']}/versions", params={"cursor": "zzz"}),
        400,
        "invalid_cursor",
    )


def test_files_page_by_path(setup: Setup) -> None:
    app = setup.app()
    files = {f"d/f{i:02d}": f"content {i}".encode() for i in range(7)}
    setup.publish(
        app["id"],
        files,
        expected=None,
        extra=(dir_entry("d"), link_entry("l", "d/f00"), file_entry("é", b"")),
    )
    paths: list[str] = []
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = ok(setup.http.get(f"/v1/apps/{app['id']}/versions/current/files", params=params))
        entries += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    paths = [e["path"] for e in entries]
    assert paths == ["d", *sorted(files), "l", "é"]
    by_path = {e["path"]: e for e in entries}
    assert by_path["d"] == {
        "path": "d",
        "type": "dir",
        "size": 0,
        "mode": 0o755,
        "digest": None,
        "target": None,
    }
    assert by_path["l"]["target"] == "d/f00"
    assert by_path["l"]["mode"] is None
    assert by_path["d/f01"]["size"] == 9
    assert len(by_path["d/f01"]["digest"]) == 64
    problem(
        setup.http.get(f"/v1/apps/{app['id']}/versions/1/files", params={"cursor": "!"}),
        400,
        "invalid_cursor",
    )


def test_diff(setup: Setup) -> None:
    app = setup.app()
    v1, v2, v3 = _publish_three(setup, app["id"])
    base = f"/v1/apps/{app['id']}/versions"
    d = ok(setup.http.get(f"{base}/3/diff"))  # against previous = 2
    assert (d["from_version"], d["to_version"]) == (v2["id"], v3["id"])
    assert [e["path"] for e in d["added"]] == ["empty"]
    assert [e["path"] for e in d["removed"]] == ["b.txt"]
    assert d["changed"] == [{"path": "a.txt", "old_size": 3, "new_size": 6, "type": "file"}]
    # "previous" is relative to the ref, not to the current version.
    d2 = ok(setup.http.get(f"{base}/v2/diff"))
    assert d2["from_version"] == v1["id"]
    assert [e["path"] for e in d2["added"]] == ["c.txt"]
    assert d2["changed"] == [{"path": "a.txt", "old_size": 3, "new_size": 3, "type": "file"}]
    back = ok(setup.http.get(f"{base}/first/diff", params={"against": "current"}))
    assert [e["path"] for e in back["added"]] == ["b.txt"]
    assert [e["path"] for e in back["removed"]] == ["c.txt", "empty"]
    same = ok(setup.http.get(f"{base}/2/diff", params={"against": v2["id"]}))
    assert same["added"] == same["removed"] == same["changed"] == []
    problem(setup.http.get(f"{base}/1/diff"), 404, "version_not_found")
    problem(setup.http.get(f"{base}/3/diff", params={"against": "v9"}), 404, "version_not_found")


def test_description_is_the_only_editable_field(setup: Setup) -> None:
    app = setup.app()
    v1 = setup.publish(app["id"], {"a": b"1"}, expected=None, description="old")
    url = f"/v1/apps/{app['id']}/versions/{v1['id']}"
    edited = ok(setup.http.patch(url, json={"description": "new"}))
    assert edited["description"] == "new"
    assert edited["id"] == v1["id"]
    assert ok(setup.http.get(url))["description"] == "new"
    problem(setup.http.patch(url, json={"description": "x" * 501}), 422, "validation_failed")
    problem(setup.http.patch(url, json={"number": 4}), 422, "validation_failed")
    problem(
        setup.http.patch(f"/v1/apps/{app['id']}/versions/9", json={"description": ""}),
        404,
        "version_not_found",
    )


def test_rollback(setup: Setup, client_for: ClientFor) -> None:
    http = setup.http
    app = setup.app()
    v1, v2, v3 = _publish_three(setup, app["id"])
    url = f"/v1/apps/{app['id']}/rollback"
    rolled = ok(http.post(url))  # no body: previous
    assert rolled["current_version"]["id"] == v2["id"]
    assert ok(http.get(f"/v1/apps/{app['id']}/versions/current"))["number"] == 2
    # previous is now v1; no version was created.
    assert ok(http.post(url, json={"to": "previous"}))["current_version"]["id"] == v1["id"]
    assert ok(http.post(url, json={"to": 3}))["current_version"]["id"] == v3["id"]
    assert ok(http.post(url, json={"to": "#1"}))["current_version"]["number"] == 1
    assert ok(http.post(url, json={"to": "current"}))["current_version"]["number"] == 1
    assert len(ok(http.get(f"/v1/apps/{app['id']}/versions"))["items"]) == 3
    problem(http.post(url, json={"to": "v7"}), 404, "version_not_found")
    problem(http.post(url, json={"to": "previous"}), 404, "version_not_found")  # below v1
    # Publishing after a rollback names the rolled-back version and numbers on.
    v4 = setup.publish(app["id"], {"z": b"z"}, expected=v1["id"])
    assert v4["number"] == 4

    writer = client_for(make_key(http, [f"site:{setup.site_id}:write"])["secret"])
    problem(writer.post(url, json={"to": 1}), 403, "scope_insufficient")
    app_writer = client_for(make_key(http, [f"app:{app['id']}:write"])["secret"])
    problem(app_writer.post(url, json={"to": 1}), 403, "scope_insufficient")
    roller = client_for(make_key(http, [f"app:{app['id']}:rollback"])["secret"])
    assert ok(roller.post(url, json={"to": 1}))["current_version"]["number"] == 1
    site_roller = client_for(make_key(http, [f"site:{setup.site_id}:rollback"])["secret"])
    assert ok(site_roller.post(url, json={"to": 4}))["current_version"]["number"] == 4
    admin = client_for(make_key(http, [f"site:{setup.site_id}:admin"])["secret"])
    assert ok(admin.post(url, json={"to": 2}))["current_version"]["number"] == 2
    # The write key may still publish and edit, just not roll back.
    problem(
        writer.post(
            f"/v1/apps/{app['id']}/versions",
            json={"manifest": {"entries": [dir_entry("d")]}, "expected_current": v4["id"]},
        ),
        412,
        "version_stale",
    )
    reader = client_for(make_key(http, [f"site:{setup.site_id}:read"])["secret"])
    problem(
        reader.post(
            f"/v1/apps/{app['id']}/versions", json={"manifest": {"entries": [dir_entry("d")]}}
        ),
        403,
        "scope_insufficient",
    )
