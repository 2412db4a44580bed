"""Organisations, users, sites, members, API keys and tokens on the wire."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from fleetyard.protocol.common import RequestModel, ResponseModel, Timestamp
from fleetyard.protocol.scopes import ScopeError, parse_scopes

Name = Field(min_length=1, max_length=200)

_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$")


def _encodable(value: str) -> bool:
    # Lone surrogates ("\ud800") survive JSON decoding but no database can store them.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_email(value: str) -> str:
    # A light check on purpose: the real proof of an address is a delivered invite.
    if len(value) > 320 or not _EMAIL.match(value) or not _encodable(value):
        raise ValueError("not an email address")
    return value.lower()


EmailStr = Annotated[str, AfterValidator(_check_email)]


def _check_text(value: str) -> str:
    # NUL cannot be stored in PostgreSQL text; refusing it here keeps it a 422.
    if "\x00" in value or not _encodable(value):
        raise ValueError("must not contain NUL characters or lone surrogates")
    return value


Text = Annotated[str, AfterValidator(_check_text)]
"""Free text (names, descriptions) as the server can store it."""

ResourceId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
"""An id sent in a body (``site_ids``, ``user_id``)."""


def _check_scopes(value: list[str]) -> list[str]:
    try:
        parse_scopes(value)
    except ScopeError as exc:
        raise ValueError(str(exc)) from exc
    return value


class UserRole(StrEnum):
    """``admin`` manages the organisation; ``member`` works in its assigned sites."""

    ADMIN = "admin"
    MEMBER = "member"


class KeyEnvironment(StrEnum):
    """``live`` keys start with ``fy_live_``, ``test`` keys with ``fy_test_``."""

    LIVE = "live"
    TEST = "test"


class Organization(ResponseModel):
    """A tenant: every other resource belongs to exactly one."""

    id: str
    name: str
    created_at: Timestamp


class User(ResponseModel):
    """A person who logs in. ``site_ids`` are the sites they are a member of."""

    id: str
    org_id: str
    email: str
    name: str | None = None
    role: UserRole
    totp_enabled: bool = False
    site_ids: list[str] = []
    created_at: Timestamp


class UserCreate(RequestModel):
    """Create (invite) a user. Without a password, the user cannot log in yet."""

    email: EmailStr
    name: Text | None = Field(default=None, max_length=200)
    password: str | None = Field(default=None, min_length=8, max_length=200)
    role: UserRole = UserRole.MEMBER
    site_ids: list[ResourceId] = Field(default=[], max_length=1000)


class UserSites(RequestModel):
    """Sites to add a user to, or to remove them from."""

    site_ids: list[ResourceId] = Field(min_length=1, max_length=1000)


class Site(ResponseModel):
    """A group of machines inside an organisation (a building, a customer, a line)."""

    id: str
    org_id: str
    name: str
    description: str | None = None
    created_at: Timestamp
    updated_at: Timestamp


class SiteCreate(RequestModel):
    name: Text = Name
    description: Text | None = Field(default=None, max_length=2000)


class SiteUpdate(RequestModel):
    name: Text | None = Field(default=None, min_length=1, max_length=200)
    description: Text | None = Field(default=None, max_length=2000)


class MemberRole(StrEnum):
    """What a member may do in a site."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    MANAGER = "manager"


class SiteMember(ResponseModel):
    site_id: str
    user_id: str
    email: str
    role: MemberRole
    added_at: Timestamp


class MemberAdd(RequestModel):
    user_id: ResourceId
    role: MemberRole = MemberRole.OPERATOR


class ApiKey(ResponseModel):
    """An API key as listed: never the secret, only its first characters."""

    id: str
    name: str
    prefix: str
    environment: KeyEnvironment
    scopes: list[str]
    created_at: Timestamp
    expires_at: Timestamp | None = None
    last_used_at: Timestamp | None = None
    revoked_at: Timestamp | None = None
    rotated_to: str | None = None


class ApiKeyCreated(ApiKey):
    """The answer to create and rotate: the only time ``secret`` is shown."""

    secret: str


class ApiKeyCreate(RequestModel):
    name: Text = Name
    scopes: list[str] = Field(min_length=1, max_length=100)
    environment: KeyEnvironment = KeyEnvironment.LIVE
    expires_at: Timestamp | None = None

    _scopes = field_validator("scopes")(_check_scopes)


class ApiKeyRotate(RequestModel):
    """Rotate a key: the old one keeps working for ``grace_seconds`` (24 h by default)."""

    grace_seconds: int = Field(default=86_400, ge=0, le=30 * 86_400)


class Principal(ResponseModel):
    """Who is calling: the answer of ``GET /v1/account``."""

    kind: str
    org: Organization
    user: User | None = None
    api_key_id: str | None = None
    client_id: str | None = None
    scopes: list[str]


class ApiVersionInfo(ResponseModel):
    """The API version a request was served with and the versions this server knows."""

    requested: str | None
    served: str
    supported: list[str]


class LoginRequest(RequestModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=200)
    totp: str | None = Field(default=None, pattern=r"^[0-9]{6}$")


class RefreshRequest(RequestModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class LogoutRequest(RequestModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class ClientCredentialsRequest(RequestModel):
    grant_type: str = Field(default="client_credentials", pattern="^client_credentials$")
    client_id: str = Field(min_length=1, max_length=200)
    client_secret: str = Field(min_length=1, max_length=200)


class TokenResponse(ResponseModel):
    """Tokens from a login, a refresh or a client-credentials grant."""

    access_token: str
    token_type: str = "Bearer"  # noqa: S105
    expires_in: int
    expires_at: Timestamp
    refresh_token: str | None = None
    refresh_expires_at: Timestamp | None = None


class ServiceClient(ResponseModel):
    """A service identity that trades its id and secret for access tokens."""

    id: str
    name: str
    scopes: list[str]
    created_at: Timestamp
    revoked_at: Timestamp | None = None


class ServiceClientCreated(ServiceClient):
    secret: str


class ServiceClientCreate(RequestModel):
    name: Text = Name
    scopes: list[str] = Field(min_length=1, max_length=100)

    _scopes = field_validator("scopes")(_check_scopes)


class TotpSetup(ResponseModel):
    """A new TOTP secret: confirm it with a code to turn two-factor on."""

    secret: str
    otpauth_uri: str


class TotpConfirm(RequestModel):
    code: str = Field(pattern=r"^[0-9]{6}$")
