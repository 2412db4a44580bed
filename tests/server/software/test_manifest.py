"""The manifest rules, its canonical form and the ids derived from it; version refs."""

from __future__ import annotations

import doctest
import hashlib
import json
from types import ModuleType
from typing import Any

import pytest
from pydantic import ValidationError

import fleetyard.protocol.canonical_json as canonical_json
import fleetyard.protocol.manifest_plain as manifest_plain
import fleetyard.protocol.software as software
from fleetyard.protocol.software import (
    Manifest,
    ManifestError,
    VersionRef,
    VersionRefError,
    canonical_manifest_json,
    check_path,
    manifest_sha256,
    parse_version_ref,
    resolve_symlink,
    version_id_for,
)
from tests.server.software.conftest import dir_entry, file_entry, link_entry


def _manifest(*entries: dict[str, Any]) -> Manifest:
    return Manifest.model_validate({"entries": list(entries)})


def _rejected(*entries: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        _manifest(*entries)
    errors = caught.value.errors()
    assert any(e["type"] == software.MANIFEST_INVALID for e in errors), errors
    return str(caught.value)


@pytest.mark.parametrize(
    ("module", "at_least"), [(software, 10), (manifest_plain, 5), (canonical_json, 1)]
)
def test_doctests(module: ModuleType, at_least: int) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= at_least
    assert result.failed == 0


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/etc/passwd",
        "../x",
        "a/../../x",
        "a//b",
        "a/./b",
        "./a",
        "a/",
        "a\\b",
        "a\x00b",
        "x" * 1025,
    ],
)
def test_bad_paths_are_refused(path: str) -> None:
    with pytest.raises(ManifestError):
        check_path(path)
    if path:  # an empty path fails the field's own length check first
        with pytest.raises(ValidationError):
            _manifest(file_entry(path, b"x"))


def test_good_paths_pass() -> None:
    assert check_path("a/b/c.txt") == "a/b/c.txt"
    assert check_path("ünï/cödé ✓") == "ünï/cödé ✓"
    assert check_path("..hidden/...") == "..hidden/..."


def test_duplicates_are_refused() -> None:
    assert "appears twice" in _rejected(file_entry("a", b"1"), file_entry("a", b"2"))
    assert "appears twice" in _rejected(dir_entry("d"), file_entry("d", b""))


def test_nothing_below_a_file_or_a_symlink() -> None:
    assert "not a directory" in _rejected(file_entry("f", b"1"), file_entry("f/x", b"2"))
    assert "not a directory" in _rejected(
        link_entry("l", "d"), dir_entry("d"), file_entry("l/x", b"2")
    )


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([link_entry("a/l", "../../x")], "leaves the tree"),
        ([link_entry("l", "/etc/passwd")], "absolute"),
        ([link_entry("l", "..")], "leaves the tree"),
        # Through another link: "up" is the root, so "up/.." is above it.
        ([link_entry("up", "."), dir_entry("d"), link_entry("d/l", "../up/..")], "leaves"),
        ([link_entry("a", "b"), link_entry("b", "a")], "loops"),
    ],
)
def test_symlinks_must_stay_inside(entries: list[dict[str, Any]], reason: str) -> None:
    assert reason in _rejected(*entries)


def test_symlinks_inside_are_kept() -> None:
    m = _manifest(
        dir_entry("bin"),
        file_entry("bin/run", b"#!/bin/sh\n"),
        link_entry("run", "bin/run"),
        link_entry("bin/self", "../bin"),
        link_entry("dangling", "not/yet/here"),
    )
    assert [e.path for e in m.entries] == ["bin", "bin/run", "bin/self", "dangling", "run"]
    assert resolve_symlink("bin/self", "../bin", {}) == "bin"


def test_file_sizes_must_add_up() -> None:
    entry = file_entry("f", b"hello")
    entry["size"] = 6
    assert "add up to 5" in _rejected(entry)
    assert "has a size" in _rejected({"path": "d", "type": "dir", "size": 3})
    assert "no target" in _rejected({"path": "l", "type": "symlink"})
    with pytest.raises(ValidationError):
        _manifest({"path": "f", "type": "file", "mode": 0o10000})
    with pytest.raises(ValidationError):  # chunk sizes are 1..8 MiB
        _manifest(
            {"path": "f", "type": "file", "size": 0, "chunks": [{"hash": "0" * 64, "size": 0}]}
        )
    with pytest.raises(ValidationError):
        _manifest(
            {"path": "f", "type": "file", "size": 1, "chunks": [{"hash": "A" * 64, "size": 1}]}
        )


def test_empty_files_and_empty_directories_are_kept() -> None:
    m = _manifest(dir_entry("empty"), dir_entry("a"), dir_entry("a/b"), file_entry("a/b/e", b""))
    assert [(e.path, e.type) for e in m.entries] == [
        ("a", "dir"),
        ("a/b", "dir"),
        ("a/b/e", "file"),
        ("empty", "dir"),
    ]
    empty = m.entries[2]
    assert (empty.size, empty.chunks) == (0, [])
    assert m.file_count == 1
    assert m.total_bytes == 0


def test_canonical_form_is_exact_and_order_independent() -> None:
    entries = [file_entry("b.txt", b"hi"), dir_entry("a"), link_entry("a/l", "../b.txt")]
    one = _manifest(*entries)
    two = _manifest(*reversed(entries))
    text = canonical_manifest_json(one)
    assert text == canonical_manifest_json(two)
    h = hashlib.sha256(b"hi").hexdigest()
    assert text == (
        '{"entries":[{"mode":493,"path":"a","type":"dir"},'
        '{"path":"a/l","target":"../b.txt","type":"symlink"},'
        f'{{"chunks":[{{"hash":"{h}","size":2}}],"mode":420,"path":"b.txt","size":2,'
        '"type":"file"}]}'
    )
    assert manifest_sha256(one) == hashlib.sha256(text.encode()).hexdigest()
    # The canonical text round-trips to the same manifest.
    assert canonical_manifest_json(Manifest.model_validate(json.loads(text))) == text


def test_entries_sort_by_utf8_bytes() -> None:
    # "é" (U+00E9) sorts after "z" in UTF-8 bytes; "Z" before "a".
    m = _manifest(file_entry("é", b""), file_entry("z", b""), file_entry("Z", b""))
    assert [e.path for e in m.entries] == ["Z", "z", "é"]
    assert '"é"' in canonical_manifest_json(m)  # not \u-escaped


def test_ids_are_stable_and_per_app() -> None:
    m = _manifest(file_entry("a", b"1"))
    sha = manifest_sha256(m)
    first = version_id_for("app_demo1", sha)
    assert first == version_id_for("app_demo1", sha)
    assert first != version_id_for("app_demo2", sha)
    expected = hashlib.sha256(f"app_demo1:{sha}".encode()).hexdigest()[:32]
    assert first == f"ver_{expected}"
    changed = _manifest(file_entry("a", b"1", mode=0o600))
    assert manifest_sha256(changed) != sha


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        (3, VersionRef("number", number=3)),
        ("3", VersionRef("number", number=3)),
        ("#3", VersionRef("number", number=3)),
        ("v3", VersionRef("number", number=3)),
        ("v12", VersionRef("number", number=12)),
        ("ver_abc123", VersionRef("id", id="ver_abc123")),
        ("current", VersionRef("current")),
        ("previous", VersionRef("previous")),
        ("first", VersionRef("first")),
    ],
)
def test_refs_of_every_form(ref: int | str, parsed: VersionRef) -> None:
    assert parse_version_ref(ref) == parsed


@pytest.mark.parametrize(
    "ref", [0, -1, True, "0", "#0", "v", "V3", "latest", "ver_", "3.0", "app_x", "#v3", "ver_ABC"]
)
def test_bad_refs(ref: int | str) -> None:
    with pytest.raises(VersionRefError):
        parse_version_ref(ref)
