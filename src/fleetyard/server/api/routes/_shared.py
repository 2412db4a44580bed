"""What route modules share: declared problem answers and path-id parameters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path

from fleetyard.protocol.errors import PROBLEM_CONTENT_TYPE, Problem

_DESCRIPTIONS = {
    400: "Bad request (`bad_request`, `invalid_json`, `invalid_cursor`).",
    401: "No valid credentials (`unauthenticated`, `token_expired`, `invalid_credentials`…).",
    403: "The caller's scopes do not allow this (`scope_insufficient`).",
    404: "No such resource in the caller's organisation (`not_found`).",
    409: "Conflicts with the current state (`conflict`, `already_exists`).",
    412: "`If-Match` names another version (`version_stale`, with `current_version`).",
    422: "The request is well-formed JSON but invalid (`validation_failed`, with `errors`).",
    503: "Overloaded or not accepting writes now (`overloaded`, `unavailable`); see `Retry-After`.",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for these statuses, each an ``application/problem+json`` body."""
    return {
        status: {
            "model": Problem,
            "description": _DESCRIPTIONS[status],
            "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


AUTHENTICATED = (401, 422)
"""Problems of a route open to any caller with a valid token."""
SCOPED = (401, 403, 422)
"""Problems of a route that needs a scope."""
SCOPED_ONE = (401, 403, 404, 422)
"""Problems of a route that needs a scope and names a resource."""


ResourceId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$", description="An id.")
]
"""A resource id in a path: a malformed one is 422, never a database error."""
