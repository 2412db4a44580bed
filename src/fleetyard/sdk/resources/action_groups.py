"""Scenes, stored action groups to run now or at a time: ``client.action_groups``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Unpack

from fleetyard.protocol.common import Deleted, Page, format_timestamp
from fleetyard.protocol.executions import (
    ActionGroup,
    ExecutionMode,
    ExecutionStarted,
    Scene,
    Schedule,
)
from fleetyard.sdk._operation import Operation, path_param
from fleetyard.sdk._pagination import AsyncPager, SyncPager
from fleetyard.sdk._types import NOT_GIVEN, NotGiven, ReadOptions, WriteOptions
from fleetyard.sdk.resources._actions import ActionLike, group_body, to_actions
from fleetyard.sdk.resources._base import (
    AsyncAPIResource,
    SyncAPIResource,
    async_raw_method,
    raw_method,
)
from fleetyard.sdk.resources.executions import (
    AsyncExecutionHandle,
    AsyncExecutions,
    ExecutionHandle,
    Executions,
)

__all__ = [
    "ActionGroups",
    "ActionGroupsWithRawResponse",
    "AsyncActionGroups",
    "AsyncActionGroupsWithRawResponse",
]

When = datetime | timedelta
"""When a schedule fires: an instant (naive means UTC) or a ``timedelta`` from now."""


def scene_path(scene_id: str) -> str:
    """``/v1/action-groups/{scene_id}``, the id quoted."""
    return f"/v1/action-groups/{path_param(scene_id, 'scene_id')}"


def _create(
    group: ActionGroup | None,
    actions: ActionLike | Iterable[ActionLike] | None,
    label: str | None,
    mode: ExecutionMode | str | None,
    gateway_id: str | None,
) -> Operation[Scene]:
    body = group_body(group, actions, label, mode, gateway_id=gateway_id)
    body.pop("queue", None)  # an ExecutionCreate given as the group: not part of a scene
    return Operation("POST", "/v1/action-groups", Scene, json=body)


def _list_page(
    cursor: str | None, gateway_id: str | None, site_id: str | None, limit: int | None
) -> Operation[Page[Scene]]:
    params = {"cursor": cursor, "limit": limit, "gateway_id": gateway_id, "site_id": site_id}
    return Operation("GET", "/v1/action-groups", Page[Scene], params=params)


def _update(
    scene_id: str,
    label: str | NotGiven,
    mode: ExecutionMode | str | NotGiven,
    actions: ActionLike | Iterable[ActionLike] | NotGiven,
) -> Operation[Scene]:
    body: dict[str, Any] = {}
    if not isinstance(label, NotGiven):
        body["label"] = label
    if not isinstance(mode, NotGiven):
        body["mode"] = ExecutionMode(mode).value
    if not isinstance(actions, NotGiven):
        body["actions"] = [a.model_dump(mode="json") for a in to_actions(actions)]
    return Operation("PATCH", scene_path(scene_id), Scene, json=body)


def _execute(scene_id: str, queue: bool) -> Operation[ExecutionStarted]:
    return Operation(
        "POST", f"{scene_path(scene_id)}/execute", ExecutionStarted, json={"queue": queue}
    )


def fire_time(at: When, now: datetime) -> str:
    """The wire instant of a schedule: a ``timedelta`` counts forward from ``now``."""
    if isinstance(at, timedelta):
        return format_timestamp(now + at)
    if isinstance(at, datetime):
        return format_timestamp(at)
    raise TypeError(f"at must be a datetime or a timedelta, got {type(at).__name__}")


def _schedule(scene_id: str, at: str, queue: bool) -> Operation[Schedule]:
    body = {"at": at, "queue": queue}
    return Operation("POST", f"{scene_path(scene_id)}/schedules", Schedule, json=body)


class ActionGroups(SyncAPIResource):
    """Scenes: action groups stored under an id (``scn_…``), run now or scheduled.

    Example::

        scene = client.action_groups.create(
            label="Good night",
            actions=[{"device_url": "io://1234-5678-3293/3541212", "commands": ["close"]}],
        )
        client.action_groups.execute(scene.id).wait(timeout=60)
        client.action_groups.schedule(scene.id, at=timedelta(minutes=10))
    """

    def create(
        self,
        group: ActionGroup | None = None,
        *,
        actions: ActionLike | Iterable[ActionLike] | None = None,
        label: str | None = None,
        mode: ExecutionMode | str | None = None,
        gateway_id: str | None = None,
        **options: Unpack[WriteOptions],
    ) -> Scene:
        """Store an action group (``actions=`` and a ``label``, or an ``ActionGroup``).

        Example::

            scene = client.action_groups.create(
                label="Open all", actions=[{"device_url": "io://…/1", "commands": ["open"]}]
            )
        """
        return self._send(_create(group, actions, label, mode, gateway_id), options)

    def list(
        self,
        *,
        gateway_id: str | None = None,
        site_id: str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> SyncPager[Scene]:
        """Every scene (of one gateway or site).

        Example::

            for scene in client.action_groups.list():
                print(scene.id, scene.label)
        """
        return SyncPager(
            lambda cursor: self.list_page(
                cursor, gateway_id=gateway_id, site_id=site_id, limit=limit, **options
            )
        )

    def list_page(
        self,
        cursor: str | None = None,
        *,
        gateway_id: str | None = None,
        site_id: str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Scene]:
        """One page of scenes.

        Example::

            page = client.action_groups.list_page(limit=20)
        """
        return self._send(_list_page(cursor, gateway_id, site_id, limit), options)

    def get(self, scene_id: str, **options: Unpack[ReadOptions]) -> Scene:
        """One scene.

        Example::

            scene = client.action_groups.get("scn_01…")
        """
        return self._send(Operation("GET", scene_path(scene_id), Scene), options)

    def update(
        self,
        scene_id: str,
        *,
        label: str | NotGiven = NOT_GIVEN,
        mode: ExecutionMode | str | NotGiven = NOT_GIVEN,
        actions: ActionLike | Iterable[ActionLike] | NotGiven = NOT_GIVEN,
        **options: Unpack[WriteOptions],
    ) -> Scene:
        """Change a scene; what is not given stays (``actions`` are replaced whole).

        Example::

            client.action_groups.update("scn_01…", label="Good night (all)")
        """
        return self._send(_update(scene_id, label, mode, actions), options)

    def delete(self, scene_id: str, **options: Unpack[WriteOptions]) -> Deleted:
        """Delete a scene (its pending schedules with it).

        Example::

            client.action_groups.delete("scn_01…")
        """
        return self._send(Operation("DELETE", scene_path(scene_id), Deleted), options)

    def execute(
        self, scene_id: str, *, queue: bool = False, **options: Unpack[WriteOptions]
    ) -> ExecutionHandle:
        """Run a scene now; the handle follows the execution.

        Example::

            execution = client.action_groups.execute("scn_01…").wait(timeout=60)
        """
        started = self._send(_execute(scene_id, queue), options)
        return ExecutionHandle(Executions(self._client), started)

    def schedule(
        self,
        scene_id: str,
        *,
        at: When,
        queue: bool = True,
        **options: Unpack[WriteOptions],
    ) -> Schedule:
        """Run a scene once at ``at``: an instant, or a ``timedelta`` from now.

        The schedule is durable (it survives a server restart); with
        ``queue=True`` (the default) it waits for a free slot on a busy gateway.

        Example::

            from datetime import timedelta

            schedule = client.action_groups.schedule("scn_01…", at=timedelta(minutes=10))
        """
        op = _schedule(scene_id, fire_time(at, self._client._now()), queue)
        return self._send(op, options)


class AsyncActionGroups(AsyncAPIResource):
    """Scenes: action groups stored under an id (``scn_…``), run now or scheduled.

    Example::

        scene = await client.action_groups.create(label="Good night", actions=[...])
        execution = await (await client.action_groups.execute(scene.id)).wait()
    """

    async def create(
        self,
        group: ActionGroup | None = None,
        *,
        actions: ActionLike | Iterable[ActionLike] | None = None,
        label: str | None = None,
        mode: ExecutionMode | str | None = None,
        gateway_id: str | None = None,
        **options: Unpack[WriteOptions],
    ) -> Scene:
        """Store an action group (``actions=`` and a ``label``, or an ``ActionGroup``).

        Example::

            scene = await client.action_groups.create(label="Open all", actions=[...])
        """
        return await self._send(_create(group, actions, label, mode, gateway_id), options)

    def list(
        self,
        *,
        gateway_id: str | None = None,
        site_id: str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> AsyncPager[Scene]:
        """Every scene (of one gateway or site).

        Example::

            async for scene in client.action_groups.list():
                print(scene.id, scene.label)
        """
        return AsyncPager(
            lambda cursor: self.list_page(
                cursor, gateway_id=gateway_id, site_id=site_id, limit=limit, **options
            )
        )

    async def list_page(
        self,
        cursor: str | None = None,
        *,
        gateway_id: str | None = None,
        site_id: str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Scene]:
        """One page of scenes.

        Example::

            page = await client.action_groups.list_page(limit=20)
        """
        return await self._send(_list_page(cursor, gateway_id, site_id, limit), options)

    async def get(self, scene_id: str, **options: Unpack[ReadOptions]) -> Scene:
        """One scene.

        Example::

            scene = await client.action_groups.get("scn_01…")
        """
        return await self._send(Operation("GET", scene_path(scene_id), Scene), options)

    async def update(
        self,
        scene_id: str,
        *,
        label: str | NotGiven = NOT_GIVEN,
        mode: ExecutionMode | str | NotGiven = NOT_GIVEN,
        actions: ActionLike | Iterable[ActionLike] | NotGiven = NOT_GIVEN,
        **options: Unpack[WriteOptions],
    ) -> Scene:
        """Change a scene; what is not given stays (``actions`` are replaced whole).

        Example::

            await client.action_groups.update("scn_01…", label="Good night (all)")
        """
        return await self._send(_update(scene_id, label, mode, actions), options)

    async def delete(self, scene_id: str, **options: Unpack[WriteOptions]) -> Deleted:
        """Delete a scene (its pending schedules with it).

        Example::

            await client.action_groups.delete("scn_01…")
        """
        return await self._send(Operation("DELETE", scene_path(scene_id), Deleted), options)

    async def execute(
        self, scene_id: str, *, queue: bool = False, **options: Unpack[WriteOptions]
    ) -> AsyncExecutionHandle:
        """Run a scene now; the handle follows the execution.

        Example::

            handle = await client.action_groups.execute("scn_01…")
            execution = await handle.wait(timeout=60)
        """
        started = await self._send(_execute(scene_id, queue), options)
        return AsyncExecutionHandle(AsyncExecutions(self._client), started)

    async def schedule(
        self,
        scene_id: str,
        *,
        at: When,
        queue: bool = True,
        **options: Unpack[WriteOptions],
    ) -> Schedule:
        """Run a scene once at ``at``: an instant, or a ``timedelta`` from now.

        Example::

            schedule = await client.action_groups.schedule("scn_01…", at=timedelta(minutes=10))
        """
        op = _schedule(scene_id, fire_time(at, self._client._now()), queue)
        return await self._send(op, options)


class ActionGroupsWithRawResponse:
    """``client.with_raw_response.action_groups``: the same calls, answering :class:`RawResponse`.

    Pagers have no raw form (use ``list_page``), nor has ``execute`` (it
    answers a handle).

    Example::

        raw = client.with_raw_response.action_groups.get("scn_01…")
        print(raw.status_code, raw.parse().label)
    """

    _WITHOUT_RAW_FORM = frozenset({"execute"})

    def __init__(self, action_groups: ActionGroups) -> None:
        self.create = raw_method(action_groups.create)
        self.list_page = raw_method(action_groups.list_page)
        self.get = raw_method(action_groups.get)
        self.update = raw_method(action_groups.update)
        self.delete = raw_method(action_groups.delete)
        self.schedule = raw_method(action_groups.schedule)


class AsyncActionGroupsWithRawResponse:
    """``client.with_raw_response.action_groups`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.action_groups.delete("scn_01…")
        print(raw.status_code)
    """

    _WITHOUT_RAW_FORM = frozenset({"execute"})

    def __init__(self, action_groups: AsyncActionGroups) -> None:
        self.create = async_raw_method(action_groups.create)
        self.list_page = async_raw_method(action_groups.list_page)
        self.get = async_raw_method(action_groups.get)
        self.update = async_raw_method(action_groups.update)
        self.delete = async_raw_method(action_groups.delete)
        self.schedule = async_raw_method(action_groups.schedule)
