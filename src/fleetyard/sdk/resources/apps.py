"""Apps, the software a site deploys: ``client.apps``, with :meth:`Apps.push`
and :meth:`Apps.deploy`.

An app holds immutable versions (see :mod:`fleetyard.sdk.resources.versions`);
``push`` turns a directory into the app's next version, uploading only the
chunks the site does not have yet; ``deploy`` takes a version to the app's
machines (see :mod:`fleetyard.sdk.resources.rollouts`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, Unpack

from fleetyard.protocol.common import Page
from fleetyard.protocol.rollouts import RolloutStrategy
from fleetyard.protocol.software import App, AppRun
from fleetyard.sdk._operation import Operation, path_param, str_list
from fleetyard.sdk._pagination import AsyncPager, SyncPager
from fleetyard.sdk._push.drivers import arun_push, run_push
from fleetyard.sdk._push.models import PushOptions, PushResult
from fleetyard.sdk._types import NOT_GIVEN, NotGiven, ReadOptions, WriteOptions
from fleetyard.sdk.resources._base import (
    AsyncAPIResource,
    SyncAPIResource,
    async_raw_method,
    raw_method,
)
from fleetyard.sdk.resources.rollout_handles import AsyncRolloutHandle, RolloutHandle
from fleetyard.sdk.resources.rollouts import (
    AsyncRollouts,
    Canary,
    Rollouts,
    ScheduleAt,
    deploy_body,
    deploy_operation,
)

__all__ = ["Apps", "AppsWithRawResponse", "AsyncApps", "AsyncAppsWithRawResponse"]


def app_path(app_id: str) -> str:
    """``/v1/apps/{app_id}``, the id quoted."""
    return f"/v1/apps/{path_param(app_id, 'app_id')}"


def version_ref(ref: int | str) -> str:
    """A version ref as a path segment: ``3``, ``"#3"``, ``"v3"``, ``"ver_…"``, ``"current"``…

    >>> version_ref(3), version_ref("#3")
    ('3', '%233')
    """
    if isinstance(ref, bool) or not isinstance(ref, int | str):
        raise TypeError(f"a version ref is a number or a string, got {ref!r}")
    return path_param(str(ref), "ref")


def _run_body(run: AppRun | dict[str, Any]) -> dict[str, Any]:
    if isinstance(run, AppRun):
        return run.model_dump(mode="json")
    return dict(run)


def _list_page(
    cursor: str | None, site_id: str | None, include_deleted: bool | None, limit: int | None
) -> Operation[Page[App]]:
    params = {
        "cursor": cursor,
        "limit": limit,
        "site_id": site_id,
        "include_deleted": include_deleted,
    }
    return Operation("GET", "/v1/apps", Page[App], params=params)


def _get(app_id: str) -> Operation[App]:
    return Operation("GET", app_path(app_id), App)


def _create(
    site_id: str,
    name: str,
    app_id: str | None,
    targets: Iterable[str] | None,
    extract_path: str | None,
    run: AppRun | dict[str, Any] | None,
) -> Operation[App]:
    body: dict[str, Any] = {"site_id": site_id, "name": name}
    if app_id is not None:
        body["id"] = app_id
    if targets is not None:
        body["targets"] = str_list(targets, "targets")
    if extract_path is not None:
        body["extract_path"] = extract_path
    if run is not None:
        body["run"] = _run_body(run)
    return Operation("POST", "/v1/apps", App, json=body)


def _patch(
    app_id: str,
    name: str | NotGiven,
    targets: Iterable[str] | NotGiven,
    extract_path: str | NotGiven,
    run: AppRun | dict[str, Any] | NotGiven,
) -> Operation[App]:
    body: dict[str, Any] = {}
    if not isinstance(name, NotGiven):
        body["name"] = name
    if not isinstance(targets, NotGiven):
        body["targets"] = str_list(targets, "targets")
    if not isinstance(extract_path, NotGiven):
        body["extract_path"] = extract_path
    if not isinstance(run, NotGiven):
        body["run"] = _run_body(run)
    return Operation("PATCH", app_path(app_id), App, json=body)


def _remove(app_id: str) -> Operation[App]:
    return Operation("DELETE", app_path(app_id), App)


def _restore(app_id: str) -> Operation[App]:
    return Operation("POST", f"{app_path(app_id)}/restore", App)


def _rollback(app_id: str, to: int | str) -> Operation[App]:
    if isinstance(to, bool) or not isinstance(to, int | str):
        raise TypeError(f"a version ref is a number or a string, got {to!r}")
    return Operation("POST", f"{app_path(app_id)}/rollback", App, json={"to": to})


class Apps(SyncAPIResource):
    """Apps: create them, push versions, roll back.

    Example::

        from fleetyard import PushOptions

        result = client.apps.push("./dist", "app_kiosk", PushOptions(description="v2"))
        print(result.version_id, result.stats.bytes_uploaded)
    """

    def list(
        self,
        *,
        site_id: str | None = None,
        include_deleted: bool | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> SyncPager[App]:
        """Every app the caller may see (of one site with ``site_id``).

        Example::

            for app in client.apps.list(site_id="site_01…"):
                print(app.id, app.current_version and app.current_version.number)
        """
        return SyncPager(
            lambda cursor: self.list_page(
                cursor, site_id=site_id, include_deleted=include_deleted, limit=limit, **options
            )
        )

    def list_page(
        self,
        cursor: str | None = None,
        *,
        site_id: str | None = None,
        include_deleted: bool | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[App]:
        """One page of apps.

        Example::

            page = client.apps.list_page(limit=20)
        """
        return self._send(_list_page(cursor, site_id, include_deleted, limit), options)

    def get(self, app_id: str, **options: Unpack[ReadOptions]) -> App:
        """One app, with a summary of its current version.

        Example::

            app = client.apps.get("app_kiosk")
        """
        return self._send(_get(app_id), options)

    def create(
        self,
        site_id: str,
        name: str,
        *,
        id: str | None = None,
        targets: Iterable[str] | None = None,
        extract_path: str | None = None,
        run: AppRun | dict[str, Any] | None = None,
        **options: Unpack[WriteOptions],
    ) -> App:
        """Create an app in a site; ``id`` chooses its id (``app_`` + 4..36 of ``[0-9a-z]``).

        Example::

            app = client.apps.create("site_01…", "Kiosk", id="app_kiosk", targets=["agt_01…"])
        """
        return self._send(_create(site_id, name, id, targets, extract_path, run), options)

    def patch(
        self,
        app_id: str,
        *,
        name: str | NotGiven = NOT_GIVEN,
        targets: Iterable[str] | NotGiven = NOT_GIVEN,
        extract_path: str | NotGiven = NOT_GIVEN,
        run: AppRun | dict[str, Any] | NotGiven = NOT_GIVEN,
        **options: Unpack[WriteOptions],
    ) -> App:
        """Change an app; what is not given stays as it is.

        Example::

            client.apps.patch("app_kiosk", targets=["agt_01…", "agt_02…"])
        """
        return self._send(_patch(app_id, name, targets, extract_path, run), options)

    def remove(self, app_id: str, **options: Unpack[WriteOptions]) -> App:
        """Delete an app (restorable for 30 days with :meth:`restore`).

        Example::

            client.apps.remove("app_kiosk")
        """
        return self._send(_remove(app_id), options)

    def restore(self, app_id: str, **options: Unpack[WriteOptions]) -> App:
        """Bring back a deleted app.

        Example::

            client.apps.restore("app_kiosk")
        """
        return self._send(_restore(app_id), options)

    def rollback(
        self, app_id: str, to: int | str = "previous", **options: Unpack[WriteOptions]
    ) -> App:
        """Make an earlier version current again (no new version is made).

        Example::

            client.apps.rollback("app_kiosk", to="v3")
        """
        return self._send(_rollback(app_id, to), options)

    def push(
        self,
        path: str | os.PathLike[str],
        app_id: str,
        options: PushOptions | None = None,
        **call_options: Unpack[WriteOptions],
    ) -> PushResult:
        """Publish the tree at ``path`` as the app's next version.

        Walks the tree (sorted; ``.git`` and ``options.ignore`` left out),
        chunks and hashes the files (content-defined, bounded memory, both
        cores), asks the site which chunks it lacks, uploads those in
        parallel (retried; expired URLs renewed), then publishes, retrying on
        412 ``version_stale`` against the version that became current. A push
        run again after an interruption uploads only what is still missing.

        Example::

            result = client.apps.push(
                "./dist", "app_kiosk",
                PushOptions(description="fix login", on_progress=lambda p: print(p.phase)),
            )
            print(result.number, result.stats.chunks_reused)
        """
        return run_push(
            self._client, os.fspath(path), app_id, options or PushOptions(), call_options
        )

    def deploy(
        self,
        app_id: str,
        version: int | str = "current",
        *,
        machines: Iterable[str] | None = None,
        strategy: RolloutStrategy | None = None,
        canary: Canary | None = None,
        rate: int | None = None,
        abort_failure_percent: float | None = None,
        abort_min_count: int | None = None,
        machine_timeout: float | None = None,
        schedule_at: ScheduleAt | None = None,
        dry_run: bool = False,
        **options: Unpack[WriteOptions],
    ) -> RolloutHandle:
        """Take a version (a ref, ``"current"`` by default) to the app's machines.

        ``machines`` narrows the app's targets. ``canary`` (``2`` machines or
        ``"10%"`` of them) deploys to those first and to the rest once they all
        succeeded; ``rate`` starts at most that many machines a minute. The
        rollout aborts once more than ``abort_failure_percent`` % of the
        finished machines failed (after ``abort_min_count`` finished); a machine
        that takes longer than ``machine_timeout`` seconds fails. ``schedule_at``
        (a datetime, or a timedelta from now) starts it later. ``dry_run=True``
        stores nothing and answers the plan: ``handle.rollout.machines`` with
        their waves.

        Example::

            handle = client.apps.deploy("app_kiosk", "v3", canary="10%", abort_failure_percent=20)
            rollout = handle.wait(timeout=1800, on_progress=lambda r: print(r.counts))
            print(rollout.state)
        """
        body = deploy_body(
            version,
            machines=machines,
            strategy=strategy,
            canary=canary,
            rate=rate,
            abort_failure_percent=abort_failure_percent,
            abort_min_count=abort_min_count,
            machine_timeout=machine_timeout,
            schedule_at=schedule_at,
            dry_run=dry_run,
            now=self._client._now(),
        )
        rollout = self._send(deploy_operation(app_id, body), options)
        return RolloutHandle(Rollouts(self._client), rollout)


class AsyncApps(AsyncAPIResource):
    """Apps: create them, push versions, roll back.

    Example::

        result = await client.apps.push("./dist", "app_kiosk")
    """

    def list(
        self,
        *,
        site_id: str | None = None,
        include_deleted: bool | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> AsyncPager[App]:
        """Every app the caller may see (of one site with ``site_id``).

        Example::

            async for app in client.apps.list():
                print(app.id)
        """
        return AsyncPager(
            lambda cursor: self.list_page(
                cursor, site_id=site_id, include_deleted=include_deleted, limit=limit, **options
            )
        )

    async def list_page(
        self,
        cursor: str | None = None,
        *,
        site_id: str | None = None,
        include_deleted: bool | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[App]:
        """One page of apps.

        Example::

            page = await client.apps.list_page(limit=20)
        """
        return await self._send(_list_page(cursor, site_id, include_deleted, limit), options)

    async def get(self, app_id: str, **options: Unpack[ReadOptions]) -> App:
        """One app, with a summary of its current version.

        Example::

            app = await client.apps.get("app_kiosk")
        """
        return await self._send(_get(app_id), options)

    async def create(
        self,
        site_id: str,
        name: str,
        *,
        id: str | None = None,
        targets: Iterable[str] | None = None,
        extract_path: str | None = None,
        run: AppRun | dict[str, Any] | None = None,
        **options: Unpack[WriteOptions],
    ) -> App:
        """Create an app in a site.

        Example::

            app = await client.apps.create("site_01…", "Kiosk", id="app_kiosk")
        """
        return await self._send(_create(site_id, name, id, targets, extract_path, run), options)

    async def patch(
        self,
        app_id: str,
        *,
        name: str | NotGiven = NOT_GIVEN,
        targets: Iterable[str] | NotGiven = NOT_GIVEN,
        extract_path: str | NotGiven = NOT_GIVEN,
        run: AppRun | dict[str, Any] | NotGiven = NOT_GIVEN,
        **options: Unpack[WriteOptions],
    ) -> App:
        """Change an app; what is not given stays as it is.

        Example::

            await client.apps.patch("app_kiosk", name="Kiosk 2")
        """
        return await self._send(_patch(app_id, name, targets, extract_path, run), options)

    async def remove(self, app_id: str, **options: Unpack[WriteOptions]) -> App:
        """Delete an app (restorable for 30 days).

        Example::

            await client.apps.remove("app_kiosk")
        """
        return await self._send(_remove(app_id), options)

    async def restore(self, app_id: str, **options: Unpack[WriteOptions]) -> App:
        """Bring back a deleted app.

        Example::

            await client.apps.restore("app_kiosk")
        """
        return await self._send(_restore(app_id), options)

    async def rollback(
        self, app_id: str, to: int | str = "previous", **options: Unpack[WriteOptions]
    ) -> App:
        """Make an earlier version current again.

        Example::

            await client.apps.rollback("app_kiosk")
        """
        return await self._send(_rollback(app_id, to), options)

    async def push(
        self,
        path: str | os.PathLike[str],
        app_id: str,
        options: PushOptions | None = None,
        **call_options: Unpack[WriteOptions],
    ) -> PushResult:
        """Publish the tree at ``path`` as the app's next version (see :meth:`Apps.push`).

        ``options.on_progress`` may be a plain function or a coroutine function.

        Example::

            result = await client.apps.push("./dist", "app_kiosk", PushOptions(dry_run=True))
        """
        return await arun_push(
            self._client, os.fspath(path), app_id, options or PushOptions(), call_options
        )

    async def deploy(
        self,
        app_id: str,
        version: int | str = "current",
        *,
        machines: Iterable[str] | None = None,
        strategy: RolloutStrategy | None = None,
        canary: Canary | None = None,
        rate: int | None = None,
        abort_failure_percent: float | None = None,
        abort_min_count: int | None = None,
        machine_timeout: float | None = None,
        schedule_at: ScheduleAt | None = None,
        dry_run: bool = False,
        **options: Unpack[WriteOptions],
    ) -> AsyncRolloutHandle:
        """Take a version to the app's machines (see :meth:`Apps.deploy`).

        Example::

            handle = await client.apps.deploy("app_kiosk", machines=["agt_01…"], dry_run=True)
            print([(m.agent_id, m.wave) for m in handle.rollout.machines])
        """
        body = deploy_body(
            version,
            machines=machines,
            strategy=strategy,
            canary=canary,
            rate=rate,
            abort_failure_percent=abort_failure_percent,
            abort_min_count=abort_min_count,
            machine_timeout=machine_timeout,
            schedule_at=schedule_at,
            dry_run=dry_run,
            now=self._client._now(),
        )
        rollout = await self._send(deploy_operation(app_id, body), options)
        return AsyncRolloutHandle(AsyncRollouts(self._client), rollout)


class AppsWithRawResponse:
    """``client.with_raw_response.apps`` (``push`` and ``deploy`` have no raw form).

    Example::

        raw = client.with_raw_response.apps.get("app_kiosk")
    """

    _WITHOUT_RAW_FORM = frozenset({"push", "deploy"})

    def __init__(self, apps: Apps) -> None:
        self.list_page = raw_method(apps.list_page)
        self.get = raw_method(apps.get)
        self.create = raw_method(apps.create)
        self.patch = raw_method(apps.patch)
        self.remove = raw_method(apps.remove)
        self.restore = raw_method(apps.restore)
        self.rollback = raw_method(apps.rollback)


class AsyncAppsWithRawResponse:
    """``client.with_raw_response.apps`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.apps.get("app_kiosk")
    """

    _WITHOUT_RAW_FORM = frozenset({"push", "deploy"})

    def __init__(self, apps: AsyncApps) -> None:
        self.list_page = async_raw_method(apps.list_page)
        self.get = async_raw_method(apps.get)
        self.create = async_raw_method(apps.create)
        self.patch = async_raw_method(apps.patch)
        self.remove = async_raw_method(apps.remove)
        self.restore = async_raw_method(apps.restore)
        self.rollback = async_raw_method(apps.rollback)
