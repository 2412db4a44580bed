"""Test doubles for the CLI: SDK errors as the SDK raises them, and model factories."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from unittest.mock import MagicMock

import httpx2

from fleetyard.cli.session import ClientOptions
from fleetyard.protocol.errors import Problem
from fleetyard.protocol.identity import (
    ApiKey,
    ApiKeyCreated,
    Organization,
    Principal,
    Site,
    SiteMember,
    TokenResponse,
    User,
)
from fleetyard.protocol.system import SystemInfo
from fleetyard.protocol.telemetry import Agent, Aggregate, Channel, Message, PublishAck
from fleetyard.sdk._exceptions import APIConnectionError, APIStatusError, error_from_response

T0 = datetime(2026, 11, 2, 9, 30, 15, 123000, tzinfo=UTC)
URL = "http://yard.test"
ORG = Organization(id="org_1", name="Acme", created_at=T0)


@dataclass
class FakeSDK:
    """The fake client and the options of every client the CLI asked for."""

    client: MagicMock = field(default_factory=lambda: MagicMock(name="Client"))
    options: list[ClientOptions] = field(default_factory=list)


def api_error(
    status: int, code: str, detail: str, *, request_id: str | None = "req_42", **extra: object
) -> APIStatusError:
    """The exception the SDK raises for a problem+json answer."""
    problem = Problem.build(status, code, title=code.replace("_", " "), detail=detail, **extra)
    problem.request_id = request_id
    response = httpx2.Response(
        status,
        json=problem.model_dump(mode="json", exclude_none=True),
        headers={"X-Request-Id": request_id} if request_id else {},
        request=httpx2.Request("GET", f"{URL}/v1/x"),
    )
    return error_from_response(response)


def connection_error(reason: str = "[Errno 111] Connection refused") -> APIConnectionError:
    request = httpx2.Request("GET", f"{URL}/v1/sites")
    exc = APIConnectionError(request=request)
    exc.__cause__ = httpx2.ConnectError(reason, request=request)
    return exc


def site(n: int = 1, name: str = "Berlin", description: str | None = "Main depot") -> Site:
    return Site(
        id=f"site_{n}",
        org_id="org_1",
        name=name,
        description=description,
        created_at=T0,
        updated_at=T0,
    )


def user(n: int = 1, email: str = "ada@acme.test", **kw: object) -> User:
    data: dict[str, object] = {
        "id": f"usr_{n}",
        "org_id": "org_1",
        "email": email,
        "name": "Ada",
        "role": "member",
        "site_ids": ["site_1"],
        "created_at": T0,
    }
    return User.model_validate({**data, **kw})


def member(user_id: str = "usr_1", role: str = "operator") -> SiteMember:
    return SiteMember.model_validate(
        {
            "site_id": "site_1",
            "user_id": user_id,
            "email": "ada@acme.test",
            "role": role,
            "added_at": T0,
        }
    )


def api_key(**kw: object) -> ApiKey:
    data: dict[str, object] = {
        "id": "key_1",
        "name": "ci",
        "prefix": "fy_live_abcd",
        "environment": "live",
        "scopes": ["site:*:read"],
        "created_at": T0,
    }
    return ApiKey.model_validate({**data, **kw})


def created_key(**kw: object) -> ApiKeyCreated:
    return ApiKeyCreated.model_validate(
        {**api_key(**kw).model_dump(), "secret": "fy_live_SECRETSECRET"}
    )


def principal(*, with_user: bool = True) -> Principal:
    return Principal(
        kind="user" if with_user else "api_key",
        org=ORG,
        user=user(role="admin") if with_user else None,
        api_key_id=None if with_user else "key_1",
        scopes=["*:*:admin"],
    )


def tokens(refresh: str | None = "refresh-SECRET") -> TokenResponse:
    return TokenResponse(
        access_token="access-SECRET",
        expires_in=900,
        expires_at=T0,
        refresh_token=refresh,
    )


def system_info() -> SystemInfo:
    return SystemInfo(
        version="0.1.0",
        api_version="2026-11-01",
        database="sqlite",
        uptime_seconds=93_784.5,
        dev_mode=True,
    )


def agent(n: int = 1, name: str = "pump-7", **kw: object) -> Agent:
    data: dict[str, object] = {
        "id": f"agt_{n}",
        "org_id": "org_1",
        "site_id": "site_1",
        "name": name,
        "kind": "device",
        "labels": {"line": "3", "zone": "a"},
        "metadata": {},
        "online": True,
        "last_seen": T0,
        "created_at": T0,
        "updated_at": T0,
    }
    return Agent.model_validate({**data, **kw})


def channel(n: int = 1, name: str = "status", **kw: object) -> Channel:
    kind = {"#": "processor", "!": "task"}.get(name[:1], "channel")
    data: dict[str, object] = {
        "id": f"ch_{n}",
        "org_id": "org_1",
        "agent_id": "agt_1",
        "name": name,
        "kind": kind,
        "last_seq": 42,
        "aggregate_version": 40,
        "aggregate_updated_at": T0,
        "created_at": T0,
        "updated_at": T0,
    }
    return Channel.model_validate({**data, **kw})


def message(seq: int = 1, payload: object = None, **kw: object) -> Message:
    data: dict[str, object] = {
        "channel_id": "ch_1",
        "seq": seq,
        "ts": T0,
        "received_at": T0,
        "payload": {"t": 21.5, "ok": True} if payload is None else payload,
    }
    return Message.model_validate({**data, **kw})


def ack(seq: int | None = 43, duplicate: bool = False) -> PublishAck:
    return PublishAck(channel_id="ch_1", seq=seq, ts=T0, duplicate=duplicate, aggregate_version=41)


def aggregate(data: object = None, version: int = 40) -> Aggregate:
    return Aggregate.model_validate(
        {
            "channel_id": "ch_1",
            "data": {"t": 21.5, "mode": "eco"} if data is None else data,
            "version": version,
            "updated_at": T0,
        }
    )
