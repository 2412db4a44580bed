"""Pure rules: channel names, field paths, intervals and the JSON Schema subset."""

from __future__ import annotations

from typing import Any

import pytest

from fleetyard.protocol.telemetry import (
    BatchPublishItem,
    ChannelKind,
    ChannelNameError,
    format_interval,
    parse_channel_name,
    parse_field_path,
    parse_interval,
)
from fleetyard.server.services.telemetry.schema import SchemaError, check_schema, validate


@pytest.mark.parametrize(
    ("given", "kind", "expected"),
    [
        ("status", None, (ChannelKind.CHANNEL, "status")),
        ("#my-processor", None, (ChannelKind.PROCESSOR, "#my-processor")),
        ("!reboot", None, (ChannelKind.TASK, "!reboot")),
        ("my-processor", ChannelKind.PROCESSOR, (ChannelKind.PROCESSOR, "#my-processor")),
        ("#p", ChannelKind.PROCESSOR, (ChannelKind.PROCESSOR, "#p")),
        ("temp °C (zone 1)", None, (ChannelKind.CHANNEL, "temp °C (zone 1)")),
        ("x" * 200, None, (ChannelKind.CHANNEL, "x" * 200)),
    ],
)
def test_channel_names(given: str, kind: ChannelKind | None, expected: object) -> None:
    assert parse_channel_name(given, kind) == expected


@pytest.mark.parametrize(
    ("given", "kind"),
    [
        ("", None),
        ("#", None),
        ("!", None),
        ("a/b", None),
        ("tab\there", None),
        ("new\nline", None),
        ("x" * 201, None),
        ("#proc", ChannelKind.TASK),
        ("#proc", ChannelKind.CHANNEL),
    ],
)
def test_bad_channel_names(given: str, kind: ChannelKind | None) -> None:
    with pytest.raises(ChannelNameError):
        parse_channel_name(given, kind)


def test_field_paths_and_intervals() -> None:
    assert parse_field_path("battery.level") == ["battery", "level"]
    for bad in ("", "a..b", "a.b'c", "$.x", ".".join("a" * 9)):
        with pytest.raises(ValueError, match="field path"):
            parse_field_path(bad)
    assert [parse_interval(x) for x in ("500ms", "30s", "5m", "1h", "1d", "1w")] == [
        500,
        30_000,
        300_000,
        3_600_000,
        86_400_000,
        604_800_000,
    ]
    assert format_interval(300_000) == "5m"
    assert format_interval(90_000) == "90s"
    for bad in ("0m", "5", "m", "1y", "-1h"):
        with pytest.raises(ValueError, match="duration"):
            parse_interval(bad)


def test_batch_items_name_one_target() -> None:
    BatchPublishItem(channel_id="ch_1", payload=1)
    BatchPublishItem(agent_id="agt_1", channel="status", payload=1)
    with pytest.raises(ValueError, match="channel_id"):
        BatchPublishItem(payload=1)
    with pytest.raises(ValueError, match="not both"):
        BatchPublishItem(channel_id="ch_1", agent_id="agt_1", channel="s", payload=1)


SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["temperature"],
    "properties": {
        "temperature": {"type": "number", "minimum": -50, "maximum": 150},
        "mode": {"enum": ["auto", "manual"]},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        "battery": {"type": "object", "properties": {"level": {"type": "integer"}}},
    },
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"temperature": 21.5}, None),
        ({"temperature": 21, "mode": "auto", "tags": ["a"], "battery": {"level": 3}}, None),
        ({}, "$.temperature: required"),
        ({"temperature": "hot"}, "$.temperature: expected number"),
        ({"temperature": True}, "$.temperature: expected number"),
        ({"temperature": 200}, "200 > maximum 150"),
        ({"temperature": 1, "mode": "off"}, "must be one of"),
        ({"temperature": 1, "tags": ["a", 1]}, "$.tags[1]: expected string"),
        ({"temperature": 1, "tags": ["a", "b", "c"]}, "more than 2 items"),
        ({"temperature": 1, "battery": {"level": 1.5}}, "$.battery.level: expected integer"),
        ({"temperature": 1, "extra": 1}, "$.extra: not allowed"),
        ([1], "$: expected object"),
    ],
)
def test_schema_validation(payload: Any, problem: str | None) -> None:
    errors = validate(payload, SCHEMA)
    if problem is None:
        assert errors == []
    else:
        assert any(problem in e for e in errors), errors


def test_schema_combinators() -> None:
    schema = {"oneOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]}
    assert validate("x", schema) == []
    assert validate(3, schema) == []
    assert validate(-1, schema)
    assert validate(None, schema)
    assert validate({"a": 1}, {"not": {"required": ["a"]}})
    assert validate(5, {"if": {"minimum": 3}, "then": {"multipleOf": 2}})
    assert validate(4, {"if": {"minimum": 3}, "then": {"multipleOf": 2}}) == []


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#/definitions/x"},
        {"type": "float"},
        {"properties": {"a": {"minimum": "1"}}},
        {"pattern": "("},
        {"anyOf": []},
        "not a schema",
        {"unknownKeyword": 1},
    ],
)
def test_unsupported_schemas_are_refused(schema: Any) -> None:
    with pytest.raises(SchemaError):
        check_schema(schema)


def test_annotations_are_accepted() -> None:
    check_schema({"title": "t", "description": "d", "format": "date-time", "type": "string"})
    check_schema(SCHEMA)
