"""Helpers for API tests: credentials with chosen scopes, users who log in, a second tenant."""

from __future__ import annotations

from typing import Any

import anyio
import httpx2

from fleetyard.protocol.ids import new_id
from fleetyard.server.services import security
from fleetyard.server.services.clock import now_ms
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import api_keys, orgs, sites, users

PASSWORD = "correct horse battery"


def ok(response: httpx2.Response, status: int = 200) -> Any:
    """The JSON body, after checking the status (the body is in the failure message)."""
    assert response.status_code == status, response.text
    return response.json()


def problem(response: httpx2.Response, status: int, code: str) -> dict[str, Any]:
    """The problem document, after checking its status, content type and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


def make_key(http: httpx2.Client, scopes: list[str], name: str = "test key") -> dict[str, Any]:
    """A new API key (as created, with ``secret``) made by ``http``'s credential."""
    created: dict[str, Any] = ok(
        http.post("/v1/account/api-keys", json={"name": name, "scopes": scopes}), 201
    )
    return created


def make_user(
    http: httpx2.Client,
    email: str,
    *,
    role: str = "member",
    site_ids: list[str] | None = None,
    password: str | None = PASSWORD,
) -> dict[str, Any]:
    body: dict[str, Any] = {"email": email, "role": role, "site_ids": site_ids or []}
    if password is not None:
        body["password"] = password
    user: dict[str, Any] = ok(http.post("/v1/users", json=body), 201)
    return user


def make_site(http: httpx2.Client, name: str) -> dict[str, Any]:
    site: dict[str, Any] = ok(http.post("/v1/sites", json={"name": name}), 201)
    return site


def login(http: httpx2.Client, email: str, password: str = PASSWORD, **extra: Any) -> Any:
    return ok(
        http.post(
            "/v1/auth/login",
            json={"email": email, "password": password, **extra},
            headers={"Authorization": ""},
        )
    )


async def _create_org(database_url: str, name: str) -> dict[str, str]:
    database = Database(database_url)
    now = now_ms()
    key = security.new_api_key("test")
    ids = {
        "org_id": new_id("org"),
        "user_id": new_id("usr"),
        "site_id": new_id("site"),
        "key_id": new_id("key"),
    }
    try:
        async with database.begin() as conn:
            await orgs.insert(conn, org_id=ids["org_id"], name=name, now_ms=now)
            await users.insert(
                conn,
                org_id=ids["org_id"],
                user_id=ids["user_id"],
                email=f"admin@{name}.example",
                name=None,
                role=users.ADMIN,
                password_hash=None,
                now_ms=now,
            )
            await sites.insert(
                conn,
                org_id=ids["org_id"],
                site_id=ids["site_id"],
                name="their site",
                description=None,
                now_ms=now,
            )
            await api_keys.insert(
                conn,
                org_id=ids["org_id"],
                key_id=ids["key_id"],
                user_id=None,
                name="their admin",
                prefix=security.display_prefix(key),
                secret_hash=security.hash_secret(key),
                environment="test",
                scopes=["*:*:admin"],
                expires_at=None,
                now_ms=now,
            )
    finally:
        await database.dispose()
    return {**ids, "key": key}


def create_other_org(database_url: str, name: str = "other") -> dict[str, str]:
    """A second organisation made straight in storage: its ids and an admin key (``key``)."""
    return anyio.run(_create_org, database_url, name)


async def _execute(database_url: str, statement: Any) -> None:
    database = Database(database_url)
    try:
        async with database.begin() as conn:
            await conn.execute(statement)
    finally:
        await database.dispose()


def execute(database_url: str, statement: Any) -> None:
    """Run one SQLAlchemy statement against the test database (to age tokens and the like)."""
    anyio.run(_execute, database_url, statement)
