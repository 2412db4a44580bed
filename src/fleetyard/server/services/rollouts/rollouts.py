"""Deploy, list, get and cancel rollouts; the agent's chunk links for a deployment.

Rules:

- Deploying needs the permission ``deploy`` on the app or its site
  (``admin`` implies it, ``write`` does not); so does cancelling. Reading
  needs ``read`` on the app or its site; an agent's rollouts need ``read`` on
  the agent or its site. Anything of another organisation (or invisible to
  the caller) is 404.
- The machines are the app's ``targets`` when ``machines`` is null; a given
  list must be a subset of the targets (422 ``validation_failed`` naming the
  others): targets stay the one place that says where an app lives.
- One rollout per app at a time: a deploy while one is ``scheduled`` or
  ``running`` is 409 ``conflict`` with its ``rollout_id`` (cancel it first).
- ``dry_run`` answers the machines and waves it would use, stores nothing.

Example::

    rollout, stored = await deploy(database, bus, principal, app_id, DeployRequest())
    await cancel(database, bus, principal, rollout.id)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.agent_session import DeployStart
from fleetyard.protocol.chunks import (
    DOWNLOAD_URL_TTL_SECONDS,
    DownloadUrl,
    DownloadUrls,
    DownloadUrlsRequest,
)
from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.ids import new_id
from fleetyard.protocol.rollouts import (
    FINISHED_ROLLOUT_STATES,
    ROLLOUT_ID_PREFIX,
    DeployRequest,
    MachineState,
    Rollout,
    RolloutState,
)
from fleetyard.server import jobs
from fleetyard.server.bus import Bus
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.chunks import signing
from fleetyard.server.services.chunks.uploads import ChunkMissing, Chunks
from fleetyard.server.services.clock import now_ms, to_datetime, to_ms
from fleetyard.server.services.errors import Conflict, NotFound, Unprocessable
from fleetyard.server.services.executions._common import actor
from fleetyard.server.services.pagination import PageRequest, PageResult
from fleetyard.server.services.rollouts import engine
from fleetyard.server.services.rollouts._common import (
    DEPLOY,
    Effects,
    deliver,
    rollout_model,
    writing,
)
from fleetyard.server.services.software import access
from fleetyard.server.services.software._common import check_visible
from fleetyard.server.services.software.versions import resolve
from fleetyard.server.services.telemetry import access as telemetry_access
from fleetyard.server.services.telemetry.agents import load_agent
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import apps as apps_repo
from fleetyard.server.storage.repositories import rollouts as repo
from fleetyard.server.storage.repositories import versions as versions_repo
from fleetyard.server.storage.repositories.apps import AppRecord
from fleetyard.server.storage.repositories.rollouts import MachineRecord, RolloutRecord
from fleetyard.server.storage.repositories.telemetry import agents as agents_repo


def _not_found(rollout_id: str) -> NotFound:
    return NotFound(f"Rollout {rollout_id!r} was not found.")


def _machines(app: AppRecord, body: DeployRequest) -> list[str]:
    if body.machines is None:
        chosen = list(dict.fromkeys(app.targets))
    else:
        targets = set(app.targets)
        errors = [
            {
                "loc": ["body", "machines", index],
                "message": f"{agent_id!r} is not a target of app {app.id!r}",
                "type": "unknown_target",
            }
            for index, agent_id in enumerate(body.machines)
            if agent_id not in targets
        ]
        if errors:
            raise Unprocessable(
                "Every machine must be one of the app's targets.",
                code=ErrorCode.VALIDATION_FAILED,
                errors=errors,
            )
        chosen = list(dict.fromkeys(body.machines))
    if not chosen:
        raise Unprocessable(
            "There is no machine to deploy to: the app has no targets and none were named.",
            code=ErrorCode.VALIDATION_FAILED,
            errors=[{"loc": ["body", "machines"], "message": "no machines", "type": "no_machines"}],
        )
    return chosen


async def deploy(
    database: Database, bus: Bus, principal: Principal, app_id: str, body: DeployRequest
) -> tuple[Rollout, bool]:
    """Start (or schedule) a rollout; ``(rollout, stored)`` — not stored for a dry run."""
    now = now_ms()
    effects = Effects()
    async with writing(database) as conn:
        app = check_visible(
            principal,
            await apps_repo.lock(conn, app_id, org_id=principal.org_id),
            app_id,
            permission=DEPLOY,
            now=now,
        )
        version = await resolve(conn, app, body.version)
        machines = engine.plan_waves(_machines(app, body), body)
        rollout_id = new_id(ROLLOUT_ID_PREFIX, now_ms=now)
        schedule_at = None if body.schedule_at is None else to_ms(body.schedule_at)
        if body.dry_run:
            record = _record(principal, rollout_id, app, version.id, body, "dry_run", now)
            rows = [_machine_row(principal, rollout_id, a, w, now) for a, w in machines]
            await conn.rollback()
            return rollout_model(record, rows, version_number=version.number), False
        active = await repo.active_for_app(conn, app.id, org_id=app.org_id)
        if active is not None:
            raise Conflict(
                f"App {app.id!r} has a rollout in progress ({active}); cancel it first.",
                code=ErrorCode.CONFLICT,
                rollout_id=active,
            )
        scheduled = schedule_at is not None and schedule_at > now
        state = RolloutState.SCHEDULED if scheduled else RolloutState.RUNNING
        record = _record(principal, rollout_id, app, version.id, body, "scheduled", now)
        values = {
            "id": rollout_id,
            "app_id": app.id,
            "version_id": version.id,
            "state": RolloutState.SCHEDULED.value,
            "options": record.options,
            "schedule_at": schedule_at,
            "job_id": None,
            "created_by": record.created_by,
            "created_at": now,
            "updated_at": now,
            "finished_at": None,
        }
        await repo.insert(conn, org_id=app.org_id, values=values, machines=machines)
        if state == RolloutState.SCHEDULED:
            assert schedule_at is not None
            job_id = await jobs.enqueue(
                conn,
                kind=engine.START,
                payload={"rollout_id": rollout_id},
                run_at_ms=schedule_at,
                org_id=app.org_id,
            )
            await repo.update(conn, rollout_id, org_id=app.org_id, values={"job_id": job_id})
        else:
            stored = await repo.get(conn, rollout_id, org_id=app.org_id)
            assert stored is not None
            await engine.begin(conn, effects, stored, now=now)
        result = await _model(conn, rollout_id, org_id=app.org_id)
    await deliver(bus, app.org_id, effects)
    return result, True


def _record(
    principal: Principal,
    rollout_id: str,
    app: AppRecord,
    version_id: str,
    body: DeployRequest,
    state: str,
    now: int,
) -> RolloutRecord:
    return RolloutRecord(
        id=rollout_id,
        org_id=app.org_id,
        app_id=app.id,
        version_id=version_id,
        state=state,
        options=body.model_dump(mode="json"),
        schedule_at=None if body.schedule_at is None else to_ms(body.schedule_at),
        job_id=None,
        created_by=actor(principal),
        created_at=now,
        updated_at=now,
        finished_at=None,
    )


def _machine_row(
    principal: Principal, rollout_id: str, agent_id: str, wave: int, now: int
) -> MachineRecord:
    return MachineRecord(
        rollout_id=rollout_id,
        agent_id=agent_id,
        org_id=principal.org_id,
        state=MachineState.QUEUED.value,
        wave=wave,
        error=None,
        started_at=None,
        updated_at=now,
        finished_at=None,
    )


async def _model(
    conn: AsyncConnection, rollout_id: str, *, org_id: str, only_agent: str | None = None
) -> Rollout:
    record = await repo.get(conn, rollout_id, org_id=org_id)
    assert record is not None
    return (await _models(conn, [record], only_agent=only_agent))[0]


async def _models(
    conn: AsyncConnection, records: Sequence[RolloutRecord], *, only_agent: str | None = None
) -> list[Rollout]:
    if not records:
        return []
    org_id = records[0].org_id
    versions = await versions_repo.get_many(conn, {r.version_id for r in records}, org_id=org_id)
    machines = await repo.machines_of(conn, [r.id for r in records], org_id=org_id)
    out = []
    for record in records:
        version = versions.get(record.version_id)
        out.append(
            rollout_model(
                record,
                machines[record.id],
                version_number=0 if version is None else version.number,
                only_agent=only_agent,
            )
        )
    return out


async def _visible_rollout(
    conn: AsyncConnection, principal: Principal, rollout_id: str, permission: str
) -> RolloutRecord:
    record = await repo.get(conn, rollout_id, org_id=principal.org_id)
    if record is None:
        raise _not_found(rollout_id)
    app = await apps_repo.get(conn, record.app_id, org_id=principal.org_id)
    if app is None:
        raise _not_found(rollout_id)
    if not (
        access.can(principal, site_id=app.site_id, app_id=app.id, permission=access.READ)
        or access.can(principal, site_id=app.site_id, app_id=app.id, permission=permission)
    ):
        raise _not_found(rollout_id)
    access.require(principal, site_id=app.site_id, app_id=app.id, permission=permission)
    return record


async def get_rollout(database: Database, principal: Principal, rollout_id: str) -> Rollout:
    async with database.connect() as conn:
        record = await _visible_rollout(conn, principal, rollout_id, access.READ)
        return (await _models(conn, [record]))[0]


async def list_for_app(
    database: Database, principal: Principal, app_id: str, page: PageRequest
) -> PageResult[Rollout]:
    """The app's rollouts, newest first (``read`` on the app or its site; deleted apps too)."""
    async with database.connect() as conn:
        app = check_visible(
            principal,
            await apps_repo.get(conn, app_id, org_id=principal.org_id),
            app_id,
            permission=access.READ,
            now=now_ms(),
            allow_deleted=True,
        )
        rows = await repo.list_for_app(
            conn, app.id, org_id=app.org_id, before=page.after, limit=page.limit
        )
        shown = rows[: page.limit]
        items = await _models(conn, shown)
    more = len(rows) > page.limit and bool(shown)
    return PageResult(items, shown[-1].id if more else None)


async def list_for_agent(
    database: Database, principal: Principal, agent_id: str, page: PageRequest
) -> PageResult[Rollout]:
    """Rollouts with a row for this machine, newest first, showing only its row
    (``counts`` still count every machine). ``read`` on the agent or its site."""
    async with database.connect() as conn:
        agent = await load_agent(conn, principal, agent_id, telemetry_access.READ)
        rows = await repo.list_for_agent(
            conn, agent.id, org_id=agent.org_id, apps=None, before=page.after, limit=page.limit
        )
        shown = rows[: page.limit]
        items = await _models(conn, shown, only_agent=agent.id)
    more = len(rows) > page.limit and bool(shown)
    return PageResult(items, shown[-1].id if more else None)


async def cancel(database: Database, bus: Bus, principal: Principal, rollout_id: str) -> Rollout:
    """Cancel a scheduled or running rollout (``deploy``); 409 ``rollout_finished`` after."""
    now = now_ms()
    effects = Effects()
    async with writing(database) as conn:
        await _visible_rollout(conn, principal, rollout_id, DEPLOY)
        record = await repo.lock(conn, rollout_id, org_id=principal.org_id)
        assert record is not None
        if record.state in FINISHED_ROLLOUT_STATES:
            raise Conflict(
                f"Rollout {rollout_id!r} is {record.state} already.",
                code=ErrorCode.ROLLOUT_FINISHED,
                state=record.state,
            )
        await engine.cancel_locked(conn, effects, record, now=now)
        result = await _model(conn, rollout_id, org_id=principal.org_id)
    await deliver(bus, principal.org_id, effects)
    return result


async def download_urls(
    ctx: Chunks,
    principal: Principal,
    agent_id: str,
    rollout_id: str,
    body: DownloadUrlsRequest,
    *,
    base_url: str,
) -> DownloadUrls:
    """Signed links to chunks of the rollout's version, for one of its machines.

    ``write`` on the agent (its own token: ``agent:<id>:write``) or its site.
    404 unless the rollout has a row for this agent; 422 ``chunk_missing``
    (with ``missing``) for hashes the version does not use.
    """
    async with ctx.database.connect() as conn:
        agent = await load_agent(conn, principal, agent_id, telemetry_access.WRITE)
        record = await repo.get(conn, rollout_id, org_id=agent.org_id)
        machine = (
            None
            if record is None
            else await repo.machine(conn, record.id, agent.id, org_id=agent.org_id)
        )
        if record is None or machine is None:
            raise _not_found(rollout_id)
        app = await apps_repo.get(conn, record.app_id, org_id=agent.org_id)
        if app is None:
            raise _not_found(rollout_id)
        wanted = list(dict.fromkeys(body.hashes))
        used = await repo.version_hashes(conn, record.version_id, wanted, org_id=agent.org_id)
    missing = [h for h in wanted if h not in used]
    if missing:
        raise ChunkMissing(
            f"{len(missing)} of these chunks are not part of the rollout's version.",
            missing=missing,
        )
    exp = int(now_ms() // 1000) + DOWNLOAD_URL_TTL_SECONDS
    expires_at = to_datetime(exp * 1000)
    secret = ctx.settings.effective_secret_key
    urls = []
    for h in wanted:
        url = await ctx.blobs.presigned_get_url(h, timedelta(seconds=DOWNLOAD_URL_TTL_SECONDS))
        if url is None:
            url = signing.download_url(base_url, secret, hash=h, site_id=app.site_id, exp=exp)
        urls.append(DownloadUrl(hash=h, url=url, expires_at=expires_at))
    return DownloadUrls(urls=urls)


async def pending_for_agent(database: Database, *, org_id: str, agent_id: str) -> list[DeployStart]:
    """``deploy.start`` for each started, unfinished machine row of this agent in a running
    rollout (what its session sends on (re)connect)."""
    async with database.connect() as conn:
        if await agents_repo.get(conn, agent_id, org_id=org_id) is None:
            return []
        pending = await repo.unfinished_for_agent(conn, agent_id, org_id=org_id)
        return [
            DeployStart(deployment=await engine.deployment_of(conn, rollout))
            for rollout, _ in pending
        ]
