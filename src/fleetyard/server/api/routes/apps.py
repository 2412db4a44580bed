"""``/v1/apps``: apps, their immutable versions, publishing and rollback."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from fleetyard.protocol.common import Page
from fleetyard.protocol.errors import PROBLEM_CONTENT_TYPE, ErrorCode, Problem
from fleetyard.protocol.manifest_plain import (
    PlainPublish,
    plain_publish,
)
from fleetyard.protocol.software import (
    MANIFEST_INVALID,
    App,
    AppCreate,
    AppUpdate,
    FileEntry,
    Rollback,
    Version,
    VersionDiff,
    VersionPublish,
    VersionUpdate,
    gc_paused,
)
from fleetyard.server.api import jsonbody
from fleetyard.server.api.auth import Authenticated
from fleetyard.server.api.deps import State
from fleetyard.server.api.pagination import Pagination, to_page
from fleetyard.server.api.routes._shared import SCOPED, SCOPED_ONE, ResourceId, problems
from fleetyard.server.api.routes._telemetry import OptionalId, StorableBody, body_doc
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.errors import BadRequest, Unprocessable
from fleetyard.server.services.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageResult
from fleetyard.server.services.software import access, apps, versions

router = APIRouter(prefix="/v1/apps", tags=["apps"])


def _somewhere(permission: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(principal: Authenticated) -> Principal:
        access.require_somewhere(principal, permission)
        return principal

    dependency.__name__ = f"require_software_{permission}"
    return dependency


# 403 before any lookup for a credential that holds the permission on no site
# and no app; which app it may touch is the service's call (404 / 403).
SoftwareRead = Annotated[Principal, Depends(_somewhere(access.READ))]
SoftwareWrite = Annotated[Principal, Depends(_somewhere(access.WRITE))]
SoftwareRollback = Annotated[Principal, Depends(_somewhere(access.ROLLBACK))]

Ref = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        description="A version: `3`, `#3` (send `%233`), `v3`, a `ver_…` id, `current`,"
        " `previous` or `first`.",
    ),
]


def _problem(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "model": Problem,
            "description": description,
            "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    }


VERSION_404 = _problem(
    404,
    "No such app in the caller's organisation (`not_found`) or no such version"
    " (`version_not_found`).",
)


# -- apps ------------------------------------------------------------------------------------


@router.post(
    "",
    status_code=201,
    response_model=App,
    summary="Create an app",
    responses=problems(*SCOPED_ONE, 409),
)
async def create_app(
    principal: SoftwareWrite, _storable: StorableBody, state: State, body: AppCreate
) -> App:
    """A new app in a site, with an optional caller-chosen `id` (409 `already_exists`
    when taken). Targets must be agents of the site (422). Scope `write` on the site."""
    return await apps.create(state.database, principal, body)


@router.get("", response_model=Page[App], summary="List apps", responses=problems(400, *SCOPED))
async def list_apps(
    principal: SoftwareRead,
    state: State,
    page: Pagination,
    site_id: OptionalId = None,
    include_deleted: Annotated[
        bool, Query(description="Also deleted apps that can still be restored.")
    ] = False,
) -> Page[App]:
    """Apps the caller may read, by id; deleted ones only with `include_deleted`."""
    result = await apps.list_apps(
        state.database, principal, page, site_id=site_id, include_deleted=include_deleted
    )
    return to_page(result)


@router.get("/{app_id}", response_model=App, summary="Get an app", responses=problems(*SCOPED_ONE))
async def get_app(app_id: ResourceId, principal: SoftwareRead, state: State) -> App:
    """One app with a summary of its current version (a deleted one shows `deleted_at`)."""
    return await apps.get(state.database, principal, app_id)


@router.patch(
    "/{app_id}", response_model=App, summary="Update an app", responses=problems(*SCOPED_ONE)
)
async def update_app(
    app_id: ResourceId,
    principal: SoftwareWrite,
    _storable: StorableBody,
    state: State,
    body: AppUpdate,
) -> App:
    """Rename, retarget, move (`extract_path`) or change run settings. Scope `write`."""
    return await apps.update(state.database, principal, app_id, body)


@router.delete(
    "/{app_id}", response_model=App, summary="Delete an app", responses=problems(*SCOPED_ONE)
)
async def delete_app(app_id: ResourceId, principal: SoftwareWrite, state: State) -> App:
    """Soft-delete: hidden from lists, no publishing or rollback, restorable for 30 days."""
    return await apps.delete(state.database, principal, app_id)


@router.post(
    "/{app_id}/restore",
    response_model=App,
    summary="Restore a deleted app",
    responses=problems(*SCOPED_ONE),
)
async def restore_app(app_id: ResourceId, principal: SoftwareWrite, state: State) -> App:
    """Undo a delete within 30 days; after that the app is 404. Scope `write`."""
    return await apps.restore(state.database, principal, app_id)


# -- versions --------------------------------------------------------------------------------


_NOT_PLAIN = re.compile(rb"NaN|Infinity|\\u0000|\\u[dD][89a-fA-F]")
"""JSON that :func:`jsonbody.check_storable` may refuse: constants, NUL, surrogates."""


def _plain_publish(raw: bytes) -> PlainPublish | None:
    """The body when it is plain JSON holding a plainly valid publish (what the SDK
    sends), parsed and checked without the models (most of the cost of a large
    publish); ``None`` for anything else, which the models then validate.

    A plain body passes :func:`jsonbody.check_storable` (no constant, NUL or
    surrogate escape; no number but small integers, checked by ``plain_publish``)
    and the models would accept it as it is.
    """
    if (b"NaN" in raw or b"Infinity" in raw or b"\\u" in raw) and _NOT_PLAIN.search(raw):
        return None
    with gc_paused():
        try:
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):
            return None
        return plain_publish(data)


def _parse_publish(raw: bytes) -> VersionPublish | PlainPublish:
    """The body, with a broken manifest rule answered 422 ``manifest_invalid``."""
    plain = _plain_publish(raw)
    if plain is not None:
        return plain
    try:
        return jsonbody.parse(raw, VersionPublish)
    except RequestValidationError as exc:
        errors = exc.errors()
        broken = [e for e in errors if e.get("type") == MANIFEST_INVALID]
        if not broken:
            raise
        raise Unprocessable(
            "; ".join(str(e.get("msg", "")) for e in broken[:5]),
            code=ErrorCode.MANIFEST_INVALID,
            errors=[
                {"loc": list(e.get("loc", ())), "message": str(e.get("msg", "")), "type": e["type"]}
                for e in errors
            ],
        ) from None


@router.post(
    "/{app_id}/versions",
    status_code=201,
    response_model=Version,
    summary="Publish a version",
    responses={
        **problems(400, 401, 403),
        **VERSION_404,
        **_problem(409, "The manifest is an older version (`already_exists`, with `version_id`)."),
        **_problem(
            412,
            "Another version became current first (`version_stale`, with `current_version_id`).",
        ),
        **_problem(
            422,
            "Invalid body (`validation_failed`), manifest (`manifest_invalid`) or chunks"
            " the site lacks (`chunk_missing`, with `missing`).",
        ),
    },
    openapi_extra=body_doc(VersionPublish, "The manifest and the version expected current."),
)
async def publish_version(
    app_id: ResourceId, principal: SoftwareWrite, state: State, request: Request, response: Response
) -> Version:
    """Publish a manifest as the app's next version and make it current.

    `expected_current` names the version the caller believes is current (`null`:
    none yet); if another publish came first: 412 `version_stale` with
    `current_version_id`. The same manifest as the current version answers 200
    with it (no new version); the same as an older one, 409 `already_exists`
    with `version_id` (roll back instead). Every chunk must be on the app's site
    (422 `chunk_missing` with `missing`). Scope `write`.
    """
    body = _parse_publish(await request.body())
    version, created = await versions.publish(state.database, state.bus, principal, app_id, body)
    if not created:
        response.status_code = 200
    return version


@router.get(
    "/{app_id}/versions",
    response_model=Page[Version],
    summary="List versions",
    responses=problems(400, *SCOPED_ONE),
)
async def list_versions(
    app_id: ResourceId, principal: SoftwareRead, state: State, page: Pagination
) -> Page[Version]:
    """The app's versions, newest first (without manifests)."""
    return to_page(await versions.list_versions(state.database, principal, app_id, page))


@router.get(
    "/{app_id}/versions/{ref}",
    response_model=Version,
    summary="Get a version",
    responses={**problems(401, 403, 422), **VERSION_404},
)
async def get_version(
    app_id: ResourceId, ref: Ref, principal: SoftwareRead, state: State
) -> Version:
    """One version by any ref, with its manifest."""
    return await versions.get_version(state.database, principal, app_id, ref)


@router.patch(
    "/{app_id}/versions/{ref}",
    response_model=Version,
    summary="Edit a version's description",
    responses={**problems(401, 403, 422), **VERSION_404},
)
async def update_version(
    app_id: ResourceId,
    ref: Ref,
    principal: SoftwareWrite,
    _storable: StorableBody,
    state: State,
    body: VersionUpdate,
) -> Version:
    """Change the description (≤ 500 characters), the only thing of a version that changes."""
    return await versions.update_version(state.database, principal, app_id, ref, body)


def _encode_path_cursor(path: str) -> str:
    return base64.urlsafe_b64encode(path.encode("utf-8")).rstrip(b"=").decode("ascii")


def _decode_path_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        path = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeError, binascii.Error):
        path = ""
    if not path:
        raise BadRequest(
            "The cursor is not one this server handed out; start again without it.",
            code=ErrorCode.INVALID_CURSOR,
        )
    return path


@router.get(
    "/{app_id}/versions/{ref}/files",
    response_model=Page[FileEntry],
    summary="List a version's files",
    responses={**problems(400, 401, 403, 422), **VERSION_404},
)
async def list_files(
    app_id: ResourceId,
    ref: Ref,
    principal: SoftwareRead,
    state: State,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="How many at most.")] = (
        DEFAULT_LIMIT
    ),
    cursor: Annotated[
        str | None, Query(max_length=2000, description="`next_cursor` of the previous page.")
    ] = None,
) -> Page[FileEntry]:
    """Every file, directory and symlink of the version, by path (UTF-8 byte order)."""
    after = None if cursor is None else _decode_path_cursor(cursor)
    result: PageResult[FileEntry] = await versions.list_files(
        state.database, principal, app_id, ref, after=after, limit=limit
    )
    next_cursor = None if result.next_after is None else _encode_path_cursor(result.next_after)
    return Page[FileEntry](items=result.items, next_cursor=next_cursor)


@router.get(
    "/{app_id}/versions/{ref}/diff",
    response_model=VersionDiff,
    summary="Compare two versions",
    responses={**problems(401, 403, 422), **VERSION_404},
)
async def diff_versions(
    app_id: ResourceId,
    ref: Ref,
    principal: SoftwareRead,
    state: State,
    against: Annotated[
        str,
        Query(
            min_length=1,
            max_length=64,
            description="The version to compare with; `previous` is the one just below `ref`.",
        ),
    ] = "previous",
) -> VersionDiff:
    """Entries added, removed and changed (with old and new sizes) from `against` to `ref`."""
    return await versions.diff(state.database, principal, app_id, ref, against=against)


@router.post(
    "/{app_id}/rollback",
    response_model=App,
    summary="Roll back to an earlier version",
    responses={**problems(401, 403, 422), **VERSION_404},
)
async def rollback(
    app_id: ResourceId,
    principal: SoftwareRollback,
    _storable: StorableBody,
    state: State,
    body: Rollback | None = None,
) -> App:
    """Make another version current again (default `previous`) without creating one.

    Scope `rollback` on the app or its site: `admin` implies it, `write` does not.
    Announces `version.rolled_back`.
    """
    return await versions.rollback(state.database, state.bus, principal, app_id, body or Rollback())
