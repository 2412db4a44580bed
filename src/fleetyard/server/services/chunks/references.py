"""What app versions tell the chunk store: which chunks a site lacks, and which
chunks a new version references.

Called by the version service inside its publish transaction (the same
connection), so the references commit or roll back with the version.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.repositories import chunks as repo


async def missing_for_site(
    conn: AsyncConnection, *, org_id: str, site_id: str, hashes: Collection[str]
) -> list[str]:
    """The hashes among ``hashes`` that the site has not uploaded or mounted, sorted
    and without duplicates (the ``missing`` list of 422 ``chunk_missing``)."""
    # Locked: the GC job cannot remove them before the publish commits.
    present = await repo.site_sizes(conn, org_id=org_id, site_id=site_id, hashes=hashes, lock=True)
    return sorted(set(hashes) - present.keys())


async def add_version_references(
    conn: AsyncConnection,
    *,
    org_id: str,
    site_id: str,
    app_id: str,
    version_id: str,
    hashes: Collection[str],
) -> None:
    """Record that ``version_id`` (of ``app_id`` in ``site_id``) uses ``hashes``; the
    version row must already be inserted on ``conn``. Referenced chunks are no
    longer candidates for garbage collection."""
    await repo.add_version_chunks(
        conn,
        org_id=org_id,
        site_id=site_id,
        app_id=app_id,
        version_id=version_id,
        hashes=hashes,
    )


async def version_deleted(conn: AsyncConnection) -> None:
    """Nothing to do yet: the GC job notices chunks whose versions are gone
    (``version_chunks`` rows cascade with their version) and starts their grace
    period then."""
    del conn
