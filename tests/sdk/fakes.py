"""A scripted fake API (for httpx2.MockTransport), client factories and JSON builders."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2

import fleetyard

Reply = httpx2.Response | Exception | Callable[[httpx2.Request], httpx2.Response]

TS = "2026-11-24T12:00:00.000Z"


class FakeAPI:
    """A MockTransport handler answering from a script, recording every request.

    ``reply(...)`` queues answers in order; ``route(method, path, ...)`` answers
    every matching request (checked after the queue is empty). An exception
    in the script is raised as if the network failed.
    """

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self._queue: list[Reply] = []
        self._routes: dict[tuple[str, str], Reply] = {}

    def reply(self, *replies: Reply) -> FakeAPI:
        self._queue.extend(replies)
        return self

    def route(self, method: str, path: str, reply: Reply) -> FakeAPI:
        self._routes[(method, path)] = reply
        return self

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if self._queue:
            reply = self._queue.pop(0)
        else:
            try:
                reply = self._routes[(request.method, request.url.path)]
            except KeyError:
                raise AssertionError(f"unexpected request {request.method} {request.url}") from None
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx2.Response):
            return reply
        return reply(request)

    @property
    def last(self) -> httpx2.Request:
        return self.requests[-1]

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


def make_client(api: FakeAPI, sleeps: list[float], **kwargs: Any) -> fleetyard.Client:
    c = fleetyard.Client(transport=httpx2.MockTransport(api), **kwargs)
    c._sleep = sleeps.append
    return c


def make_async_client(api: FakeAPI, sleeps: list[float], **kwargs: Any) -> fleetyard.AsyncClient:
    c = fleetyard.AsyncClient(transport=httpx2.MockTransport(api), **kwargs)

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    c._sleep = fake_sleep
    return c


def problem(status: int, code: str, detail: str = "", **extra: Any) -> httpx2.Response:
    body = {
        "type": f"https://fleetyard.dev/problems/{code}",
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "code": code,
        "detail": detail or None,
        "request_id": "req_problem",
        **extra,
    }
    return httpx2.Response(status, json=body, headers={"Content-Type": "application/problem+json"})


def site_json(site_id: str = "site_1", name: str = "Depot") -> dict[str, Any]:
    return {
        "id": site_id,
        "org_id": "org_1",
        "name": name,
        "description": None,
        "created_at": TS,
        "updated_at": TS,
    }


def user_json(user_id: str = "usr_1") -> dict[str, Any]:
    return {
        "id": user_id,
        "org_id": "org_1",
        "email": "ada@example.com",
        "name": "Ada",
        "role": "member",
        "totp_enabled": False,
        "site_ids": [],
        "created_at": TS,
    }


def tokens_json(
    access: str = "at_new", refresh: str | None = "rt_new", expires_in: int = 900
) -> dict[str, Any]:
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "expires_at": TS,
        "refresh_token": refresh,
        "refresh_expires_at": TS if refresh else None,
    }


def ok(body: Any, status: int = 200, **headers: str) -> httpx2.Response:
    return httpx2.Response(status, json=body, headers=headers)


def agent_json(agent_id: str = "agt_1", name: str = "pump-7") -> dict[str, Any]:
    return {
        "id": agent_id,
        "org_id": "org_1",
        "site_id": "site_1",
        "name": name,
        "kind": "device",
        "labels": {"line": "3"},
        "metadata": {},
        "online": True,
        "last_seen": TS,
        "created_at": TS,
        "updated_at": TS,
    }


def channel_json(channel_id: str = "ch_1", name: str = "status") -> dict[str, Any]:
    kind = {"#": "processor", "!": "task"}.get(name[:1], "channel")
    return {
        "id": channel_id,
        "org_id": "org_1",
        "agent_id": "agt_1",
        "name": name,
        "kind": kind,
        "is_private": False,
        "retention": {"max_age_seconds": None, "max_messages": None},
        "json_schema": None,
        "last_seq": 3,
        "aggregate_version": 3,
        "aggregate_updated_at": TS,
        "created_at": TS,
        "updated_at": TS,
    }


def message_json(seq: int = 1, payload: Any = None, channel_id: str = "ch_1") -> dict[str, Any]:
    return {
        "channel_id": channel_id,
        "seq": seq,
        "ts": TS,
        "received_at": TS,
        "payload": {"t": 20 + seq} if payload is None else payload,
        "client_message_id": None,
    }


def aggregate_json(data: Any = None, version: int = 3) -> dict[str, Any]:
    return {
        "channel_id": "ch_1",
        "data": {"t": 21.5} if data is None else data,
        "version": version,
        "updated_at": TS,
    }


def ack_json(seq: int | None = 4, duplicate: bool = False) -> dict[str, Any]:
    return {
        "channel_id": "ch_1",
        "seq": seq,
        "ts": TS,
        "duplicate": duplicate,
        "aggregate_version": 4,
    }
