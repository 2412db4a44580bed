"""Scheduled runs of scenes: ``client.schedules`` (create them with
``client.action_groups.schedule``)."""

from __future__ import annotations

from typing import Unpack

from fleetyard.protocol.common import Page
from fleetyard.protocol.executions import Schedule, ScheduleState
from fleetyard.sdk._operation import Operation, path_param
from fleetyard.sdk._pagination import AsyncPager, SyncPager
from fleetyard.sdk._types import ReadOptions, WriteOptions
from fleetyard.sdk.resources._base import (
    AsyncAPIResource,
    SyncAPIResource,
    async_raw_method,
    raw_method,
)

__all__ = [
    "AsyncSchedules",
    "AsyncSchedulesWithRawResponse",
    "Schedules",
    "SchedulesWithRawResponse",
]


def schedule_path(schedule_id: str) -> str:
    """``/v1/schedules/{schedule_id}``, the id quoted."""
    return f"/v1/schedules/{path_param(schedule_id, 'schedule_id')}"


def _list_page(
    cursor: str | None,
    scene_id: str | None,
    state: ScheduleState | str | None,
    limit: int | None,
) -> Operation[Page[Schedule]]:
    params = {
        "cursor": cursor,
        "limit": limit,
        "scene_id": scene_id,
        "state": None if state is None else ScheduleState(state).value,
    }
    return Operation("GET", "/v1/schedules", Page[Schedule], params=params)


def _cancel(schedule_id: str) -> Operation[Schedule]:
    return Operation("POST", f"{schedule_path(schedule_id)}/cancel", Schedule)


class Schedules(SyncAPIResource):
    """Scheduled runs of scenes: each fires once, durably.

    Example::

        for schedule in client.schedules.list(state="pending"):
            print(schedule.id, schedule.scene_id, schedule.at)
    """

    def list(
        self,
        *,
        scene_id: str | None = None,
        state: ScheduleState | str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> SyncPager[Schedule]:
        """Every schedule (of one scene, in one state).

        Example::

            pending = list(client.schedules.list(state="pending"))
        """
        return SyncPager(
            lambda cursor: self.list_page(
                cursor, scene_id=scene_id, state=state, limit=limit, **options
            )
        )

    def list_page(
        self,
        cursor: str | None = None,
        *,
        scene_id: str | None = None,
        state: ScheduleState | str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Schedule]:
        """One page of schedules.

        Example::

            page = client.schedules.list_page(scene_id="scn_01…")
        """
        return self._send(_list_page(cursor, scene_id, state, limit), options)

    def get(self, schedule_id: str, **options: Unpack[ReadOptions]) -> Schedule:
        """One schedule: when it fires, and once fired, which execution it started.

        Example::

            schedule = client.schedules.get("sch_01…")
            print(schedule.state, schedule.execution_id)
        """
        return self._send(Operation("GET", schedule_path(schedule_id), Schedule), options)

    def cancel(self, schedule_id: str, **options: Unpack[WriteOptions]) -> Schedule:
        """Cancel a pending schedule.

        Example::

            client.schedules.cancel("sch_01…")
        """
        return self._send(_cancel(schedule_id), options)


class AsyncSchedules(AsyncAPIResource):
    """Scheduled runs of scenes: each fires once, durably.

    Example::

        async for schedule in client.schedules.list(state="pending"):
            print(schedule.id, schedule.at)
    """

    def list(
        self,
        *,
        scene_id: str | None = None,
        state: ScheduleState | str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> AsyncPager[Schedule]:
        """Every schedule (of one scene, in one state).

        Example::

            pending = [s async for s in client.schedules.list(state="pending")]
        """
        return AsyncPager(
            lambda cursor: self.list_page(
                cursor, scene_id=scene_id, state=state, limit=limit, **options
            )
        )

    async def list_page(
        self,
        cursor: str | None = None,
        *,
        scene_id: str | None = None,
        state: ScheduleState | str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Schedule]:
        """One page of schedules.

        Example::

            page = await client.schedules.list_page(scene_id="scn_01…")
        """
        return await self._send(_list_page(cursor, scene_id, state, limit), options)

    async def get(self, schedule_id: str, **options: Unpack[ReadOptions]) -> Schedule:
        """One schedule.

        Example::

            schedule = await client.schedules.get("sch_01…")
        """
        return await self._send(Operation("GET", schedule_path(schedule_id), Schedule), options)

    async def cancel(self, schedule_id: str, **options: Unpack[WriteOptions]) -> Schedule:
        """Cancel a pending schedule.

        Example::

            await client.schedules.cancel("sch_01…")
        """
        return await self._send(_cancel(schedule_id), options)


class SchedulesWithRawResponse:
    """``client.with_raw_response.schedules``: the same calls, answering :class:`RawResponse`.

    Example::

        raw = client.with_raw_response.schedules.cancel("sch_01…")
        print(raw.status_code, raw.parse().state)
    """

    def __init__(self, schedules: Schedules) -> None:
        self.list_page = raw_method(schedules.list_page)
        self.get = raw_method(schedules.get)
        self.cancel = raw_method(schedules.cancel)


class AsyncSchedulesWithRawResponse:
    """``client.with_raw_response.schedules`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.schedules.get("sch_01…")
        print(raw.request_id)
    """

    def __init__(self, schedules: AsyncSchedules) -> None:
        self.list_page = async_raw_method(schedules.list_page)
        self.get = async_raw_method(schedules.get)
        self.cancel = async_raw_method(schedules.cancel)
