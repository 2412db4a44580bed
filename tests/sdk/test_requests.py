"""Every resource method sends the documented route and body, and parses the answer."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
from pydantic import BaseModel

import fleetyard
from fleetyard.protocol import API_VERSION
from fleetyard.protocol.common import Deleted, Page
from fleetyard.protocol.identity import (
    ApiKey,
    ApiKeyCreated,
    ApiVersionInfo,
    Principal,
    ServiceClient,
    ServiceClientCreated,
    Site,
    SiteMember,
    TokenResponse,
    TotpSetup,
    User,
)
from fleetyard.protocol.system import Health, SystemInfo

from .fakes import (
    TS,
    FakeAPI,
    make_async_client,
    make_client,
    ok,
    site_json,
    tokens_json,
    user_json,
)

ORG = {"id": "org_1", "name": "Acme", "created_at": TS}
KEY = {
    "id": "key_1",
    "name": "ci",
    "prefix": "fy_live_ab",
    "environment": "live",
    "scopes": ["site:*:read"],
    "created_at": TS,
}
SVC = {"id": "cli_1", "name": "ingest", "scopes": ["site:*:read"], "created_at": TS}
MEMBER = {
    "site_id": "site_1",
    "user_id": "usr_1",
    "email": "a@example.com",
    "role": "viewer",
    "added_at": TS,
}


def page(item: dict[str, Any]) -> dict[str, Any]:
    return {"items": [item], "next_cursor": None}


@dataclass
class Route:
    call: Callable[[Any], Any]
    method: str
    path: str
    answer: Any
    returns: type
    body: Any = None
    params: dict[str, str] = field(default_factory=dict)
    status: int = 200


ROUTES = {
    "system.info": Route(
        lambda c: c.system.info(),
        "GET",
        "/v1/system/info",
        {
            "version": "0.1.0",
            "api_version": API_VERSION,
            "database": "sqlite",
            "uptime_seconds": 1.5,
            "dev_mode": False,
        },
        SystemInfo,
    ),
    "system.health": Route(
        lambda c: c.system.health(), "GET", "/healthz", {"status": "ok"}, Health
    ),
    "account.whoami": Route(
        lambda c: c.account.whoami(),
        "GET",
        "/v1/account",
        {"kind": "api_key", "org": ORG, "api_key_id": "key_1", "scopes": ["*:*:admin"]},
        Principal,
    ),
    "account.version": Route(
        lambda c: c.account.version(),
        "GET",
        "/v1/account/version",
        {"requested": API_VERSION, "served": API_VERSION, "supported": [API_VERSION]},
        ApiVersionInfo,
    ),
    "api_keys.list_page": Route(
        lambda c: c.account.api_keys.list_page("cur", 10),
        "GET",
        "/v1/account/api-keys",
        page(KEY),
        Page,
        params={"cursor": "cur", "limit": "10"},
    ),
    "api_keys.create": Route(
        lambda c: c.account.api_keys.create(
            "ci",
            ("site:*:read",),
            environment="test",
            expires_at=datetime(2027, 1, 1, tzinfo=UTC),
        ),
        "POST",
        "/v1/account/api-keys",
        KEY | {"secret": "fy_test_secret"},
        ApiKeyCreated,
        body={
            "name": "ci",
            "scopes": ["site:*:read"],
            "environment": "test",
            "expires_at": "2027-01-01T00:00:00.000Z",
        },
        status=201,
    ),
    "api_keys.create.defaults": Route(
        lambda c: c.account.api_keys.create("ci", ["*:*:admin"]),
        "POST",
        "/v1/account/api-keys",
        KEY | {"secret": "s"},
        ApiKeyCreated,
        body={"name": "ci", "scopes": ["*:*:admin"], "environment": "live"},
        status=201,
    ),
    "api_keys.rotate": Route(
        lambda c: c.account.api_keys.rotate("key_1", grace_seconds=60),
        "POST",
        "/v1/account/api-keys/key_1/rotate",
        KEY | {"id": "key_2", "secret": "s"},
        ApiKeyCreated,
        body={"grace_seconds": 60},
    ),
    "api_keys.revoke": Route(
        lambda c: c.account.api_keys.revoke("key_1"),
        "DELETE",
        "/v1/account/api-keys/key_1",
        KEY | {"revoked_at": TS},
        ApiKey,
    ),
    "service_clients.list_page": Route(
        lambda c: c.account.service_clients.list_page(),
        "GET",
        "/v1/account/service-clients",
        page(SVC),
        Page,
    ),
    "service_clients.create": Route(
        lambda c: c.account.service_clients.create("ingest", ["site:*:read"]),
        "POST",
        "/v1/account/service-clients",
        SVC | {"secret": "s"},
        ServiceClientCreated,
        body={"name": "ingest", "scopes": ["site:*:read"]},
        status=201,
    ),
    "service_clients.revoke": Route(
        lambda c: c.account.service_clients.revoke("cli_1"),
        "DELETE",
        "/v1/account/service-clients/cli_1",
        SVC | {"revoked_at": TS},
        ServiceClient,
    ),
    "totp.setup": Route(
        lambda c: c.account.totp.setup(),
        "POST",
        "/v1/account/totp",
        {"secret": "ABC", "otpauth_uri": "otpauth://totp/x"},
        TotpSetup,
    ),
    "totp.confirm": Route(
        lambda c: c.account.totp.confirm("123456"),
        "POST",
        "/v1/account/totp/confirm",
        user_json() | {"totp_enabled": True},
        User,
        body={"code": "123456"},
    ),
    "totp.disable": Route(
        lambda c: c.account.totp.disable(), "DELETE", "/v1/account/totp", user_json(), User
    ),
    "auth.login": Route(
        lambda c: c.auth.login("ada@example.com", "pw"),
        "POST",
        "/v1/auth/login",
        tokens_json(),
        TokenResponse,
        body={"email": "ada@example.com", "password": "pw"},
    ),
    "auth.client_credentials": Route(
        lambda c: c.auth.client_credentials("cli_1", "sec"),
        "POST",
        "/v1/auth/token",
        tokens_json(refresh=None),
        TokenResponse,
        body={"grant_type": "client_credentials", "client_id": "cli_1", "client_secret": "sec"},
    ),
    "users.list_page": Route(
        lambda c: c.users.list_page(limit=3, site_id="site_1"),
        "GET",
        "/v1/users",
        page(user_json()),
        Page,
        params={"limit": "3", "site_id": "site_1"},
    ),
    "users.get": Route(lambda c: c.users.get("usr_1"), "GET", "/v1/users/usr_1", user_json(), User),
    "users.create": Route(
        lambda c: c.users.create(
            "ada@example.com", name="Ada", password="longpassword", role="admin", site_ids=["s1"]
        ),
        "POST",
        "/v1/users",
        user_json(),
        User,
        body={
            "email": "ada@example.com",
            "name": "Ada",
            "password": "longpassword",
            "role": "admin",
            "site_ids": ["s1"],
        },
        status=201,
    ),
    "users.create.defaults": Route(
        lambda c: c.users.create("ada@example.com"),
        "POST",
        "/v1/users",
        user_json(),
        User,
        body={"email": "ada@example.com", "role": "member", "site_ids": []},
        status=201,
    ),
    "users.promote": Route(
        lambda c: c.users.promote("usr_1"), "POST", "/v1/users/usr_1/promote", user_json(), User
    ),
    "users.demote": Route(
        lambda c: c.users.demote("usr_1"), "POST", "/v1/users/usr_1/demote", user_json(), User
    ),
    "users.add_sites": Route(
        lambda c: c.users.add_sites("usr_1", ["site_1", "site_2"]),
        "POST",
        "/v1/users/usr_1/sites",
        user_json(),
        User,
        body={"site_ids": ["site_1", "site_2"]},
    ),
    "users.remove_sites": Route(
        lambda c: c.users.remove_sites("usr_1", ("site_2",)),
        "POST",
        "/v1/users/usr_1/sites/remove",
        user_json(),
        User,
        body={"site_ids": ["site_2"]},
    ),
    "users.delete": Route(
        lambda c: c.users.delete("usr_1"),
        "DELETE",
        "/v1/users/usr_1",
        {"id": "usr_1", "deleted": True},
        Deleted,
    ),
    "sites.list_page": Route(
        lambda c: c.sites.list_page(), "GET", "/v1/sites", page(site_json()), Page
    ),
    "sites.get": Route(
        lambda c: c.sites.get("site_1"), "GET", "/v1/sites/site_1", site_json(), Site
    ),
    "sites.create": Route(
        lambda c: c.sites.create("Depot", description="North"),
        "POST",
        "/v1/sites",
        site_json(),
        Site,
        body={"name": "Depot", "description": "North"},
        status=201,
    ),
    "sites.update.name": Route(
        lambda c: c.sites.update("site_1", name="Depot 2"),
        "PATCH",
        "/v1/sites/site_1",
        site_json(),
        Site,
        body={"name": "Depot 2"},
    ),
    "sites.update.clear": Route(
        lambda c: c.sites.update("site_1", description=None),
        "PATCH",
        "/v1/sites/site_1",
        site_json(),
        Site,
        body={"description": None},
    ),
    "sites.update.nothing": Route(
        lambda c: c.sites.update("site_1", name=fleetyard.NOT_GIVEN),
        "PATCH",
        "/v1/sites/site_1",
        site_json(),
        Site,
        body={},
    ),
    "members.list_page": Route(
        lambda c: c.members("site_1").list_page(limit=1),
        "GET",
        "/v1/sites/site_1/members",
        page(MEMBER),
        Page,
        params={"limit": "1"},
    ),
    "members.add": Route(
        lambda c: c.members("site_1").add("usr_1"),
        "POST",
        "/v1/sites/site_1/members",
        MEMBER,
        SiteMember,
        body={"user_id": "usr_1", "role": "operator"},
        status=201,
    ),
    "members.remove": Route(
        lambda c: c.members("site_1").remove("usr_1"),
        "DELETE",
        "/v1/sites/site_1/members/usr_1",
        {"id": "usr_1", "deleted": True},
        Deleted,
    ),
}


def check(route: Route, api: FakeAPI, result: Any) -> None:
    assert len(api.requests) == 1
    request = api.last
    assert request.method == route.method
    assert request.url.path == route.path
    assert dict(request.url.params) == route.params
    if route.body is None:
        assert request.content == b""
    else:
        assert json.loads(request.content) == route.body
    assert isinstance(result, route.returns)
    assert isinstance(result, BaseModel)
    if route.returns is Page:
        assert len(result.items) == 1
        assert isinstance(result.items[0], BaseModel)


@pytest.mark.parametrize("name", list(ROUTES))
def test_sync_route(name: str, api: FakeAPI) -> None:
    route = ROUTES[name]
    api.reply(ok(route.answer, route.status))
    with make_client(api, [], api_key="fy_test_key") as c:
        result = route.call(c)
    check(route, api, result)


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(ROUTES))
async def test_async_route(name: str, api: FakeAPI) -> None:
    route = ROUTES[name]
    api.reply(ok(route.answer, route.status))
    async with make_async_client(api, [], api_key="fy_test_key") as c:
        pending = route.call(c)
        assert inspect.isawaitable(pending)
        result = await pending
    check(route, api, result)


def test_default_headers(client: fleetyard.Client, api: FakeAPI) -> None:
    api.reply(ok(site_json()))
    client.sites.get("site_1")
    headers = api.last.headers
    assert headers["Authorization"] == "Bearer fy_test_key"
    assert headers["User-Agent"] == f"fleetyard-python/{fleetyard.__version__}"
    assert headers["Fleetyard-Version"] == API_VERSION
    assert headers["Accept"] == "application/json"


def test_per_call_headers_query_and_timeout(client: fleetyard.Client, api: FakeAPI) -> None:
    api.reply(ok(site_json()), ok(site_json()))
    client.sites.get(
        "site_1", extra_headers={"X-Trace": "abc"}, extra_query={"expand": "org"}, timeout=2.5
    )
    first = api.last
    assert first.headers["X-Trace"] == "abc"
    assert first.url.params["expand"] == "org"
    assert first.extensions["timeout"] == httpx2.Timeout(2.5).as_dict()
    client.sites.get("site_1")
    assert api.last.extensions["timeout"] == httpx2.Timeout(30.0).as_dict()
    assert "X-Trace" not in api.last.headers


def test_client_timeout_and_no_timeout(api: FakeAPI) -> None:
    api.reply(ok(site_json()), ok(site_json()))
    with make_client(api, [], timeout=5.0) as c:
        c.sites.get("site_1")
        assert api.last.extensions["timeout"] == httpx2.Timeout(5.0).as_dict()
        c.sites.get("site_1", timeout=None)
        assert api.last.extensions["timeout"] == httpx2.Timeout(None).as_dict()


def test_base_url_with_a_path_prefix(api: FakeAPI) -> None:
    api.reply(ok(site_json()))
    with make_client(api, [], base_url="https://gw.example/fleetyard/") as c:
        c.sites.get("site_1")
    assert str(api.last.url) == "https://gw.example/fleetyard/v1/sites/site_1"


def test_no_credentials_no_authorization_header(api: FakeAPI) -> None:
    api.reply(ok({"status": "ok"}))
    with make_client(api, []) as c:
        c.system.health()
    assert "Authorization" not in api.last.headers


def test_ids_are_quoted_into_one_segment(client: fleetyard.Client, api: FakeAPI) -> None:
    api.reply(ok(site_json()))
    client.sites.get("../users/x?y")
    assert api.last.url.raw_path == b"/v1/sites/..%2Fusers%2Fx%3Fy"


def test_empty_ids_are_refused(client: fleetyard.Client) -> None:
    with pytest.raises(ValueError, match="site_id"):
        client.sites.get("")
    with pytest.raises(ValueError, match="site_id"):
        client.members("")


def test_a_single_string_is_not_a_list_of_scopes(client: fleetyard.Client) -> None:
    with pytest.raises(TypeError, match="scopes"):
        client.account.api_keys.create("ci", "site:*:read")
    with pytest.raises(TypeError, match="site_ids"):
        client.users.add_sites("usr_1", "site_1")


def test_http_client_is_borrowed_not_closed(api: FakeAPI) -> None:
    api.reply(ok(site_json()))
    http = httpx2.Client(transport=httpx2.MockTransport(api), headers={"X-Team": "ops"})
    with fleetyard.Client("fy_test_key", http_client=http) as c:
        c.sites.get("site_1")
    assert api.last.headers["X-Team"] == "ops"
    assert api.last.headers["Authorization"] == "Bearer fy_test_key"
    assert not http.is_closed
    http.close()


def test_owned_http_client_is_closed(api: FakeAPI) -> None:
    c = make_client(api, [])
    c.close()
    with pytest.raises(RuntimeError, match="closed"):
        c._http_client.send(httpx2.Request("GET", "http://x/"))


def test_transport_and_http_client_are_exclusive() -> None:
    with httpx2.Client() as http, pytest.raises(ValueError, match="not both"):
        fleetyard.Client(transport=httpx2.MockTransport(FakeAPI()), http_client=http)


def test_repr_shows_no_secret() -> None:
    with fleetyard.Client("fy_live_TOPSECRET") as c:
        assert "TOPSECRET" not in repr(c)
        assert "auth=api_key" in repr(c)


def test_resources_are_created_once(client: fleetyard.Client) -> None:
    assert client.sites is client.sites
    assert client.account.api_keys is client.account.api_keys
    assert client.members("site_1").site_id == "site_1"
