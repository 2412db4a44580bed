"""Reading over HTTP: message pages and windows, one message, aggregates, latest, timeseries."""

from __future__ import annotations

from typing import Any

import httpx2

from tests.server.helpers import make_site, ok, problem
from tests.server.telemetry.api.conftest import make_agent, make_channel, publish

T0 = "2026-03-01T12:00:00.000Z"


def _at(minute: int, second: int = 0) -> str:
    return f"2026-03-01T12:{minute:02d}:{second:02d}.000Z"


def _seqs(page: dict[str, Any]) -> list[int]:
    return [m["seq"] for m in page["items"]]


def test_latest_first_pages_with_cursors(http: httpx2.Client, agent: dict[str, Any]) -> None:
    channel = make_channel(http, agent["id"], "log")
    url = f"/v1/channels/{channel['id']}/messages"
    ok(
        http.post(
            "/v1/messages/batch",
            json={"items": [{"channel_id": channel["id"], "payload": i} for i in range(1, 26)]},
        ),
        201,
    )
    first = ok(http.get(url, params={"limit": 10}))
    assert _seqs(first) == list(range(25, 15, -1))
    assert [m["payload"] for m in first["items"]][:2] == [25, 24]
    second = ok(http.get(url, params={"limit": 10, "cursor": first["next_cursor"]}))
    assert _seqs(second) == list(range(15, 5, -1))
    third = ok(http.get(url, params={"limit": 10, "cursor": second["next_cursor"]}))
    assert (_seqs(third), third["next_cursor"]) == ([5, 4, 3, 2, 1], None)
    assert _seqs(ok(http.get(url))) == list(range(25, 0, -1))

    up = ok(http.get(url, params={"limit": 20, "order": "asc"}))
    assert _seqs(up) == list(range(1, 21))
    rest = ok(http.get(url, params={"limit": 20, "order": "asc", "cursor": up["next_cursor"]}))
    assert (_seqs(rest), rest["next_cursor"]) == ([21, 22, 23, 24, 25], None)

    problem(http.get(url, params={"cursor": "nonsense"}), 400, "invalid_cursor")
    problem(http.get(url, params={"limit": 0}), 422, "validation_failed")
    problem(http.get(url, params={"limit": 10_001}), 422, "validation_failed")
    problem(http.get(url, params={"order": "sideways"}), 422, "validation_failed")


def test_time_windows(http: httpx2.Client, agent: dict[str, Any]) -> None:
    channel = make_channel(http, agent["id"], "temps")
    url = f"/v1/channels/{channel['id']}/messages"
    # Published out of time order: windows follow message time, not arrival.
    for minute in [5, 0, 9, 3, 7, 1, 8, 2, 6, 4]:
        publish(http, channel["id"], {"m": minute}, timestamp=_at(minute))

    def minutes(**params: Any) -> list[int]:
        return [m["payload"]["m"] for m in ok(http.get(url, params=params))["items"]]

    assert minutes(start=_at(3), end=_at(7)) == [6, 5, 4, 3]  # start <= ts < end
    assert minutes(start=_at(3), end=_at(7), order="asc") == [3, 4, 5, 6]
    assert minutes(start=_at(8)) == [9, 8]
    assert minutes(end=_at(2)) == [1, 0]
    assert minutes(start=_at(7), end=_at(7)) == []
    assert minutes(start="2026-03-01T13:00:00+01:00", end=_at(1, 30)) == [1, 0]

    page = ok(http.get(url, params={"start": _at(1), "limit": 4}))
    assert [m["payload"]["m"] for m in page["items"]] == [9, 8, 7, 6]
    more = ok(http.get(url, params={"start": _at(1), "limit": 4, "cursor": page["next_cursor"]}))
    assert [m["payload"]["m"] for m in more["items"]] == [5, 4, 3, 2]
    last = ok(http.get(url, params={"start": _at(1), "limit": 4, "cursor": more["next_cursor"]}))
    assert ([m["payload"]["m"] for m in last["items"]], last["next_cursor"]) == ([1], None)
    # A cursor belongs to its kind of list.
    seq_cursor = ok(http.get(url, params={"limit": 1}))["next_cursor"]
    problem(http.get(url, params={"start": _at(1), "cursor": seq_cursor}), 400, "invalid_cursor")
    problem(http.get(url, params={"start": "last tuesday"}), 422, "validation_failed")


def test_one_message_get_update_delete(http: httpx2.Client, agent: dict[str, Any]) -> None:
    channel = make_channel(http, agent["id"], "notes")
    for i in range(3):
        publish(http, channel["id"], {"n": i}, client_message_id=f"c{i}")
    url = f"/v1/channels/{channel['id']}/messages"
    message = ok(http.get(f"{url}/2"))
    assert (message["seq"], message["payload"], message["client_message_id"]) == (2, {"n": 1}, "c1")
    assert message["channel_id"] == channel["id"]

    edited = ok(http.patch(f"{url}/2", json={"payload": {"n": "one"}}))
    assert (edited["seq"], edited["payload"], edited["ts"]) == (2, {"n": "one"}, message["ts"])
    assert ok(http.get(f"{url}/2"))["payload"] == {"n": "one"}
    # The aggregate reflects what was published, not the edit.
    assert ok(http.get(f"/v1/channels/{channel['id']}/aggregate"))["data"] == {"n": 2}
    problem(http.patch(f"{url}/2", json={}), 422, "validation_failed")
    problem(http.patch(f"{url}/2", json={"payload": 1, "seq": 9}), 422, "validation_failed")

    assert ok(http.delete(f"{url}/2")) == {"id": "2", "deleted": True}
    problem(http.get(f"{url}/2"), 404, "not_found")
    problem(http.patch(f"{url}/2", json={"payload": 1}), 404, "not_found")
    problem(http.delete(f"{url}/2"), 404, "not_found")
    assert _seqs(ok(http.get(url))) == [3, 1]
    # Seqs are never reused.
    assert publish(http, channel["id"], "next")["seq"] == 4
    problem(http.get(f"{url}/0"), 422, "validation_failed")
    problem(http.get(f"{url}/-1"), 422, "validation_failed")
    problem(http.get(f"{url}/{2**63}"), 422, "validation_failed")
    problem(http.get(f"{url}/{2**62}"), 404, "not_found")
    problem(http.get(f"{url}/two"), 422, "validation_failed")


def test_aggregate_merge_replace_and_if_match(http: httpx2.Client, agent: dict[str, Any]) -> None:
    channel = make_channel(http, agent["id"], "state")
    url = f"/v1/channels/{channel['id']}/aggregate"
    empty = http.get(url)
    assert empty.status_code == 200
    assert (empty.json()["data"], empty.json()["version"], empty.headers["etag"]) == (
        None,
        0,
        '"0"',
    )
    publish(http, channel["id"], {"a": 1, "b": {"x": 1, "y": 2}, "c": [1, 2]})
    publish(http, channel["id"], {"b": {"y": None, "z": 3}, "c": [3], "d": None})
    got = http.get(url)
    assert got.json()["data"] == {"a": 1, "b": {"x": 1, "z": 3}, "c": [3]}
    assert (got.json()["version"], got.headers["etag"]) == (2, '"2"')
    assert got.json()["updated_at"].endswith("Z")

    patched = http.patch(url, json={"a": None, "e": True}, headers={"If-Match": '"2"'})
    assert patched.status_code == 200
    assert (patched.json()["data"], patched.json()["version"], patched.headers["etag"]) == (
        {"b": {"x": 1, "z": 3}, "c": [3], "e": True},
        3,
        '"3"',
    )
    stale = problem(
        http.patch(url, json={"a": 9}, headers={"If-Match": '"2"'}), 412, "version_stale"
    )
    assert stale["current_version"] == 3
    problem(http.put(url, json={"a": 9}, headers={"If-Match": '"99"'}), 412, "version_stale")
    problem(http.put(url, json={"a": 9}, headers={"If-Match": "garbage"}), 412, "version_stale")
    assert ok(http.patch(url, json={"f": 1}, headers={"If-Match": 'W/"3"'}))["version"] == 4
    assert ok(http.patch(url, json={"g": 1}, headers={"If-Match": "*"}))["version"] == 5

    replaced = http.put(url, json={"only": "this"}, headers={"If-Match": '"5"'})
    assert (replaced.json()["data"], replaced.headers["etag"]) == ({"only": "this"}, '"6"')
    assert ok(http.put(url, json=[1, 2]))["data"] == [1, 2]
    assert ok(http.patch(url, json={"k": 1}))["data"] == {"k": 1}  # a patch onto a non-object
    assert ok(http.patch(url, content=b"null"))["data"] is None
    # Aggregate writes log nothing.
    assert ok(http.get(f"/v1/channels/{channel['id']}"))["last_seq"] == 2
    problem(http.patch(url, content=b"{"), 400, "invalid_json")
    problem(http.patch("/v1/channels/ch_missing/aggregate", json={}), 404, "not_found")


def test_latest_across_agents(http: httpx2.Client, site: dict[str, Any]) -> None:
    yard = make_site(http, "yard")
    agents = [make_agent(http, site["id"], f"pump-{i}") for i in range(3)]
    far = make_agent(http, yard["id"], "far")
    make_agent(http, site["id"], "silent")  # no status channel at all
    for i, agent in enumerate([*agents, far]):
        url = f"/v1/agents/{agent['id']}/channels/status/messages"
        ok(http.post(url, json={"payload": {"i": i, "first": True}}), 201)
        ok(http.post(url, json={"payload": {"i": i, "first": None}}), 201)
    # A channel with an aggregate but no logged message.
    ok(
        http.post(
            f"/v1/agents/{agents[0]['id']}/channels/%23proc/messages",
            json={"payload": {"p": 1}, "save_log": False},
        ),
        201,
    )

    items = ok(http.get("/v1/channels/latest", params={"name": "status"}))["items"]
    assert [x["agent_id"] for x in items] == [a["id"] for a in [*agents, far]]
    assert all(x["name"] == "status" for x in items)
    assert [x["aggregate"]["data"] for x in items] == [{"i": i} for i in range(4)]
    assert [x["message"]["seq"] for x in items] == [2, 2, 2, 2]
    assert items[0]["message"]["payload"] == {"i": 0, "first": None}

    in_site = ok(http.get("/v1/channels/latest", params={"name": "status", "site_id": yard["id"]}))
    assert [x["agent_id"] for x in in_site["items"]] == [far["id"]]
    chosen = ok(
        http.get(
            "/v1/channels/latest",
            params={"name": "status", "agent_id": [agents[2]["id"], far["id"], "agt_nope"]},
        )
    )
    assert [x["agent_id"] for x in chosen["items"]] == [agents[2]["id"], far["id"]]
    page = ok(http.get("/v1/channels/latest", params={"name": "status", "limit": 3}))
    assert len(page["items"]) == 3
    rest = ok(
        http.get(
            "/v1/channels/latest",
            params={"name": "status", "limit": 3, "cursor": page["next_cursor"]},
        )
    )
    assert ([x["agent_id"] for x in rest["items"]], rest["next_cursor"]) == ([far["id"]], None)

    proc = ok(http.get("/v1/channels/latest", params={"name": "#proc"}))["items"]
    assert [(x["aggregate"]["data"], x["message"]) for x in proc] == [({"p": 1}, None)]
    assert ok(http.get("/v1/channels/latest", params={"name": "nothing"}))["items"] == []
    problem(http.get("/v1/channels/latest", params={"name": "a/b"}), 422, "channel_name_invalid")
    problem(http.get("/v1/channels/latest"), 422, "validation_failed")
    problem(
        http.get("/v1/channels/latest", params={"name": "s", "agent_id": "x y"}),
        422,
        "validation_failed",
    )


def test_timeseries_raw_and_bucketed(http: httpx2.Client, agent: dict[str, Any]) -> None:
    channel = make_channel(http, agent["id"], "env")
    url = f"/v1/channels/{channel['id']}/timeseries"
    points = [
        (_at(0, 10), {"temperature": 20, "battery": {"level": 90}}),
        (_at(0, 40), {"temperature": 22, "battery": {"level": 89}}),
        (_at(1, 5), {"temperature": 30}),
        (_at(1, 50), {"temperature": "n/a", "battery": {"level": 80}}),
        (_at(3, 0), {"temperature": True}),
        (_at(4, 0), {"other": 1}),
    ]
    items = [{"channel_id": channel["id"], "payload": p, "timestamp": ts} for ts, p in points]
    ok(http.post("/v1/messages/batch", json={"items": items}), 201)

    raw = ok(http.get(url, params={"field": ["temperature", "battery.level"]}))
    assert raw["interval"] is None
    assert raw["timestamps"] == [_at(0, 10), _at(0, 40), _at(1, 5), _at(1, 50), _at(3, 0)]
    assert [(s["field"], s["aggregate"], s["values"]) for s in raw["series"]] == [
        ("temperature", None, [20, 22, 30, None, 1]),
        ("battery.level", None, [90, 89, None, 80, None]),
    ]

    bucketed = ok(
        http.get(
            url,
            params={
                "field": "temperature",
                "interval": "1m",
                "agg": ["avg", "min", "max", "sum", "count", "first", "last"],
                "start": T0,
                "end": _at(5),
            },
        )
    )
    assert (bucketed["interval"], bucketed["start"], bucketed["end"]) == ("1m", T0, _at(5))
    assert bucketed["timestamps"] == [_at(0), _at(1), _at(3)]
    by_agg = {s["aggregate"]: s["values"] for s in bucketed["series"]}
    assert by_agg == {
        "avg": [21, 30, 1],
        "min": [20, 30, 1],
        "max": [22, 30, 1],
        "sum": [42, 30, 1],
        "count": [2, 1, 1],
        "first": [20, 30, 1],
        "last": [22, 30, 1],
    }
    hourly = ok(http.get(url, params={"field": "battery.level", "interval": "1h"}))
    assert (hourly["timestamps"], hourly["series"][0]["values"]) == ([T0], [86.33333333333333])
    window = ok(http.get(url, params={"field": "temperature", "start": _at(1), "end": _at(3)}))
    assert window["series"][0]["values"] == [30]  # "n/a" is no number: no point

    for params in [
        {},
        {"field": "a..b"},
        {"field": "temperature", "interval": "fortnight"},
        {"field": "temperature", "agg": "median"},
        {"field": "temperature", "start": _at(3), "end": _at(1)},
        {"field": [f"f{i}" for i in range(17)]},
        {"field": "temperature", "interval": "1s", "start": T0, "end": "2026-03-05T12:00:00Z"},
    ]:
        problem(http.get(url, params=params), 422, "validation_failed")
    problem(http.get("/v1/channels/ch_missing/timeseries", params={"field": "t"}), 404, "not_found")
