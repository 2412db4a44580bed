"""Access tokens: login, refresh before expiry and once on token_expired, client credentials."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import anyio.lowlevel
import httpx2
import pytest

import fleetyard
from fleetyard.protocol.identity import TokenResponse

from .fakes import FakeAPI, make_async_client, make_client, ok, problem, site_json, tokens_json

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def bearer(request: httpx2.Request) -> str | None:
    return request.headers.get("Authorization")


def test_401_token_expired_refreshes_once_and_retries(api: FakeAPI, sleeps: list[float]) -> None:
    seen: list[TokenResponse] = []
    api.reply(
        problem(401, "token_expired"),
        ok(tokens_json("at_2", "rt_2")),
        ok(site_json()),
    )
    with make_client(
        api, sleeps, access_token="at_1", refresh_token="rt_1", on_tokens=seen.append
    ) as c:
        site = c.sites.get("site_1")

    assert site.id == "site_1"
    first, refresh, retry = api.requests
    assert bearer(first) == "Bearer at_1"
    assert (refresh.method, refresh.url.path) == ("POST", "/v1/auth/refresh")
    assert json.loads(refresh.content) == {"refresh_token": "rt_1"}
    assert bearer(refresh) is None  # the refresh token in the body is the credential
    assert bearer(retry) == "Bearer at_2"
    assert [t.access_token for t in seen] == ["at_2"]
    assert sleeps == []


def test_the_rotated_refresh_token_is_used_next_time(api: FakeAPI, sleeps: list[float]) -> None:
    api.reply(
        problem(401, "token_expired"),
        ok(tokens_json("at_2", "rt_2")),
        ok(site_json()),
        problem(401, "token_expired"),
        ok(tokens_json("at_3", "rt_3")),
        ok(site_json()),
    )
    with make_client(api, sleeps, access_token="at_1", refresh_token="rt_1") as c:
        c.sites.get("site_1")
        c.sites.get("site_1")
    assert json.loads(api.requests[4].content) == {"refresh_token": "rt_2"}
    assert bearer(api.requests[5]) == "Bearer at_3"


def test_a_second_token_expired_is_raised(api: FakeAPI, sleeps: list[float]) -> None:
    api.reply(problem(401, "token_expired"), ok(tokens_json()), problem(401, "token_expired"))
    with (
        make_client(api, sleeps, access_token="at_1", refresh_token="rt_1") as c,
        pytest.raises(fleetyard.TokenExpiredError),
    ):
        c.sites.get("site_1")
    assert len(api.requests) == 3


def test_without_a_refresh_token_the_error_surfaces(api: FakeAPI, sleeps: list[float]) -> None:
    api.reply(problem(401, "token_expired"))
    with (
        make_client(api, sleeps, access_token="at_1") as c,
        pytest.raises(fleetyard.TokenExpiredError),
    ):
        c.sites.get("site_1")
    assert len(api.requests) == 1


def test_api_keys_are_never_refreshed(client: fleetyard.Client, api: FakeAPI) -> None:
    api.reply(problem(401, "token_expired"))
    with pytest.raises(fleetyard.TokenExpiredError):
        client.sites.get("site_1")
    assert len(api.requests) == 1


def test_other_401s_do_not_refresh(api: FakeAPI, sleeps: list[float]) -> None:
    api.reply(problem(401, "unauthenticated"))
    with (
        make_client(api, sleeps, access_token="at_1", refresh_token="rt_1") as c,
        pytest.raises(fleetyard.AuthenticationError) as caught,
    ):
        c.sites.get("site_1")
    assert not isinstance(caught.value, fleetyard.TokenExpiredError)
    assert len(api.requests) == 1


def test_a_failed_refresh_raises_its_own_error(api: FakeAPI, sleeps: list[float]) -> None:
    api.reply(problem(401, "token_expired"), problem(401, "invalid_refresh_token"))
    with (
        make_client(api, sleeps, access_token="at_1", refresh_token="rt_1") as c,
        pytest.raises(fleetyard.AuthenticationError) as caught,
    ):
        c.sites.get("site_1")
    assert caught.value.code == "invalid_refresh_token"


def test_refreshes_shortly_before_expiry(api: FakeAPI, sleeps: list[float]) -> None:
    clock = Clock()
    api.route("GET", "/v1/sites/site_1", ok(site_json()))
    api.route("POST", "/v1/auth/login", ok(tokens_json("at_1", "rt_1", expires_in=300)))
    api.route("POST", "/v1/auth/refresh", ok(tokens_json("at_2", "rt_2", expires_in=300)))
    with make_client(api, sleeps) as c:
        c._now = clock
        c.auth.login("ada@example.com", "pw")
        clock.now = NOW + timedelta(seconds=260)  # 40 s left: still fine
        c.sites.get("site_1")
        clock.now = NOW + timedelta(seconds=275)  # 25 s left: renew first
        c.sites.get("site_1")
    paths = [r.url.path for r in api.requests]
    assert paths == [
        "/v1/auth/login",
        "/v1/sites/site_1",
        "/v1/auth/refresh",
        "/v1/sites/site_1",
    ]
    assert bearer(api.requests[1]) == "Bearer at_1"
    assert bearer(api.requests[3]) == "Bearer at_2"


def test_expired_profile_tokens_refresh_before_the_first_call(
    isolated_env: Path, api: FakeAPI, sleeps: list[float]
) -> None:
    isolated_env.parent.mkdir(parents=True)
    isolated_env.write_text(
        '[profiles.default]\naccess_token = "at_old"\n'
        'access_expires_at = "2026-11-24T11:00:00.000Z"\nrefresh_token = "rt_old"\n'
    )
    api.reply(ok(tokens_json("at_new", "rt_new")), ok(site_json()))
    with make_client(api, sleeps) as c:
        c._now = Clock()
        c.sites.get("site_1")
    assert api.requests[0].url.path == "/v1/auth/refresh"
    assert bearer(api.requests[1]) == "Bearer at_new"


def test_login_switches_the_client_to_the_user(client: fleetyard.Client, api: FakeAPI) -> None:
    api.reply(ok(tokens_json("at_user", "rt_user")), ok(site_json()))
    tokens = client.auth.login("ada@example.com", "pw", totp="123456")
    client.sites.get("site_1")
    login, call = api.requests
    assert json.loads(login.content) == {
        "email": "ada@example.com",
        "password": "pw",
        "totp": "123456",
    }
    assert bearer(login) is None
    assert tokens.refresh_token == "rt_user"
    assert bearer(call) == "Bearer at_user"  # no longer the API key


def test_refresh_and_logout(api: FakeAPI, sleeps: list[float]) -> None:
    seen: list[TokenResponse] = []
    api.reply(ok(tokens_json("at_2", "rt_2")), httpx2.Response(204), ok(site_json()))
    with make_client(
        api, sleeps, access_token="at_1", refresh_token="rt_1", on_tokens=seen.append
    ) as c:
        assert c.auth.refresh().access_token == "at_2"
        assert c.auth.logout() is None
        c.sites.get("site_1")
        with pytest.raises(fleetyard.FleetyardError, match="refresh token"):
            c.auth.logout()
        with pytest.raises(fleetyard.FleetyardError, match="refresh token"):
            c.auth.refresh()
    refresh, logout, after = api.requests
    assert json.loads(refresh.content) == {"refresh_token": "rt_1"}
    assert json.loads(logout.content) == {"refresh_token": "rt_2"}
    assert bearer(logout) == "Bearer at_2"
    assert bearer(after) is None
    assert [t.access_token for t in seen] == ["at_2"]


def test_client_credentials_are_fetched_lazily_and_again_on_expiry(
    api: FakeAPI, sleeps: list[float]
) -> None:
    clock = Clock()
    api.route("GET", "/v1/sites/site_1", ok(site_json()))
    api.reply(
        ok(tokens_json("at_svc_1", None, expires_in=600)),
        ok(site_json()),
        ok(tokens_json("at_svc_2", None, expires_in=600)),
    )
    with make_client(api, sleeps, client_id="cli_1", client_secret="s3cret") as c:
        c._now = clock
        assert api.requests == []
        c.sites.get("site_1")
        clock.now = NOW + timedelta(seconds=590)
        c.sites.get("site_1")
    grant = json.loads(api.requests[0].content)
    assert grant == {
        "grant_type": "client_credentials",
        "client_id": "cli_1",
        "client_secret": "s3cret",
    }
    assert [r.url.path for r in api.requests] == [
        "/v1/auth/token",
        "/v1/sites/site_1",
        "/v1/auth/token",
        "/v1/sites/site_1",
    ]
    assert bearer(api.requests[3]) == "Bearer at_svc_2"


def test_client_credentials_grant_by_call(client: fleetyard.Client, api: FakeAPI) -> None:
    api.reply(
        ok(tokens_json("at_svc", None)),
        problem(401, "token_expired"),
        ok(tokens_json("at_svc_2", None)),
        ok(site_json()),
    )
    client.auth.client_credentials("cli_1", "s3cret")
    client.sites.get("site_1")
    assert [r.url.path for r in api.requests] == [
        "/v1/auth/token",
        "/v1/sites/site_1",
        "/v1/auth/token",
        "/v1/sites/site_1",
    ]
    assert bearer(api.requests[3]) == "Bearer at_svc_2"


@pytest.mark.anyio
async def test_concurrent_calls_refresh_once(api: FakeAPI, sleeps: list[float]) -> None:
    refreshes: list[str] = []

    async def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/v1/auth/refresh":
            refreshes.append(json.loads(request.content)["refresh_token"])
            await anyio.sleep(0.01)  # let the other calls pile up on the lock
            return ok(tokens_json("at_2", "rt_2"))
        if request.headers["Authorization"] == "Bearer at_1":
            await anyio.lowlevel.checkpoint()
            return problem(401, "token_expired")
        return ok(site_json())

    transport = httpx2.MockTransport(handler)
    async with fleetyard.AsyncClient(
        access_token="at_1", refresh_token="rt_1", transport=transport
    ) as c:
        results: list[str] = []

        async def call() -> None:
            results.append((await c.sites.get("site_1")).id)

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(call)
    assert results == ["site_1"] * 5
    assert refreshes == ["rt_1"]


@pytest.mark.anyio
async def test_async_login_and_refresh_on_401(api: FakeAPI, sleeps: list[float]) -> None:
    seen: list[TokenResponse] = []
    api.reply(
        ok(tokens_json("at_1", "rt_1")),
        problem(401, "token_expired"),
        ok(tokens_json("at_2", "rt_2")),
        ok(site_json()),
    )
    async with make_async_client(api, sleeps, on_tokens=seen.append) as c:
        await c.auth.login("ada@example.com", "pw")
        await c.sites.get("site_1")
    assert [t.access_token for t in seen] == ["at_1", "at_2"]
    assert bearer(api.requests[3]) == "Bearer at_2"


def test_logout_renews_first_so_the_body_names_the_live_refresh_token(
    api: FakeAPI, sleeps: list[float]
) -> None:
    clock = Clock()
    api.reply(
        ok(tokens_json("at_1", "rt_1", expires_in=60)),
        ok(tokens_json("at_2", "rt_2", expires_in=60)),
        httpx2.Response(204),
    )
    with make_client(api, sleeps) as c:
        c._now = clock
        c.auth.login("ada@example.com", "pw")
        clock.now = NOW + timedelta(seconds=50)
        c.auth.logout()
    _login, refresh, logout = api.requests
    assert refresh.url.path == "/v1/auth/refresh"
    assert json.loads(logout.content) == {"refresh_token": "rt_2"}
    assert bearer(logout) == "Bearer at_2"


def test_logout_after_an_early_token_expired(api: FakeAPI, sleeps: list[float]) -> None:
    api.reply(
        problem(401, "token_expired"),
        ok(tokens_json("at_2", "rt_2")),
        httpx2.Response(204),
    )
    with make_client(api, sleeps, access_token="at_1", refresh_token="rt_1") as c:
        c.auth.logout()
        assert c._credentials.kind == "none"
    first, refresh, second = api.requests
    assert json.loads(first.content) == {"refresh_token": "rt_1"}
    assert json.loads(refresh.content) == {"refresh_token": "rt_1"}
    assert json.loads(second.content) == {"refresh_token": "rt_2"}
    assert bearer(second) == "Bearer at_2"
    # A new body is a new request: it must not reuse the first attempt's key.
    assert first.headers["Idempotency-Key"] != second.headers["Idempotency-Key"]
