"""JSON Merge Patch: the examples of RFC 7396, appendix A, and purity."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fleetyard.server.services.telemetry.merge import apply_publish, merge_patch

RFC_7396_APPENDIX_A = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC_7396_APPENDIX_A)
def test_rfc_7396_examples(target: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(target, patch) == expected


def test_merge_modifies_neither_input_nor_shares_patch_objects() -> None:
    target = {"a": {"x": 1}, "keep": {"y": 2}}
    patch = {"a": {"z": 3}, "n": {"deep": 1}}
    before_target, before_patch = copy.deepcopy(target), copy.deepcopy(patch)
    result = merge_patch(target, patch)
    assert target == before_target
    assert patch == before_patch
    assert result == {"a": {"x": 1, "z": 3}, "keep": {"y": 2}, "n": {"deep": 1}}
    assert result["n"] is not patch["n"]
    # A later merge into the result must not reach the stored patch.
    merge_patch(result, {"n": {"more": 2}})
    assert patch == before_patch


def test_null_deletes_nested_keys_and_missing_keys_are_fine() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"b": None}, "zz": None}) == {"a": {"c": 2}}


def test_override_replaces_instead_of_merging() -> None:
    assert apply_publish({"a": 1, "b": 2}, {"b": 3}, override=True) == {"b": 3}
    assert apply_publish({"a": 1, "b": 2}, {"b": 3}, override=False) == {"a": 1, "b": 3}
