"""Versions: publish with optimistic concurrency, refs, lists, files, diff and rollback.

Publishing takes the app's row first (:func:`apps_repo.lock`), so two
publishers serialise there; then, in this order:

1. the manifest's version id equals the current version → 200 with it (a
   retried publish is harmless, whatever ``expected_current`` it carries);
2. ``expected_current`` is not the current version → 412 ``version_stale``
   with ``current_version_id``;
3. the manifest equals an older version → 409 ``already_exists`` with
   ``version_id`` (roll back to it instead);
4. a chunk the app's site does not have → 422 ``chunk_missing`` with ``missing``;
5. otherwise the version (number = last + 1), its file rows and chunk
   references are stored, it becomes current, and ``version.published`` goes
   out on the bus after commit.

Example::

    version, created = await publish(database, bus, principal, app_id, body)
    await rollback(database, bus, principal, app_id, Rollback(to="previous"))
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.manifest_plain import (
    PlainEntry,
    PlainPublish,
)
from fleetyard.protocol.software import (
    App,
    FileChange,
    FileEntry,
    Rollback,
    Version,
    VersionDiff,
    VersionPublish,
    VersionRefError,
    VersionUpdate,
    canonical_json_sha256,
    chunk_list_digest,
    parse_version_ref,
    version_id_for,
)
from fleetyard.server.bus import Bus
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.chunks import references
from fleetyard.server.services.clock import now_ms
from fleetyard.server.services.errors import (
    BadRequest,
    Conflict,
    NotFound,
    PreconditionFailed,
    Unprocessable,
)
from fleetyard.server.services.pagination import PageRequest, PageResult
from fleetyard.server.services.software import access
from fleetyard.server.services.software._common import (
    EVENT_PUBLISHED,
    EVENT_ROLLED_BACK,
    announce,
    app_model,
    check_visible,
    file_model,
    version_model,
    writing,
)
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import apps as apps_repo
from fleetyard.server.storage.repositories import versions as repo
from fleetyard.server.storage.repositories.apps import AppRecord
from fleetyard.server.storage.repositories.versions import FileRecord, FileRow, VersionRecord

NUMBER_CURSOR_PREFIX = "num_"
"""Version lists page by number: the cursor key is ``num_<number>``."""


def version_not_found(ref: int | str) -> NotFound:
    return NotFound(f"No version {ref!r} in this app.", code=ErrorCode.VERSION_NOT_FOUND)


async def resolve(
    conn: AsyncConnection,
    app: AppRecord,
    ref: int | str,
    *,
    manifest: bool = False,
    relative_to: VersionRecord | None = None,
) -> VersionRecord:
    """The app's version a ref names; 404 ``version_not_found`` for anything else.

    ``previous`` is the version numbered just below the current one, or below
    ``relative_to`` when given (a diff's default "against").
    """
    try:
        parsed = parse_version_ref(ref)
    except VersionRefError:
        raise version_not_found(ref) from None
    org_id, app_id = app.org_id, app.id
    found: VersionRecord | None = None
    if parsed.kind == "number" and parsed.number is not None:
        found = await repo.get_by_number(
            conn, parsed.number, org_id=org_id, app_id=app_id, manifest=manifest
        )
    elif parsed.kind == "id" and parsed.id is not None:
        found = await repo.get_by_id(
            conn, parsed.id, org_id=org_id, app_id=app_id, manifest=manifest
        )
    elif parsed.kind == "current":
        if app.current_version_id is not None:
            found = await repo.get_by_id(
                conn, app.current_version_id, org_id=org_id, app_id=app_id, manifest=manifest
            )
    elif parsed.kind == "first":
        found = await repo.get_first(conn, org_id=org_id, app_id=app_id, manifest=manifest)
    else:
        base = relative_to
        if base is None and app.current_version_id is not None:
            base = await repo.get_by_id(conn, app.current_version_id, org_id=org_id, app_id=app_id)
        if base is not None:
            found = await repo.get_below(
                conn, base.number, org_id=org_id, app_id=app_id, manifest=manifest
            )
    if found is None:
        raise version_not_found(ref)
    return found


def _file_rows(entries: list[PlainEntry]) -> list[FileRow]:
    rows: list[FileRow] = []
    for e in entries:
        digest = None
        if e.type == "file":
            digest = chunk_list_digest([c["hash"] for c in e.chunks or []])
        rows.append((e.path, e.type, e.size or 0, e.mode or 0, digest, e.target))
    return rows


async def publish(
    database: Database,
    bus: Bus,
    principal: Principal,
    app_id: str,
    body: VersionPublish | PlainPublish,
) -> tuple[Version, bool]:
    """Publish ``body.manifest`` as the app's next version; ``(version, created)``.

    ``body`` may come as plain values (:func:`plain_publish` of a large body,
    without building 20,000 models). See the module docstring for the order of the
    checks. Scope ``write``.
    """
    now = now_ms()
    plain = body if isinstance(body, PlainPublish) else PlainPublish.of(body)
    # Stored as this text too: the form its sha256 names.
    sha = canonical_json_sha256(plain.canonical_json)
    version_id = version_id_for(app_id, sha)
    async with writing(database) as conn:
        app = check_visible(
            principal,
            await apps_repo.lock(conn, app_id, org_id=principal.org_id),
            app_id,
            permission=access.WRITE,
            now=now,
        )
        if app.current_version_id == version_id:
            current = await resolve(conn, app, "current")
            return version_model(current, current_id=app.current_version_id), False
        if plain.expected_current != app.current_version_id:
            raise PreconditionFailed(
                f"The app's current version is {app.current_version_id!r},"
                f" not {plain.expected_current!r}: another publish came first.",
                current_version_id=app.current_version_id,
            )
        older = await repo.get_by_id(conn, version_id, org_id=app.org_id, app_id=app.id)
        if older is not None:
            raise Conflict(
                f"This manifest is already version {older.number}; roll back to it instead.",
                code=ErrorCode.ALREADY_EXISTS,
                version_id=older.id,
                number=older.number,
            )
        hashes = {c["hash"] for e in plain.entries if e.chunks for c in e.chunks}
        missing = await references.missing_for_site(
            conn, org_id=app.org_id, site_id=app.site_id, hashes=hashes
        )
        if missing:
            raise Unprocessable(
                f"{len(missing)} chunk(s) of the manifest are not uploaded to the site.",
                code=ErrorCode.CHUNK_MISSING,
                missing=missing,
            )
        number = app.last_number + 1
        record = await repo.insert(
            conn,
            org_id=app.org_id,
            values={
                "id": version_id,
                "app_id": app.id,
                "number": number,
                "description": plain.description,
                "manifest_sha256": sha,
                "files": sum(1 for e in plain.entries if e.type == "file"),
                "bytes": sum(e.size or 0 for e in plain.entries if e.type == "file"),
                "created_by": principal.user_id or principal.api_key_id or principal.client_id,
                "created_at": now,
            },
            manifest_json=plain.canonical_json,
            files=_file_rows(plain.entries),
        )
        await references.add_version_references(
            conn,
            org_id=app.org_id,
            site_id=app.site_id,
            app_id=app.id,
            version_id=version_id,
            hashes=hashes,
        )
        await apps_repo.update(
            conn,
            app.id,
            org_id=app.org_id,
            values={"current_version_id": version_id, "last_number": number, "updated_at": now},
        )
    await announce(
        bus,
        org_id=app.org_id,
        type=EVENT_PUBLISHED,
        app_id=app.id,
        site_id=app.site_id,
        version_id=version_id,
        number=number,
        at_ms=now,
    )
    return version_model(record, current_id=version_id), True


async def _readable_app(
    conn: AsyncConnection, principal: Principal, app_id: str, *, permission: str = access.READ
) -> AppRecord:
    return check_visible(
        principal,
        await apps_repo.get(conn, app_id, org_id=principal.org_id),
        app_id,
        permission=permission,
        now=now_ms(),
    )


async def list_versions(
    database: Database, principal: Principal, app_id: str, page: PageRequest
) -> PageResult[Version]:
    """The app's versions, newest first."""
    below = None
    if page.after is not None:
        below = _number_of_cursor(page.after)
    async with database.connect() as conn:
        app = await _readable_app(conn, principal, app_id)
        rows = await repo.list_page(
            conn, org_id=app.org_id, app_id=app.id, below=below, limit=page.limit
        )
    shown = rows[: page.limit]
    more = len(rows) > page.limit and bool(shown)
    return PageResult(
        [version_model(r, current_id=app.current_version_id) for r in shown],
        f"{NUMBER_CURSOR_PREFIX}{shown[-1].number}" if more else None,
    )


def _number_of_cursor(key: str) -> int | None:
    if key.startswith(NUMBER_CURSOR_PREFIX) and key[len(NUMBER_CURSOR_PREFIX) :].isdigit():
        return int(key[len(NUMBER_CURSOR_PREFIX) :])
    raise BadRequest(
        "The cursor is not one this list handed out; start again without it.",
        code=ErrorCode.INVALID_CURSOR,
    )


async def get_version(
    database: Database, principal: Principal, app_id: str, ref: int | str
) -> Version:
    """One version with its manifest."""
    async with database.connect() as conn:
        app = await _readable_app(conn, principal, app_id)
        record = await resolve(conn, app, ref, manifest=True)
    return version_model(record, current_id=app.current_version_id, with_manifest=True)


async def update_version(
    database: Database, principal: Principal, app_id: str, ref: int | str, body: VersionUpdate
) -> Version:
    """Change a version's description (nothing else of a version ever changes). Scope ``write``."""
    async with writing(database) as conn:
        app = await _readable_app(conn, principal, app_id, permission=access.WRITE)
        record = await resolve(conn, app, ref)
        await repo.set_description(
            conn, record.id, org_id=app.org_id, app_id=app.id, description=body.description
        )
        updated = await repo.get_by_id(conn, record.id, org_id=app.org_id, app_id=app.id)
    return version_model(updated or record, current_id=app.current_version_id)


async def list_files(
    database: Database,
    principal: Principal,
    app_id: str,
    ref: int | str,
    *,
    after: str | None,
    limit: int,
) -> PageResult[FileEntry]:
    """A version's entries by path (UTF-8 byte order); ``next_after`` is the last path."""
    async with database.connect() as conn:
        app = await _readable_app(conn, principal, app_id)
        record = await resolve(conn, app, ref)
        rows = await repo.files_page(
            conn, database.kind, record.id, org_id=app.org_id, after=after, limit=limit
        )
    shown = rows[:limit]
    more = len(rows) > limit and bool(shown)
    return PageResult([file_model(r) for r in shown], shown[-1].path if more else None)


def _same(a: FileRecord, b: FileRecord) -> bool:
    return (a.kind, a.mode, a.digest, a.target, a.size) == (
        b.kind,
        b.mode,
        b.digest,
        b.target,
        b.size,
    )


async def diff(
    database: Database,
    principal: Principal,
    app_id: str,
    ref: int | str,
    *,
    against: int | str = "previous",
) -> VersionDiff:
    """What changed from ``against`` to ``ref``: added, removed, changed (with sizes).

    ``against="previous"`` means the version just below ``ref`` (not below
    the current one); 404 ``version_not_found`` when there is none.
    """
    async with database.connect() as conn:
        app = await _readable_app(conn, principal, app_id)
        new = await resolve(conn, app, ref)
        old = await resolve(conn, app, against, relative_to=new)
        new_files = {f.path: f for f in await repo.all_files(conn, new.id, org_id=app.org_id)}
        old_files = {f.path: f for f in await repo.all_files(conn, old.id, org_id=app.org_id)}

    def by_path(path: str) -> bytes:
        return path.encode("utf-8")

    added = [file_model(new_files[p]) for p in sorted(new_files.keys() - old_files, key=by_path)]
    removed = [file_model(old_files[p]) for p in sorted(old_files.keys() - new_files, key=by_path)]
    changed = [
        FileChange(
            path=p,
            old_size=old_files[p].size,
            new_size=new_files[p].size,
            type=new_files[p].kind,
        )
        for p in sorted(new_files.keys() & old_files.keys(), key=by_path)
        if not _same(new_files[p], old_files[p])
    ]
    return VersionDiff(
        from_version=old.id, to_version=new.id, added=added, removed=removed, changed=changed
    )


async def rollback(
    database: Database, bus: Bus, principal: Principal, app_id: str, body: Rollback
) -> App:
    """Make an earlier (or any other) version current again, creating no version.

    Scope ``rollback`` on the app or its site (``admin`` implies it, ``write``
    does not). Rolling back to the current version changes nothing and
    announces nothing.
    """
    now = now_ms()
    async with writing(database) as conn:
        app = check_visible(
            principal,
            await apps_repo.lock(conn, app_id, org_id=principal.org_id),
            app_id,
            permission=access.ROLLBACK,
            now=now,
        )
        target = await resolve(conn, app, body.to)
        if target.id == app.current_version_id:
            return await app_model(conn, app)
        updated = await apps_repo.update(
            conn,
            app.id,
            org_id=app.org_id,
            values={"current_version_id": target.id, "updated_at": now},
        )
        result = await app_model(conn, updated or app)
    await announce(
        bus,
        org_id=app.org_id,
        type=EVENT_ROLLED_BACK,
        app_id=app.id,
        site_id=app.site_id,
        version_id=target.id,
        number=target.number,
        at_ms=now,
    )
    return result
