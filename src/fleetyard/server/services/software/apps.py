"""Apps: create, list, get, patch, soft-delete and restore.

A deleted app keeps its rows, is hidden from lists (unless asked for) and
refuses versions and rollbacks; it can be restored for
:data:`~fleetyard.protocol.software.RESTORE_WINDOW_DAYS` days. Past that it
answers 404 everywhere, and the hourly ``apps.purge`` job
(:mod:`~fleetyard.server.services.software.purge`) removes its rows.

Example::

    app = await create(database, principal, AppCreate(site_id=site, name="kiosk"))
    await delete(database, principal, app.id)
    await restore(database, principal, app.id)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.ids import new_id
from fleetyard.protocol.software import APP_ID_PREFIX, App, AppCreate, AppUpdate
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import now_ms
from fleetyard.server.services.errors import Conflict, NotFound, Unprocessable
from fleetyard.server.services.pagination import PageRequest, PageResult
from fleetyard.server.services.software import access
from fleetyard.server.services.software._common import (
    RESTORE_WINDOW_MS,
    app_model,
    app_models,
    check_visible,
    writing,
)
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import apps as repo
from fleetyard.server.storage.repositories import sites as sites_repo
from fleetyard.server.storage.repositories._common import DuplicateError


async def _checked_targets(
    conn: AsyncConnection, targets: Sequence[str], *, org_id: str, site_id: str
) -> list[str]:
    """``targets`` without repeats; 422 naming each one that is no agent of the site."""
    unique = list(dict.fromkeys(targets))
    known = await repo.agents_in_site(conn, unique, org_id=org_id, site_id=site_id)
    errors = [
        {
            "loc": ["body", "targets", index],
            "message": f"{agent_id!r} is not an agent of site {site_id!r}",
            "type": "unknown_agent",
        }
        for index, agent_id in enumerate(targets)
        if agent_id not in known
    ]
    if errors:
        raise Unprocessable(
            "Every target must be an agent of the app's site.",
            code=ErrorCode.VALIDATION_FAILED,
            errors=errors,
        )
    return unique


async def create(database: Database, principal: Principal, body: AppCreate) -> App:
    """A new app in a site. Scope ``write`` on the site; 404 for a site the caller cannot see,
    409 ``already_exists`` when the chosen id is taken, 422 for targets outside the site."""
    now = now_ms()
    async with writing(database) as conn:
        site = await sites_repo.get(conn, body.site_id, org_id=principal.org_id)
        if site is None or not access.can(
            principal, site_id=site.id, app_id=None, permission=access.READ
        ):
            raise NotFound(f"Site {body.site_id!r} was not found.")
        access.require(principal, site_id=site.id, app_id=None, permission=access.WRITE)
        targets = await _checked_targets(
            conn, body.targets, org_id=principal.org_id, site_id=site.id
        )
        app_id = body.id or new_id(APP_ID_PREFIX)
        try:
            record = await repo.insert(
                conn,
                org_id=principal.org_id,
                values={
                    "id": app_id,
                    "site_id": site.id,
                    "name": body.name,
                    "targets": targets,
                    "extract_path": body.extract_path,
                    "run": body.run.model_dump(mode="json"),
                    "created_at": now,
                    "updated_at": now,
                },
            )
        except DuplicateError:
            raise Conflict(
                f"An app with id {app_id!r} already exists.", code=ErrorCode.ALREADY_EXISTS
            ) from None
        return await app_model(conn, record)


async def list_apps(
    database: Database,
    principal: Principal,
    page: PageRequest,
    *,
    site_id: str | None = None,
    include_deleted: bool = False,
) -> PageResult[App]:
    """Apps the caller may read, by id; deleted ones (still restorable) only when asked."""
    sites, app_ids = access.visible(principal)
    now = now_ms()
    async with database.connect() as conn:
        rows = await repo.list_page(
            conn,
            org_id=principal.org_id,
            visible_sites=sites,
            visible_apps=app_ids,
            site_id=site_id,
            deleted_after=now - RESTORE_WINDOW_MS if include_deleted else None,
            after=page.after,
            limit=page.limit,
        )
        shown = rows[: page.limit]
        items = await app_models(conn, shown)
    more = len(rows) > page.limit and bool(shown)
    return PageResult(items, shown[-1].id if more else None)


async def get(database: Database, principal: Principal, app_id: str) -> App:
    """One app (a deleted one too, while restorable: see ``deleted_at``)."""
    async with database.connect() as conn:
        record = check_visible(
            principal,
            await repo.get(conn, app_id, org_id=principal.org_id),
            app_id,
            permission=access.READ,
            now=now_ms(),
            allow_deleted=True,
        )
        return await app_model(conn, record)


async def update(database: Database, principal: Principal, app_id: str, body: AppUpdate) -> App:
    """Rename, retarget, move or change run settings. Scope ``write``; 404 when deleted."""
    now = now_ms()
    async with writing(database) as conn:
        record = check_visible(
            principal,
            await repo.lock(conn, app_id, org_id=principal.org_id),
            app_id,
            permission=access.WRITE,
            now=now,
        )
        values: dict[str, Any] = {}
        sent = body.model_fields_set
        if body.name is not None:
            values["name"] = body.name
        if body.targets is not None:
            values["targets"] = await _checked_targets(
                conn, body.targets, org_id=principal.org_id, site_id=record.site_id
            )
        if "extract_path" in sent:
            values["extract_path"] = body.extract_path
        if body.run is not None:
            values["run"] = body.run.model_dump(mode="json")
        if values:
            values["updated_at"] = now
            updated = await repo.update(conn, app_id, org_id=principal.org_id, values=values)
            record = updated or record
        return await app_model(conn, record)


async def delete(database: Database, principal: Principal, app_id: str) -> App:
    """Soft-delete: hidden from lists, restorable for 30 days. Deleting twice changes nothing."""
    now = now_ms()
    async with writing(database) as conn:
        record = check_visible(
            principal,
            await repo.lock(conn, app_id, org_id=principal.org_id),
            app_id,
            permission=access.WRITE,
            now=now,
            allow_deleted=True,
        )
        if record.deleted_at is None:
            values = {"deleted_at": now, "updated_at": now}
            record = (
                await repo.update(conn, app_id, org_id=principal.org_id, values=values) or record
            )
        return await app_model(conn, record)


async def restore(database: Database, principal: Principal, app_id: str) -> App:
    """Undo a delete within 30 days (404 after). Restoring a live app changes nothing."""
    now = now_ms()
    async with writing(database) as conn:
        record = check_visible(
            principal,
            await repo.lock(conn, app_id, org_id=principal.org_id),
            app_id,
            permission=access.WRITE,
            now=now,
            allow_deleted=True,
        )
        if record.deleted_at is not None:
            values = {"deleted_at": None, "updated_at": now}
            record = (
                await repo.update(conn, app_id, org_id=principal.org_id, values=values) or record
            )
        return await app_model(conn, record)
