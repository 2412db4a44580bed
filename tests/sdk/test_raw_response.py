"""`client.with_raw_response` and the `client.http` escape hatch."""

from __future__ import annotations

import json

import httpx2
import pytest

import fleetyard
from fleetyard.protocol.identity import Site

from .device_fakes import URL, device_json, execution_json, listener_json, page, schedule_json
from .fakes import FakeAPI, make_async_client, ok, problem, site_json, tokens_json


def test_raw_response_exposes_status_headers_and_parse(
    client: fleetyard.Client, api: FakeAPI
) -> None:
    api.reply(ok(site_json(), 201, **{"X-Request-Id": "req_7", "Idempotent-Replayed": "true"}))

    raw = client.with_raw_response.sites.create("Depot")

    assert isinstance(raw, fleetyard.RawResponse)
    assert raw.status_code == 201
    assert raw.request_id == "req_7"
    assert raw.headers["idempotent-replayed"] == "true"
    assert raw.json()["name"] == "Depot"
    site = raw.parse()
    assert isinstance(site, Site)
    assert raw.parse() is site  # parsed once
    assert api.last.headers["Idempotency-Key"]


def test_raw_response_for_nested_and_per_site_resources(
    client: fleetyard.Client, api: FakeAPI
) -> None:
    api.reply(
        ok({"id": "key_1", "deleted": True}),
        ok(
            {
                "id": "key_1",
                "name": "ci",
                "prefix": "fy_live_ab",
                "environment": "live",
                "scopes": ["*:*:admin"],
                "created_at": "2026-11-24T12:00:00.000Z",
            }
        ),
    )
    removed = client.with_raw_response.members("site_1").remove("usr_1")
    assert removed.parse().deleted is True
    revoked = client.with_raw_response.account.api_keys.revoke("key_1")
    assert revoked.parse().prefix == "fy_live_ab"
    assert [r.url.path for r in api.requests] == [
        "/v1/sites/site_1/members/usr_1",
        "/v1/account/api-keys/key_1",
    ]


def test_raw_responses_still_raise_errors(client: fleetyard.Client, api: FakeAPI) -> None:
    api.reply(problem(404, "not_found"))
    with pytest.raises(fleetyard.NotFoundError):
        client.with_raw_response.sites.get("site_1")


def test_raw_login_still_adopts_the_tokens(client: fleetyard.Client, api: FakeAPI) -> None:
    api.reply(ok(tokens_json("at_user", "rt_user")), ok(site_json()))
    raw = client.with_raw_response.auth.login("ada@example.com", "pw")
    assert raw.status_code == 200
    client.sites.get("site_1")
    assert api.last.headers["Authorization"] == "Bearer at_user"


def test_raw_response_of_an_empty_answer(client: fleetyard.Client, api: FakeAPI) -> None:
    api.reply(ok(tokens_json()), httpx2.Response(204))
    client.auth.login("ada@example.com", "pw")
    raw = client.with_raw_response.auth.logout()
    assert raw.status_code == 204
    assert raw.parse() is None


def test_http_get_applies_auth_headers_and_retries(
    client: fleetyard.Client, api: FakeAPI, sleeps: list[float]
) -> None:
    api.reply(httpx2.Response(503), ok({"anything": 1}))
    response = client.http.get("/v1/anything", params={"limit": 5, "skip": None})
    assert isinstance(response, httpx2.Response)
    assert response.json() == {"anything": 1}
    assert len(api.requests) == 2
    assert len(sleeps) == 1
    assert str(api.last.url) == "http://127.0.0.1:8700/v1/anything?limit=5"
    assert api.last.headers["Authorization"] == "Bearer fy_test_key"
    assert api.last.headers["Fleetyard-Version"] == fleetyard.protocol.API_VERSION


def test_http_writes_carry_bodies_and_keys(client: fleetyard.Client, api: FakeAPI) -> None:
    api.route("POST", "/v1/things", ok({}, 201))
    api.route("PUT", "/v1/things/1", ok({}))
    client.http.post("/v1/things", json={"a": 1})
    client.http.put("/v1/things/1", content=b"raw bytes")
    post, put = api.requests
    assert json.loads(post.content) == {"a": 1}
    assert post.headers["Idempotency-Key"]
    assert put.content == b"raw bytes"
    assert "Idempotency-Key" not in put.headers


def test_http_errors_raise_with_the_response(client: fleetyard.Client, api: FakeAPI) -> None:
    api.reply(problem(403, "scope_insufficient"))
    with pytest.raises(fleetyard.PermissionDeniedError) as caught:
        client.http.delete("/v1/users/usr_1")
    assert caught.value.response.status_code == 403


@pytest.mark.parametrize("path", ["https://evil.example/v1/x", "//evil.example/x", "v1/sites", ""])
def test_http_only_takes_paths(client: fleetyard.Client, path: str) -> None:
    with pytest.raises(ValueError, match="path"):
        client.http.get(path)


@pytest.mark.anyio
async def test_async_raw_response_and_http(api: FakeAPI, sleeps: list[float]) -> None:
    api.reply(ok(site_json(), 200, **{"X-Request-Id": "req_a"}), ok({"ok": True}))
    async with make_async_client(api, sleeps, api_key="fy_test_key") as c:
        raw = await c.with_raw_response.sites.get("site_1")
        response = await c.http.patch("/v1/anything", json={"x": 1})
    assert raw.request_id == "req_a"
    assert raw.parse().name == "Depot"
    assert response.json() == {"ok": True}
    assert api.last.headers["Idempotency-Key"]


def test_raw_response_for_the_device_resources(client: fleetyard.Client, api: FakeAPI) -> None:
    api.route("GET", "/v1/devices", ok(page([device_json("dev_9")])))
    api.route("GET", "/v1/devices/dev_9", ok(device_json("dev_9"), **{"X-Request-Id": "req_d"}))
    api.route("POST", "/v1/devices/dev_9/states", ok(device_json("dev_9")))
    api.route("GET", "/v1/executions/exe_1", ok(execution_json(state="completed")))
    api.route("DELETE", "/v1/action-groups/scn_1", ok({"id": "scn_1", "deleted": True}))
    api.route("POST", "/v1/schedules/sch_1/cancel", ok(schedule_json(state="cancelled")))
    api.route("POST", "/v1/event-listeners", ok(listener_json("evl_7"), 201))
    raw = client.with_raw_response

    # By URL: looked up first, then the raw answer is the device's own.
    device = raw.devices.get(URL)
    assert (device.request_id, device.parse().id) == ("req_d", "dev_9")
    reported = raw.devices.report_states(URL, [{"name": "s", "type": 1, "value": 1}])
    assert reported.parse().id == "dev_9"
    assert raw.executions.get("exe_1").parse().state == "completed"
    assert raw.executions.wait("exe_1").parse().finished
    assert raw.action_groups.delete("scn_1").parse().deleted is True
    assert raw.schedules.cancel("sch_1").parse().state == "cancelled"
    listener = raw.events.register_listener()
    assert (listener.status_code, listener.parse().id) == (201, "evl_7")
    assert [(r.method, r.url.path) for r in api.requests] == [
        ("GET", "/v1/devices"),
        ("GET", "/v1/devices/dev_9"),
        ("GET", "/v1/devices"),
        ("POST", "/v1/devices/dev_9/states"),
        ("GET", "/v1/executions/exe_1"),
        ("GET", "/v1/executions/exe_1"),
        ("DELETE", "/v1/action-groups/scn_1"),
        ("POST", "/v1/schedules/sch_1/cancel"),
        ("POST", "/v1/event-listeners"),
    ]


def test_raw_device_lookups_still_raise_the_lookup_errors(
    client: fleetyard.Client, api: FakeAPI
) -> None:
    api.route("GET", "/v1/devices", ok(page([])))
    with pytest.raises(fleetyard.NotFoundError):
        client.with_raw_response.devices.get(URL)
    with pytest.raises(fleetyard.NotFoundError):
        client.with_raw_response.devices.update(URL, label="x")


@pytest.mark.anyio
async def test_async_raw_response_for_the_device_resources(
    api: FakeAPI, sleeps: list[float]
) -> None:
    api.route("GET", "/v1/devices", ok(page([device_json("dev_9")])))
    api.route("PATCH", "/v1/devices/dev_9", ok(device_json("dev_9"), **{"X-Request-Id": "req_u"}))
    api.route("GET", "/v1/schedules/sch_1", ok(schedule_json()))
    api.route("DELETE", "/v1/event-listeners/evl_1", ok({"id": "evl_1", "deleted": True}))
    async with make_async_client(api, sleeps, api_key="fy_test_key") as c:
        updated = await c.with_raw_response.devices.update(URL, label="Blind")
        schedule = await c.with_raw_response.schedules.get("sch_1")
        removed = await c.with_raw_response.events.unregister("evl_1")
    assert (updated.request_id, updated.parse().id) == ("req_u", "dev_9")
    assert schedule.parse().id == "sch_1"
    assert removed.parse().deleted is True
