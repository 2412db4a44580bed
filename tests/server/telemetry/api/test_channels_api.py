"""Channels over HTTP: create-or-get, #processor / !task shorthand, names, settings, delete."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx2
import pytest

from tests.server.conftest import ClientFor
from tests.server.helpers import make_key, ok, problem
from tests.server.telemetry.api.conftest import make_channel, publish


def test_create_or_get_and_the_kind_shorthands(http: httpx2.Client, agent: dict[str, Any]) -> None:
    base = f"/v1/agents/{agent['id']}/channels"
    plain = make_channel(http, agent["id"], "status")
    assert (plain["name"], plain["kind"], plain["last_seq"]) == ("status", "channel", 0)
    assert plain["id"].startswith("ch_")
    again = ok(http.post(base, json={"name": "status", "is_private": True}), 200)
    assert again == plain  # the existing channel, unchanged

    proc = make_channel(http, agent["id"], "#proc")
    task = make_channel(http, agent["id"], "!reboot")
    named = make_channel(http, agent["id"], "alarms", kind="processor")
    assert [(c["name"], c["kind"]) for c in (proc, task, named)] == [
        ("#proc", "processor"),
        ("!reboot", "task"),
        ("#alarms", "processor"),
    ]
    assert ok(http.post(base, json={"name": "#alarms"}), 200)["id"] == named["id"]
    problem(http.post(base, json={"name": "!x", "kind": "processor"}), 422, "channel_name_invalid")

    # By name, percent-encoded: "#" would otherwise start a URL fragment.
    assert ok(http.get(f"{base}/%23proc")) == proc
    assert ok(http.get(f"{base}/%21reboot")) == task
    spaced = make_channel(http, agent["id"], "temp °C (avg)")
    assert ok(http.get(f"{base}/{quote('temp °C (avg)', safe='')}")) == spaced
    problem(http.get(f"{base}/missing"), 404, "not_found")

    def listed(**params: Any) -> list[str]:
        return [c["name"] for c in ok(http.get(base, params=params))["items"]]

    assert listed() == ["status", "#proc", "!reboot", "#alarms", "temp °C (avg)"]
    assert listed(kind="processor") == ["#proc", "#alarms"]
    assert listed(kind="task") == ["!reboot"]
    assert listed(limit=2) == ["status", "#proc"]
    assert ok(http.get(f"/v1/channels/{proc['id']}")) == proc
    problem(http.get("/v1/channels/ch_missing"), 404, "not_found")


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("a/b", "channel_name_invalid"),
        ("#", "channel_name_invalid"),
        ("tab\there", "channel_name_invalid"),
        ("x" * 201, "validation_failed"),
        ("", "validation_failed"),
    ],
)
def test_bad_names_are_refused(
    http: httpx2.Client, agent: dict[str, Any], name: str, code: str
) -> None:
    base = f"/v1/agents/{agent['id']}/channels"
    problem(http.post(base, json={"name": name}), 422, code)
    batch = {"items": [{"agent_id": agent["id"], "channel": name, "payload": 1}]}
    assert http.post("/v1/messages/batch", json=batch).status_code == 422
    if name:
        url_code = "channel_name_invalid"
        problem(http.get(f"{base}/{quote(name, safe='')}"), 422, url_code)
        problem(
            http.post(f"{base}/{quote(name, safe='')}/messages", json={"payload": 1}), 422, url_code
        )
    assert ok(http.get(base))["items"] == []


def test_update_retention_schema_and_privacy(http: httpx2.Client, agent: dict[str, Any]) -> None:
    channel = make_channel(http, agent["id"], "status")
    url = f"/v1/channels/{channel['id']}"
    changed = ok(http.patch(url, json={"retention": {"max_age_seconds": 3600, "max_messages": 5}}))
    assert changed["retention"] == {"max_age_seconds": 3600, "max_messages": 5}
    assert ok(http.patch(url, json={"retention": None}))["retention"] == {
        "max_age_seconds": None,
        "max_messages": None,
    }
    problem(http.patch(url, json={"retention": {"max_messages": 0}}), 422, "validation_failed")
    problem(http.patch(url, json={"json_schema": {"type": "nonsense"}}), 422, "json_schema_invalid")
    problem(http.patch(url, json={"colour": "red"}), 422, "validation_failed")

    schema = {"type": "object", "required": ["t"], "properties": {"t": {"type": "number"}}}
    assert ok(http.patch(url, json={"json_schema": schema}))["json_schema"] == schema
    # The schema applies at once (nothing remembered from before the change is used).
    bad = http.post(f"{url}/messages", json={"payload": {"t": "warm"}})
    body = problem(bad, 422, "payload_invalid")
    assert body["errors"][0]["loc"][:2] == ["body", "payload"]
    publish(http, channel["id"], {"t": 1.5})
    problem(
        http.post(f"/v1/agents/{agent['id']}/channels/status/messages", json={"payload": {}}),
        422,
        "payload_invalid",
    )
    problem(http.patch(f"{url}/aggregate", json={"t": "x"}), 422, "payload_invalid")
    assert ok(http.get(url))["last_seq"] == 1
    assert ok(http.patch(url, json={"json_schema": None}))["json_schema"] is None
    publish(http, channel["id"], {"t": "warm now"})

    assert ok(http.patch(url, json={"is_private": True}))["is_private"] is True


def test_private_channels_hide_from_readers(
    http: httpx2.Client, client_for: ClientFor, site: dict[str, Any], agent: dict[str, Any]
) -> None:
    hidden = make_channel(http, agent["id"], "secrets", is_private=True)
    shown = make_channel(http, agent["id"], "status")
    reader = client_for(make_key(http, [f"site:{site['id']}:read"])["secret"])
    problem(reader.get(f"/v1/channels/{hidden['id']}"), 404, "not_found")
    problem(reader.get(f"/v1/channels/{hidden['id']}/messages"), 404, "not_found")
    names = [c["name"] for c in ok(reader.get(f"/v1/agents/{agent['id']}/channels"))["items"]]
    assert names == ["status"]
    assert ok(reader.get(f"/v1/channels/{shown['id']}"))["id"] == shown["id"]
    # Reading is not writing: 403 for what it can see.
    problem(
        reader.post(f"/v1/channels/{shown['id']}/messages", json={"payload": 1}),
        403,
        "scope_insufficient",
    )
    problem(
        reader.patch(f"/v1/channels/{shown['id']}", json={"is_private": True}),
        403,
        "scope_insufficient",
    )
    problem(
        reader.post(f"/v1/agents/{agent['id']}/channels", json={"name": "x"}),
        403,
        "scope_insufficient",
    )
    writer = client_for(make_key(http, [f"site:{site['id']}:write"])["secret"])
    assert ok(writer.get(f"/v1/channels/{hidden['id']}"))["id"] == hidden["id"]
    problem(writer.delete(f"/v1/channels/{hidden['id']}"), 403, "scope_insufficient")


def test_delete_channel(http: httpx2.Client, agent: dict[str, Any]) -> None:
    channel = make_channel(http, agent["id"], "#proc")
    publish(http, channel["id"], {"a": 1})
    assert ok(http.delete(f"/v1/channels/{channel['id']}")) == {
        "id": channel["id"],
        "deleted": True,
    }
    problem(http.get(f"/v1/channels/{channel['id']}"), 404, "not_found")
    problem(http.get(f"/v1/channels/{channel['id']}/aggregate"), 404, "not_found")
    problem(
        http.post(f"/v1/channels/{channel['id']}/messages", json={"payload": 1}), 404, "not_found"
    )
    problem(http.delete(f"/v1/channels/{channel['id']}"), 404, "not_found")
    # The name is free again: a new channel, from seq 1.
    again = ok(
        http.post(f"/v1/agents/{agent['id']}/channels/%23proc/messages", json={"payload": 2}), 201
    )
    assert again["channel_id"] != channel["id"]
    assert again["seq"] == 1
