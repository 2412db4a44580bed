"""The SDK, sync and async, against the real app in-process (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx2
import pyotp
import pytest

from fleetyard import (
    AsyncClient,
    AuthenticationError,
    Client,
    ConflictError,
    IdempotencyKeyMismatchError,
    NotFoundError,
    PermissionDeniedError,
    TokenExpiredError,
    UnprocessableEntityError,
)
from tests.conftest import ADMIN_KEY
from tests.support.asgi import PortalASGITransport

BASE = "http://fleetyard.test"


@pytest.fixture
def admin(app_transport: PortalASGITransport) -> Iterator[Client]:
    with Client(api_key=ADMIN_KEY, base_url=BASE, transport=app_transport) as client:
        yield client


@pytest.fixture
async def async_admin(async_app_transport: httpx2.ASGITransport) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(
        api_key=ADMIN_KEY, base_url=BASE, transport=async_app_transport
    ) as client:
        yield client


def test_sites_users_members_and_pagination(admin: Client) -> None:
    sites = [admin.sites.create(f"site {n:02d}") for n in range(5)]
    pages = list(admin.sites.list(limit=2).pages())
    assert [len(p.items) for p in pages] == [2, 2, 1]
    assert [s.id for s in admin.sites.list(limit=2)] == [s.id for s in sites]

    updated = admin.sites.update(sites[0].id, description="north wing")
    assert (updated.name, updated.description) == ("site 00", "north wing")

    alice = admin.users.create(
        "alice@example.com", password="a long password", site_ids=[sites[0].id]
    )
    assert alice.site_ids == [sites[0].id]
    assert admin.users.promote(alice.id).role == "admin"
    assert admin.users.demote(alice.id).role == "member"
    assert admin.users.add_sites(alice.id, [sites[1].id]).site_ids == [sites[0].id, sites[1].id]
    assert admin.users.remove_sites(alice.id, [sites[0].id]).site_ids == [sites[1].id]
    assert [u.email for u in admin.users.list(site_id=sites[1].id)] == ["alice@example.com"]

    members = admin.members(sites[2].id)
    added = members.add(alice.id, role="viewer")
    assert (added.user_id, added.role) == (alice.id, "viewer")
    assert [m.user_id for m in members.list()] == [alice.id]
    assert members.remove(alice.id).deleted is True
    assert list(members.list()) == []

    with pytest.raises(ConflictError) as duplicate:
        admin.sites.create("site 00")
    assert duplicate.value.code == "already_exists"
    with pytest.raises(NotFoundError):
        admin.users.get("usr_missing")
    assert admin.users.delete(alice.id).deleted is True


def test_keys_scopes_and_rotation(admin: Client, app_transport: PortalASGITransport) -> None:
    site = admin.sites.create("Lisbon")
    created = admin.account.api_keys.create("reader", [f"site:{site.id}:read"])
    assert created.secret.startswith("fy_live_")
    with Client(api_key=created.secret, base_url=BASE, transport=app_transport) as reader:
        assert reader.sites.get(site.id).name == "Lisbon"
        with pytest.raises(PermissionDeniedError) as denied:
            reader.sites.create("Porto")
        assert denied.value.code == "scope_insufficient"

    rotated = admin.account.api_keys.rotate(created.id, grace_seconds=0)
    with Client(api_key=created.secret, base_url=BASE, transport=app_transport) as old:
        with pytest.raises(TokenExpiredError) as expired:
            old.account.whoami()
        assert getattr(expired.value, "code", None) == "token_expired"
    with Client(api_key=rotated.secret, base_url=BASE, transport=app_transport) as new:
        assert new.account.whoami().api_key_id == rotated.id
    assert admin.account.api_keys.revoke(rotated.id).revoked_at is not None


def test_password_login_totp_and_refresh(admin: Client, app_transport: PortalASGITransport) -> None:
    admin.users.create("bob@example.com", password="a long password", role="admin")
    with Client(base_url=BASE, transport=app_transport) as bob:
        tokens = bob.auth.login("bob@example.com", "a long password")
        assert tokens.refresh_token
        me = bob.account.whoami()
        assert me.user is not None
        assert me.user.email == "bob@example.com"

        setup = bob.account.totp.setup()
        assert bob.account.totp.confirm(pyotp.TOTP(setup.secret).now()).totp_enabled
        renewed = bob.auth.refresh()
        assert renewed.refresh_token != tokens.refresh_token
        bob.auth.logout()

    with Client(base_url=BASE, transport=app_transport) as again:
        with pytest.raises(AuthenticationError) as needs_code:
            again.auth.login("bob@example.com", "a long password")
        assert getattr(needs_code.value, "code", None) == "totp_required"
        again.auth.login("bob@example.com", "a long password", totp=pyotp.TOTP(setup.secret).now())
        assert again.account.whoami().user is not None


def test_service_client_credentials(admin: Client, app_transport: PortalASGITransport) -> None:
    site = admin.sites.create("Faro")
    service = admin.account.service_clients.create("billing", ["site:*:read"])
    with Client(
        base_url=BASE,
        transport=app_transport,
        client_id=service.id,
        client_secret=service.secret,
    ) as billing:
        assert [s.id for s in billing.sites.list()] == [site.id]
        assert billing.account.whoami().client_id == service.id


def test_idempotency_through_the_sdk(admin: Client) -> None:
    first = admin.with_raw_response.sites.create("Braga", idempotency_key="create-braga")
    again = admin.with_raw_response.sites.create("Braga", idempotency_key="create-braga")
    assert again.headers["idempotent-replayed"] == "true"
    assert again.parse().id == first.parse().id
    assert len(list(admin.sites.list())) == 1
    with pytest.raises(IdempotencyKeyMismatchError):
        admin.sites.create("Coimbra", idempotency_key="create-braga")


def test_bad_input_maps_to_typed_errors(admin: Client) -> None:
    with pytest.raises(UnprocessableEntityError) as invalid:
        admin.users.create("not-an-email")
    assert invalid.value.code == "validation_failed"
    assert invalid.value.problem is not None
    assert invalid.value.problem.errors
    raw = admin.http.get("/v1/system/info")
    assert raw.json()["database"] in ("sqlite", "postgresql")


@pytest.mark.anyio
async def test_async_twin_does_the_same(async_admin: AsyncClient) -> None:
    site = await async_admin.sites.create("Async site")
    assert [s.id async for s in async_admin.sites.list()] == [site.id]
    user = await async_admin.users.create("carol@example.com", site_ids=[site.id])
    members = [m.user_id async for m in async_admin.members(site.id).list()]
    assert members == [user.id]
    key = await async_admin.account.api_keys.create("async", ["site:*:read"])
    assert key.id in [k.id async for k in async_admin.account.api_keys.list()]
    me = await async_admin.account.whoami()
    assert me.scopes == ["*:*:admin"]
    with pytest.raises(NotFoundError):
        await async_admin.sites.get("site_missing")
    version = await async_admin.account.version()
    assert version.served == "2026-11-01"
