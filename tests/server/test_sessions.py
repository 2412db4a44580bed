"""Logins, refresh-token rotation and reuse detection, logout, TOTP, client credentials."""

from __future__ import annotations

import anyio
import httpx2
import pyotp
import pytest
import sqlalchemy as sa

from fleetyard.server.storage.tables import access_tokens
from tests.conftest import ADMIN_KEY
from tests.server.conftest import ClientFor
from tests.server.helpers import (
    PASSWORD,
    execute,
    login,
    make_site,
    make_user,
    ok,
    problem,
)

ANONYMOUS = {"Authorization": ""}


def test_login_gives_tokens_that_act_as_the_user(
    http: httpx2.Client, client_for: ClientFor
) -> None:
    site = make_site(http, "north")
    user = make_user(http, "Ada@Example.com", site_ids=[site["id"]])
    assert user["email"] == "ada@example.com"
    tokens = login(http, "ada@example.com")
    assert tokens["token_type"] == "Bearer"
    assert tokens["access_token"].startswith("fya_")
    assert tokens["refresh_token"].startswith("fyr_")
    assert tokens["expires_in"] == 900
    me = ok(client_for(tokens["access_token"]).get("/v1/account"))
    assert me["kind"] == "user"
    assert me["user"]["id"] == user["id"]
    assert me["scopes"] == [f"site:{site['id']}:write", "key:*:read", "key:*:write"]


def test_wrong_email_and_wrong_password_get_the_same_answer(http: httpx2.Client) -> None:
    make_user(http, "bob@example.com")
    make_user(http, "nopass@example.com", password=None)
    answers = [
        problem(
            http.post("/v1/auth/login", json={"email": email, "password": pw}, headers=ANONYMOUS),
            401,
            "invalid_credentials",
        )
        for email, pw in [
            ("bob@example.com", "wrong password"),
            ("nobody@example.com", PASSWORD),
            ("nopass@example.com", PASSWORD),
        ]
    ]
    assert len({a["detail"] for a in answers}) == 1


def test_refresh_rotates_and_reuse_revokes_the_family(
    http: httpx2.Client, client_for: ClientFor
) -> None:
    make_user(http, "carol@example.com")
    first = login(http, "carol@example.com")
    second = ok(
        http.post(
            "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}, headers=ANONYMOUS
        )
    )
    assert second["refresh_token"] != first["refresh_token"]
    third = ok(
        http.post(
            "/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}, headers=ANONYMOUS
        )
    )
    assert ok(client_for(third["access_token"]).get("/v1/account"))["kind"] == "user"
    other_login = login(http, "carol@example.com")

    # The spent first token comes back: someone holds a copy. The whole login is revoked.
    problem(
        http.post(
            "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}, headers=ANONYMOUS
        ),
        401,
        "invalid_refresh_token",
    )
    problem(
        http.post(
            "/v1/auth/refresh", json={"refresh_token": third["refresh_token"]}, headers=ANONYMOUS
        ),
        401,
        "invalid_refresh_token",
    )
    for access in (first, second, third):
        problem(client_for(access["access_token"]).get("/v1/account"), 401, "unauthenticated")
    # Another login of the same user is another family and keeps working.
    assert ok(client_for(other_login["access_token"]).get("/v1/account"))["kind"] == "user"


def test_unknown_refresh_token_is_invalid(http: httpx2.Client) -> None:
    problem(
        http.post("/v1/auth/refresh", json={"refresh_token": "fyr_nope"}, headers=ANONYMOUS),
        401,
        "invalid_refresh_token",
    )


def test_logout_revokes_the_login(http: httpx2.Client, client_for: ClientFor) -> None:
    make_user(http, "dan@example.com")
    tokens = login(http, "dan@example.com")
    user_client = client_for(tokens["access_token"])
    response = user_client.post("/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 204
    assert response.content == b""
    problem(user_client.get("/v1/account"), 401, "unauthenticated")
    problem(
        http.post(
            "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, headers=ANONYMOUS
        ),
        401,
        "invalid_refresh_token",
    )
    # Logging out again, or with a token nobody knows, is not an error.
    assert http.post("/v1/auth/logout", json={"refresh_token": "fyr_x"}).status_code == 204


def test_an_expired_access_token_is_token_expired(
    http: httpx2.Client, client_for: ClientFor, database_url: str
) -> None:
    make_user(http, "eve@example.com")
    tokens = login(http, "eve@example.com")
    execute(database_url, sa.update(access_tokens).values(expires_at=1))
    body = problem(client_for(tokens["access_token"]).get("/v1/account"), 401, "token_expired")
    assert "expired" in body["detail"]


def test_missing_or_malformed_authorization_is_401_with_a_challenge(
    client_for: ClientFor,
) -> None:
    anonymous = client_for(None)
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}):
        response = anonymous.get("/v1/account", headers=headers)
        problem(response, 401, "unauthenticated")
        assert response.headers["www-authenticate"].startswith("Bearer")
    problem(client_for("not-a-token").get("/v1/account"), 401, "unauthenticated")
    problem(client_for("fy_live_" + "x" * 40).get("/v1/account"), 401, "unauthenticated")


def test_totp_setup_confirm_login_and_disable(http: httpx2.Client, client_for: ClientFor) -> None:
    make_user(http, "fay@example.com")
    fay = client_for(login(http, "fay@example.com")["access_token"])
    setup = ok(fay.post("/v1/account/totp"))
    assert setup["otpauth_uri"].startswith("otpauth://totp/Fleetyard:fay%40example.com?")
    totp = pyotp.TOTP(setup["secret"])
    wrong = "000000" if totp.now() != "000000" else "111111"
    problem(fay.post("/v1/account/totp/confirm", json={"code": wrong}), 422, "invalid_totp")
    # Not confirmed yet: logging in needs no code.
    login(http, "fay@example.com")
    assert ok(fay.post("/v1/account/totp/confirm", json={"code": totp.now()}))["totp_enabled"]
    problem(fay.post("/v1/account/totp"), 409, "conflict")

    def attempt(**extra: str) -> httpx2.Response:
        body = {"email": "fay@example.com", "password": PASSWORD, **extra}
        return http.post("/v1/auth/login", json=body, headers=ANONYMOUS)

    problem(attempt(), 401, "totp_required")
    problem(attempt(totp=wrong), 401, "invalid_totp")
    problem(
        http.post(
            "/v1/auth/login",
            json={"email": "fay@example.com", "password": "bad password", "totp": totp.now()},
            headers=ANONYMOUS,
        ),
        401,
        "invalid_credentials",
    )
    fay = client_for(ok(attempt(totp=totp.now()))["access_token"])
    assert ok(fay.delete("/v1/account/totp"))["totp_enabled"] is False
    ok(attempt())


def test_totp_belongs_to_users_not_keys(http: httpx2.Client) -> None:
    problem(http.post("/v1/account/totp"), 400, "bad_request")
    problem(http.delete("/v1/account/totp"), 400, "bad_request")


def test_client_credentials_grant(http: httpx2.Client, client_for: ClientFor) -> None:
    site = make_site(http, "plant")
    created = ok(
        http.post(
            "/v1/account/service-clients",
            json={"name": "etl", "scopes": [f"site:{site['id']}:read"]},
        ),
        201,
    )
    assert created["id"].startswith("cli_")
    assert created["secret"].startswith("fys_")
    listed = ok(http.get("/v1/account/service-clients"))["items"]
    assert [c["id"] for c in listed] == [created["id"]]
    assert "secret" not in listed[0]

    def grant(secret: str, client_id: str = created["id"]) -> httpx2.Response:
        body = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        return http.post("/v1/auth/token", json=body, headers=ANONYMOUS)

    tokens = ok(grant(created["secret"]))
    assert tokens["refresh_token"] is None
    service = client_for(tokens["access_token"])
    me = ok(service.get("/v1/account"))
    assert (me["kind"], me["client_id"], me["scopes"]) == (
        "service_client",
        created["id"],
        [f"site:{site['id']}:read"],
    )
    assert ok(service.get(f"/v1/sites/{site['id']}"))["name"] == "plant"
    problem(service.patch(f"/v1/sites/{site['id']}", json={"name": "x"}), 403, "scope_insufficient")

    problem(grant("fys_wrong"), 401, "invalid_credentials")
    problem(grant(created["secret"], client_id="cli_unknown"), 401, "invalid_credentials")
    problem(grant(created["secret"], client_id="cli\u0000"), 401, "invalid_credentials")
    problem(
        http.post(
            "/v1/auth/token",
            json={"grant_type": "password", "client_id": "a", "client_secret": "b"},
            headers=ANONYMOUS,
        ),
        422,
        "validation_failed",
    )

    revoked = ok(http.delete(f"/v1/account/service-clients/{created['id']}"))
    assert revoked["revoked_at"] is not None
    problem(service.get("/v1/account"), 401, "unauthenticated")
    problem(grant(created["secret"]), 401, "invalid_credentials")


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": "x"},
        {"email": "a@b.co", "password": ""},
        {"email": "a@b.co", "password": "x", "totp": "12ab56"},
        {"email": "a@b.co", "password": "x", "extra": 1},
    ],
)
def test_malformed_logins_are_422(http: httpx2.Client, body: dict[str, str]) -> None:
    response = http.post("/v1/auth/login", json=body, headers=ANONYMOUS)
    assert problem(response, 422, "validation_failed")["errors"]


@pytest.mark.anyio
async def test_concurrent_refreshes_of_one_token_let_exactly_one_win(
    async_app_transport: httpx2.ASGITransport,
) -> None:
    async with httpx2.AsyncClient(
        transport=async_app_transport,
        base_url="http://fleetyard.test",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as client:
        created = await client.post(
            "/v1/users", json={"email": "race@example.com", "password": PASSWORD}
        )
        assert created.status_code == 201
        tokens = (
            await client.post(
                "/v1/auth/login", json={"email": "race@example.com", "password": PASSWORD}
            )
        ).json()
        statuses: list[int] = []

        async def refresh() -> None:
            response = await client.post(
                "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
            )
            statuses.append(response.status_code)

        async with anyio.create_task_group() as group:
            for _ in range(4):
                group.start_soon(refresh)
        assert sorted(statuses) == [200, 401, 401, 401]
