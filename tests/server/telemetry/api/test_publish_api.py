"""Publishing over HTTP: by id and by name, dedup, batches all-or-nothing, garbage bodies."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from fleetyard.protocol import API_VERSION
from fleetyard.server.api.fastpath import FleetyardAPI
from fleetyard.server.app import create_app
from fleetyard.server.settings import Settings
from tests.conftest import ADMIN_KEY
from tests.server.conftest import ClientFor
from tests.server.helpers import make_key, ok, problem
from tests.server.telemetry.api.conftest import make_agent, make_channel, publish
from tests.support.asgi import running_app


def _payloads(http: httpx2.Client, channel_id: str) -> list[Any]:
    page = ok(http.get(f"/v1/channels/{channel_id}/messages", params={"order": "asc"}))
    return [m["payload"] for m in page["items"]]


def test_publish_by_id_and_by_name(http: httpx2.Client, agent: dict[str, Any]) -> None:
    channel = make_channel(http, agent["id"], "status")
    ack = publish(http, channel["id"], {"t": 21.5, "battery": {"level": 80}})
    assert (ack["channel_id"], ack["seq"], ack["duplicate"], ack["aggregate_version"]) == (
        channel["id"],
        1,
        False,
        1,
    )
    assert ack["ts"].endswith("Z")

    by_name = f"/v1/agents/{agent['id']}/channels/status/messages"
    second = ok(http.post(by_name, json={"payload": {"battery": {"level": None}}}), 201)
    assert (second["channel_id"], second["seq"]) == (channel["id"], 2)
    aggregate = ok(http.get(f"/v1/channels/{channel['id']}/aggregate"))
    assert aggregate["data"] == {"t": 21.5, "battery": {}}

    # A missing channel is created by name, its kind from the prefix.
    created = ok(
        http.post(
            f"/v1/agents/{agent['id']}/channels/%23proc/messages", json={"payload": "started"}
        ),
        201,
    )
    proc = ok(http.get(f"/v1/channels/{created['channel_id']}"))
    assert (proc["name"], proc["kind"], proc["last_seq"]) == ("#proc", "processor", 1)
    problem(http.post("/v1/channels/ch_missing/messages", json={"payload": 1}), 404, "not_found")
    problem(
        http.post("/v1/agents/agt_missing/channels/x/messages", json={"payload": 1}),
        404,
        "not_found",
    )


def test_publish_options(http: httpx2.Client, agent: dict[str, Any]) -> None:
    channel = make_channel(http, agent["id"], "state")
    quiet = publish(http, channel["id"], {"a": 1}, save_log=False)
    assert (quiet["seq"], quiet["aggregate_version"]) == (None, 1)
    logged = publish(http, channel["id"], {"b": 2}, save_log=False, log_aggregate=True)
    assert logged["seq"] == 1
    publish(http, channel["id"], {"c": 3}, override_aggregate=True)
    assert _payloads(http, channel["id"]) == [{"a": 1, "b": 2}, {"c": 3}]
    assert ok(http.get(f"/v1/channels/{channel['id']}/aggregate"))["data"] == {"c": 3}

    past = publish(http, channel["id"], 1, timestamp="2020-05-01T10:00:00.123Z")
    assert past["ts"] == "2020-05-01T10:00:00.123Z"
    stored = ok(http.get(f"/v1/channels/{channel['id']}/messages/{past['seq']}"))
    assert stored["ts"] == "2020-05-01T10:00:00.123Z"
    assert stored["received_at"] > stored["ts"]
    body = problem(
        http.post(
            f"/v1/channels/{channel['id']}/messages",
            json={"payload": 1, "timestamp": "2999-01-01T00:00:00Z"},
        ),
        422,
        "payload_invalid",
    )
    assert body["errors"][0]["loc"] == ["body", "timestamp"]
    for scalar in ["text", 7, 2.5, True, None, [1, "two"]]:
        publish(http, channel["id"], scalar)
    assert ok(http.get(f"/v1/channels/{channel['id']}/aggregate"))["data"] == [1, "two"]


def test_client_message_id_deduplicates(http: httpx2.Client, agent: dict[str, Any]) -> None:
    channel = make_channel(http, agent["id"], "readings")
    url = f"/v1/channels/{channel['id']}/messages"
    first = ok(http.post(url, json={"payload": {"v": 1}, "client_message_id": "m-1"}), 201)
    again = ok(http.post(url, json={"payload": {"v": 1}, "client_message_id": "m-1"}), 200)
    assert (again["seq"], again["duplicate"], again["ts"]) == (first["seq"], True, first["ts"])
    by_name = ok(
        http.post(
            f"/v1/agents/{agent['id']}/channels/readings/messages",
            json={"payload": {"v": 9}, "client_message_id": "m-1"},
        ),
        200,
    )
    assert by_name["duplicate"] is True
    batch = ok(
        http.post(
            "/v1/messages/batch",
            json={
                "items": [
                    {"channel_id": channel["id"], "payload": {"v": 1}, "client_message_id": "m-1"},
                    {"channel_id": channel["id"], "payload": {"v": 2}, "client_message_id": "m-2"},
                    {"channel_id": channel["id"], "payload": {"v": 2}, "client_message_id": "m-2"},
                ]
            },
        ),
        201,
    )
    assert [(a["seq"], a["duplicate"]) for a in batch["items"]] == [
        (1, True),
        (2, False),
        (2, True),
    ]
    assert _payloads(http, channel["id"]) == [{"v": 1}, {"v": 2}]
    problem(http.post(url, json={"payload": 1, "client_message_id": ""}), 422, "validation_failed")


def test_batch_publishes_to_many_channels(
    http: httpx2.Client, site: dict[str, Any], agent: dict[str, Any]
) -> None:
    other = make_agent(http, site["id"], "pump-2")
    existing = make_channel(http, agent["id"], "status")
    items = [
        {"channel_id": existing["id"], "payload": {"i": 0}},
        {"agent_id": agent["id"], "channel": "status", "payload": {"i": 1}},
        {"agent_id": other["id"], "channel": "!job", "payload": {"i": 2}},
        {"agent_id": other["id"], "channel": "!job", "payload": {"i": 3}, "save_log": False},
    ]
    acks = ok(http.post("/v1/messages/batch", json={"items": items}), 201)["items"]
    assert [(a["seq"], a["aggregate_version"]) for a in acks] == [(1, 1), (2, 2), (1, 1), (None, 2)]
    assert acks[0]["channel_id"] == acks[1]["channel_id"] == existing["id"]
    job = ok(http.get(f"/v1/agents/{other['id']}/channels/%21job"))
    assert (job["id"], job["kind"], job["last_seq"]) == (acks[2]["channel_id"], "task", 1)


def test_batch_is_all_or_nothing(
    http: httpx2.Client, site: dict[str, Any], agent: dict[str, Any]
) -> None:
    schema = {"type": "object", "properties": {"t": {"type": "number"}}}
    strict = make_channel(http, agent["id"], "strict", json_schema=schema)
    good = {"channel_id": strict["id"], "payload": {"t": 1}}
    new = {"agent_id": agent["id"], "channel": "brand-new", "payload": {"x": 1}}
    bad_items: list[tuple[dict[str, Any], str]] = [
        ({"channel_id": strict["id"], "payload": {"t": "hot"}}, "payload_invalid"),
        ({"agent_id": agent["id"], "channel": "a/b", "payload": 1}, "channel_name_invalid"),
        ({"channel_id": "ch_missing", "payload": 1}, "not_found"),
        ({"agent_id": "agt_missing", "channel": "x", "payload": 1}, "not_found"),
        (
            {"channel_id": strict["id"], "payload": 1, "timestamp": "2999-01-01T00:00:00Z"},
            "payload_invalid",
        ),
    ]
    for bad, kind in bad_items:
        body = problem(
            http.post("/v1/messages/batch", json={"items": [good, new, bad, good]}),
            422,
            "payload_invalid",
        )
        assert {tuple(e["loc"][:3]) for e in body["errors"]} == {("body", "items", 2)}
        assert body["errors"][0]["type"] == kind
    # Malformed items are refused before any lookup, with their index too.
    body = problem(
        http.post("/v1/messages/batch", json={"items": [good, {"channel_id": strict["id"]}]}),
        422,
        "validation_failed",
    )
    assert body["errors"][0]["loc"][:3] == ["body", "items", 1]
    body = problem(
        http.post(
            "/v1/messages/batch",
            json={
                "items": [good, {"channel_id": "x", "agent_id": "y", "channel": "z", "payload": 1}]
            },
        ),
        422,
        "validation_failed",
    )
    assert body["errors"][0]["loc"][:3] == ["body", "items", 1]
    problem(http.post("/v1/messages/batch", json={"items": []}), 422, "validation_failed")
    # Nothing of any refused batch was stored: no message, no aggregate, no new channel.
    assert ok(http.get(f"/v1/channels/{strict['id']}"))["last_seq"] == 0
    assert ok(http.get(f"/v1/channels/{strict['id']}/aggregate"))["version"] == 0
    assert [c["name"] for c in ok(http.get(f"/v1/agents/{agent['id']}/channels"))["items"]] == [
        "strict"
    ]


def test_oversized_batch_is_refused(http: httpx2.Client, agent: dict[str, Any]) -> None:
    channel = make_channel(http, agent["id"], "bulk")
    item = {"channel_id": channel["id"], "payload": 1}
    body = problem(
        http.post("/v1/messages/batch", json={"items": [item] * 10_001}), 422, "validation_failed"
    )
    assert body["errors"][0]["loc"] == ["body", "items"]
    acks = ok(http.post("/v1/messages/batch", json={"items": [item] * 10_000}), 201)["items"]
    assert [a["seq"] for a in acks] == list(range(1, 10_001))


GARBAGE: list[bytes] = [
    b"",
    b"{",
    b"not json",
    b"\xff\xfe\x00garbage",
    b"[]",
    b"[1, 2, 3]",
    b'"just a string"',
    b"42",
    b"null",
    b"true",
    b'{"payload": NaN}',
    b'{"payload": {"a": [Infinity]}}',
    b'{"payload": -Infinity}',
    b'{"payload": 1e400}',
    b'{"payload": -1e999}',
    b'{"payload": 1' + b"0" * 400 + b".5}",
    b'{"payload": ' + b"9" * 5000 + b"}",
    b'{"payload": "\\u0000"}',
    b'{"payload": {"k\\u0000": 1}}',
    b'{"payload": "\\ud800"}',
    b'{"payload": "\\udc80"}',
    b'{"payload": {"\\uDFFF": 1}}',
    b'{"payload": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"payload": {"a": {"b": {"c": [[[{"d": null}]]]}}}, "extra": 1}',
    b'{"payload": 1, "timestamp": "yesterday"}',
    b'{"payload": 1, "timestamp": 1e20}',
    b'{"payload": 1, "save_log": "maybe"}',
    b'{"payload": 1, "client_message_id": 5}',
    b'{"items": "all"}',
    b'{"items": [null]}',
    b'{"items": [[]]}',
    b'{"items": [{"channel_id": {"$ne": null}, "payload": 1}]}',
    b'{"items": [{"agent_id": "a\\u0000", "channel": "x", "payload": 1}]}',
]


def test_garbage_bodies_are_4xx_never_500(
    http: httpx2.Client, agent: dict[str, Any], site: dict[str, Any]
) -> None:
    channel = make_channel(http, agent["id"], "status")
    publish(http, channel["id"], {"t": 1})
    targets = [
        ("POST", f"/v1/channels/{channel['id']}/messages"),
        ("POST", f"/v1/agents/{agent['id']}/channels/status/messages"),
        ("POST", "/v1/messages/batch"),
        ("PATCH", f"/v1/channels/{channel['id']}/aggregate"),
        ("PUT", f"/v1/channels/{channel['id']}/aggregate"),
        ("PATCH", f"/v1/channels/{channel['id']}/messages/1"),
        ("POST", "/v1/agents"),
        ("PATCH", f"/v1/agents/{agent['id']}"),
        ("POST", f"/v1/agents/{agent['id']}/channels"),
        ("PATCH", f"/v1/channels/{channel['id']}"),
        ("POST", f"/v1/agents/{agent['id']}/token"),
    ]
    wrong = []
    for method, url in targets:
        for body in GARBAGE:
            response = http.request(
                method, url, content=body, headers={"Content-Type": "application/json"}
            )
            valid = (
                # Any JSON is a valid merge patch or aggregate; a token needs no body.
                (url.endswith("/aggregate") and response.status_code == 200)
                or (url.endswith("/token") and body in (b"", b"null"))
            )
            if not 400 <= response.status_code < 500 and not valid:
                wrong.append(f"{method} {url} {body[:40]!r}: {response.status_code}")
            elif response.status_code >= 400:
                assert response.headers["content-type"] == "application/problem+json"
    assert wrong == [], "\n".join(wrong)
    # None of it was stored (aggregate writes aside).
    assert ok(http.get(f"/v1/channels/{channel['id']}"))["last_seq"] == 1
    assert ok(http.get(f"/v1/channels/{channel['id']}/messages/1"))["payload"] == {"t": 1}
    assert [a["name"] for a in ok(http.get("/v1/agents"))["items"]] == ["pump-1"]


def test_big_integers_round_trip(http: httpx2.Client, agent: dict[str, Any]) -> None:
    channel = make_channel(http, agent["id"], "big")
    big = 123456789012345678901234567890
    ack = ok(
        http.post(
            f"/v1/channels/{channel['id']}/messages",
            content=f'{{"payload": {{"n": {big}, "f": 1.5}}}}'.encode(),
        ),
        201,
    )
    stored = ok(http.get(f"/v1/channels/{channel['id']}/messages/{ack['seq']}"))
    assert stored["payload"] == {"n": big, "f": 1.5}
    assert ok(http.get(f"/v1/channels/{channel['id']}/aggregate"))["data"] == {
        "n": big,
        "f": 1.5,
    }


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"payload": NaN}', 400, "invalid_json"),
        (b"[1]", 422, "validation_failed"),
        (b"{", 400, "invalid_json"),
        (b'{"payload": 1e400}', 422, "validation_failed"),
        (b'{"payload": {"a": "\\u0000"}}', 422, "validation_failed"),
        (b'{"payload": 1, "colour": "red"}', 422, "validation_failed"),
    ],
)
def test_bad_bodies_answer_with_codes(
    http: httpx2.Client, agent: dict[str, Any], body: bytes, status: int, code: str
) -> None:
    channel = make_channel(http, agent["id"], "status")
    answer = problem(
        http.post(f"/v1/channels/{channel['id']}/messages", content=body), status, code
    )
    if status == 422:
        assert answer["errors"][0]["loc"][0] == "body"


def test_publish_auth_idempotency_and_gzip(
    http: httpx2.Client, client_for: ClientFor, site: dict[str, Any], agent: dict[str, Any]
) -> None:
    channel = make_channel(http, agent["id"], "status")
    url = f"/v1/channels/{channel['id']}/messages"
    problem(client_for(None).post(url, json={"payload": 1}), 401, "unauthenticated")
    basic = client_for(None).post(url, json={"payload": 1}, headers={"Authorization": "Basic x"})
    problem(basic, 401, "unauthenticated")
    problem(
        client_for("fy_test_" + "z" * 40).post(url, json={"payload": 1}), 401, "unauthenticated"
    )
    useless = client_for(make_key(http, ["nothing:none:read"])["secret"])
    problem(useless.post(url, json={"payload": 1}), 403, "scope_insufficient")
    problem(useless.post(url, content=b"{"), 403, "scope_insufficient")

    headers = {"Idempotency-Key": "publish-1"}
    first = http.post(url, json={"payload": {"n": 1}}, headers=headers)
    replay = http.post(url, json={"payload": {"n": 1}}, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    problem(
        http.post(url, json={"payload": {"n": 2}}, headers=headers), 422, "idempotency_key_mismatch"
    )

    zipped = gzip.compress(json.dumps({"payload": {"n": 3}}).encode())
    ok(http.post(url, content=zipped, headers={"Content-Encoding": "gzip"}), 201)
    assert _payloads(http, channel["id"]) == [{"n": 1}, {"n": 3}]
    assert first.headers["x-request-id"].startswith("req_")


def test_the_fast_path_keeps_the_request_pipeline_headers_and_limits(
    http: httpx2.Client, agent: dict[str, Any], settings: Settings
) -> None:
    url = f"/v1/agents/{agent['id']}/channels/status/messages"
    given = http.post(url, json={"payload": 1}, headers={"X-Request-Id": "trace-42"})
    assert given.status_code == 201
    assert given.headers["x-request-id"] == "trace-42"
    assert given.headers["fleetyard-version"] == API_VERSION
    unsafe = http.post(url, json={"payload": 2}, headers={"X-Request-Id": "bad id\t"})
    assert unsafe.headers["x-request-id"].startswith("req_")
    # Errors carry the same headers, and the request id in the problem body.
    failed = http.post(url, content=b"{", headers={"X-Request-Id": "trace-43"})
    assert (failed.status_code, failed.headers["x-request-id"]) == (400, "trace-43")
    assert failed.json()["request_id"] == "trace-43"
    # What the fast path hands on is answered by the full pipeline.
    version = http.post(url, json={"payload": 3}, headers={"Fleetyard-Version": "1999-01-01"})
    problem(version, 400, "unsupported_api_version")
    too_big = b'{"payload": "' + b"x" * settings.max_body_bytes + b'"}'
    problem(http.post(url, content=too_big), 413, "payload_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading
        yield too_big[:1000]
        yield too_big[1000:]

    problem(http.post(url, content=chunks()), 413, "payload_too_large")
    channel = ok(http.get(f"/v1/agents/{agent['id']}/channels/status"))
    assert _payloads(http, channel["id"]) == [1, 2]


def test_the_routes_behind_the_fast_path_answer_the_same(settings: Settings) -> None:
    """The FastAPI routes answer what the fast path answers (they serve what it passes on)."""
    app = create_app(settings)
    assert isinstance(app, FleetyardAPI)
    app.fast_path = False
    with (
        running_app(app) as transport,
        httpx2.Client(
            transport=transport,
            base_url="http://fleetyard.test",
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        ) as http,
    ):
        site = ok(http.post("/v1/sites", json={"name": "slow"}), 201)
        agent = make_agent(http, site["id"], "pump")
        by_name = f"/v1/agents/{agent['id']}/channels/%23proc/messages"
        ack = ok(http.post(by_name, json={"payload": {"t": 1}, "client_message_id": "a"}), 201)
        url = f"/v1/channels/{ack['channel_id']}/messages"
        again = ok(http.post(url, json={"payload": {"t": 1}, "client_message_id": "a"}), 200)
        assert (again["seq"], again["duplicate"]) == (1, True)
        assert ok(http.post(url, json={"payload": {"t": 2}}), 201)["seq"] == 2
        problem(http.post(url, content=b'{"payload": NaN}'), 400, "invalid_json")
        problem(http.post(url, json={"payload": 1, "x": 1}), 422, "validation_failed")
        problem(
            http.post("/v1/channels/ch_missing/messages", json={"payload": 1}), 404, "not_found"
        )
        problem(
            http.post(f"/v1/agents/{agent['id']}/channels/a%2Fb/messages", json={"payload": 1}),
            422,
            "channel_name_invalid",
        )
        aggregate = ok(http.get(f"/v1/channels/{ack['channel_id']}/aggregate"))
        assert (aggregate["data"], aggregate["version"]) == ({"t": 2}, 2)
