"""JSON Merge Patch (RFC 7396): how a published payload changes a channel's aggregate.

- an object patch merges key by key, recursively;
- ``null`` as a member's value deletes that member;
- anything else (array, string, number, boolean, or a non-object patch as a
  whole) replaces what was there.

``override_aggregate`` skips the merge: the payload becomes the aggregate.
"""

from __future__ import annotations

from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply ``patch`` to ``target`` and return the result; neither is modified.

    The result shares untouched sub-objects with ``target`` and never shares
    an object with ``patch`` (objects from the patch are rebuilt, which also
    drops their ``null`` members, as the RFC says), so later merges into the
    result cannot reach back into a stored message.

    >>> merge_patch({"a": "b", "c": {"d": "e", "f": "g"}}, {"a": "z", "c": {"f": None}})
    {'a': 'z', 'c': {'d': 'e'}}
    """
    # ``type(x) is dict`` rather than isinstance: JSON decodes to plain dicts,
    # and this runs once per published message on the ingest path.
    if type(patch) is not dict:
        return patch
    result = target.copy() if type(target) is dict else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif type(value) is dict:
            result[key] = merge_patch(result.get(key), value)
        else:
            result[key] = value
    return result


def apply_publish(aggregate: Any, payload: Any, *, override: bool) -> Any:
    """The aggregate after one publish: replaced when ``override``, else merged."""
    return payload if override else merge_patch(aggregate, payload)
