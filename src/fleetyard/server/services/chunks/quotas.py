"""A site's chunk storage: bytes used, the limit, and the usage by day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fleetyard.protocol.chunks import Quota, QuotaDay, QuotaHistory, QuotaUpdate, Referrer
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.chunks import _access
from fleetyard.server.services.chunks.uploads import Chunks
from fleetyard.server.services.clock import now_ms
from fleetyard.server.services.pagination import PageRequest, PageResult, cut
from fleetyard.server.storage.dialect import begin_write
from fleetyard.server.storage.repositories import chunks as repo

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def day_text(day: int) -> str:
    """``YYYY-MM-DD`` of a day number (days since the epoch).

    >>> day_text(0), day_text(20454)
    ('1970-01-01', '2026-01-01')
    """
    return (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")


async def get_quota(ctx: Chunks, principal: Principal, site_id: str) -> Quota:
    async with ctx.database.connect() as conn:
        await _access.require_site(conn, principal, site_id, _access.READ)
        record = await repo.get_quota(
            conn, org_id=principal.org_id, site_id=site_id, default_limit=ctx.default_limit
        )
    return Quota(site_id=site_id, used_bytes=record.used_bytes, limit_bytes=record.limit_bytes)


async def set_quota(ctx: Chunks, principal: Principal, site_id: str, body: QuotaUpdate) -> Quota:
    """Set the limit (admin on the site). A limit below current usage is allowed: it only
    refuses new chunks until usage falls under it."""
    async with ctx.database.engine.connect() as conn:
        await begin_write(conn, ctx.database.kind)
        await _access.require_site(conn, principal, site_id, _access.ADMIN)
        await repo.set_limit(
            conn,
            org_id=principal.org_id,
            site_id=site_id,
            limit_bytes=body.limit_bytes,
            default_limit=ctx.default_limit,
            now=now_ms(),
        )
        record = await repo.get_quota(
            conn, org_id=principal.org_id, site_id=site_id, default_limit=ctx.default_limit
        )
        await conn.commit()
    return Quota(site_id=site_id, used_bytes=record.used_bytes, limit_bytes=record.limit_bytes)


async def quota_history(
    ctx: Chunks, principal: Principal, site_id: str, *, days: int
) -> QuotaHistory:
    since = now_ms() // repo.DAY_MS - days + 1
    async with ctx.database.connect() as conn:
        await _access.require_site(conn, principal, site_id, _access.READ)
        rows = await repo.history(conn, org_id=principal.org_id, site_id=site_id, since_day=since)
    return QuotaHistory(items=[QuotaDay(day=day_text(d), used_bytes=u) for d, u in rows])


async def referrers(
    ctx: Chunks, principal: Principal, site_id: str, hash: str, page: PageRequest
) -> PageResult[Referrer]:
    async with ctx.database.connect() as conn:
        await _access.require_site(conn, principal, site_id, _access.READ)
        rows = await repo.referrers(
            conn,
            org_id=principal.org_id,
            site_id=site_id,
            hash=hash,
            after=page.after,
            limit=page.limit,
        )
    return cut(
        rows,
        page,
        lambda r: r.version_id,
        lambda r: Referrer(app_id=r.app_id, version_id=r.version_id, number=r.number),
    )
