"""What the software services share: loading an app the caller may see, models, events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.common import format_timestamp
from fleetyard.protocol.software import (
    RESTORE_WINDOW_DAYS,
    App,
    FileEntry,
    ServerAppRun,
    ServerManifest,
    Version,
)
from fleetyard.server.bus import Bus, BusEvent
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import optional_datetime, to_datetime
from fleetyard.server.services.errors import NotFound
from fleetyard.server.services.software import access
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.dialect import begin_write
from fleetyard.server.storage.repositories import versions as versions_repo
from fleetyard.server.storage.repositories.apps import AppRecord
from fleetyard.server.storage.repositories.versions import FileRecord, VersionRecord

RESTORE_WINDOW_MS = RESTORE_WINDOW_DAYS * 86_400_000

EVENT_PUBLISHED = "version.published"
EVENT_ROLLED_BACK = "version.rolled_back"


def software_topic(org_id: str) -> str:
    """The bus topic of an organisation's software events.

    >>> software_topic("org_1")
    'org:org_1:software'
    """
    return f"org:{org_id}:software"


@asynccontextmanager
async def writing(database: Database) -> AsyncIterator[AsyncConnection]:
    """A write transaction holding SQLite's write lock from its first statement."""
    async with database.engine.connect() as conn:
        await begin_write(conn, database.kind)
        yield conn
        await conn.commit()


def app_not_found(app_id: str) -> NotFound:
    return NotFound(f"App {app_id!r} was not found.")


def expired(record: AppRecord, now: int) -> bool:
    """Whether a deleted app is past its restore window (then it is gone for good)."""
    return record.deleted_at is not None and now - record.deleted_at >= RESTORE_WINDOW_MS


def check_visible(
    principal: Principal,
    record: AppRecord | None,
    app_id: str,
    *,
    permission: str,
    now: int,
    allow_deleted: bool = False,
) -> AppRecord:
    """The app if the caller may see it (404 otherwise) and holds ``permission`` (403).

    Seeing means ``read`` or ``permission`` itself (a rollback-only key sees the
    app it may roll back). A deleted app is 404 unless ``allow_deleted`` (and
    then still 404 past its restore window).
    """
    if record is None:
        raise app_not_found(app_id)
    seen = access.can(
        principal, site_id=record.site_id, app_id=record.id, permission=access.READ
    ) or access.can(principal, site_id=record.site_id, app_id=record.id, permission=permission)
    if not seen or expired(record, now):
        raise app_not_found(app_id)
    if record.deleted_at is not None and not allow_deleted:
        raise app_not_found(app_id)
    access.require(principal, site_id=record.site_id, app_id=record.id, permission=permission)
    return record


def version_model(
    record: VersionRecord, *, current_id: str | None, with_manifest: bool = False
) -> Version:
    manifest = None
    if with_manifest and record.manifest is not None:
        manifest = ServerManifest.model_validate(record.manifest)
    return Version(
        id=record.id,
        app_id=record.app_id,
        number=record.number,
        description=record.description,
        manifest_sha256=record.manifest_sha256,
        files=record.files,
        bytes=record.bytes,
        created_at=to_datetime(record.created_at),
        created_by=record.created_by,
        current=record.id == current_id,
        manifest=manifest,
    )


async def app_model(conn: AsyncConnection, record: AppRecord) -> App:
    """The wire app, with a summary of its current version."""
    return (await app_models(conn, [record]))[0]


async def app_models(conn: AsyncConnection, records: list[AppRecord]) -> list[App]:
    """Wire apps for many records, their current versions read in one query."""
    if not records:
        return []
    wanted = {r.current_version_id for r in records if r.current_version_id is not None}
    found = await versions_repo.get_many(conn, wanted, org_id=records[0].org_id)
    return [_app(r, found.get(r.current_version_id or "")) for r in records]


def _app(record: AppRecord, version: VersionRecord | None) -> App:
    current = None
    if version is not None:
        current = version_model(version, current_id=record.current_version_id)
    return App(
        id=record.id,
        site_id=record.site_id,
        name=record.name,
        targets=record.targets,
        extract_path=record.extract_path,
        run=ServerAppRun.model_validate(record.run),
        current_version=current,
        deleted_at=optional_datetime(record.deleted_at),
        created_at=to_datetime(record.created_at),
        updated_at=to_datetime(record.updated_at),
    )


def file_model(record: FileRecord) -> FileEntry:
    return FileEntry(
        path=record.path,
        type=record.kind,
        size=record.size,
        mode=None if record.kind == "symlink" else record.mode,
        digest=record.digest,
        target=record.target,
    )


async def announce(
    bus: Bus,
    *,
    org_id: str,
    type: str,
    app_id: str,
    site_id: str,
    version_id: str,
    number: int,
    at_ms: int,
) -> None:
    """Publish a software event once its transaction committed.

    The body is ``{app_id, site_id, version_id, number, at}``; ``key`` is the app
    and ``position`` the version number. ``/v1/stream`` delivers them
    (``software_events``) to the subscribers who may read the app.
    """
    body = {
        "app_id": app_id,
        "site_id": site_id,
        "version_id": version_id,
        "number": number,
        "at": format_timestamp(to_datetime(at_ms)),
    }
    await bus.publish(
        software_topic(org_id),
        BusEvent(type=type, key=app_id, position=number, body=json.dumps(body)),
    )
