"""Rollouts, versions going out to machines: ``client.rollouts``.

Start one with ``client.apps.deploy`` (it answers a :class:`RolloutHandle`);
``client.rollouts`` lists, reads, waits for and cancels them by id.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Unpack

from fleetyard.protocol.common import Page, format_timestamp
from fleetyard.protocol.rollouts import (
    FINISHED_ROLLOUT_STATES,
    Rollout,
    RolloutState,
    RolloutStrategy,
)
from fleetyard.sdk._operation import Operation, path_param, str_list
from fleetyard.sdk._pagination import AsyncPager, SyncPager
from fleetyard.sdk._types import ReadOptions, WriteOptions
from fleetyard.sdk.resources._base import (
    AsyncAPIResource,
    SyncAPIResource,
    async_raw_method,
    raw_method,
)
from fleetyard.sdk.resources._polling import PollOptions, poll_until, read_options
from fleetyard.sdk.resources.rollout_handles import (
    ROLLOUT_POLL_INTERVAL,
    AsyncRolloutHandle,
    RolloutCallback,
    RolloutHandle,
)

if TYPE_CHECKING:
    from fleetyard.sdk._base_client import BaseClient
    from fleetyard.sdk._flow import Flow
    from fleetyard.sdk._response import RawResponse

__all__ = [
    "AsyncRolloutHandle",
    "AsyncRollouts",
    "AsyncRolloutsWithRawResponse",
    "RolloutHandle",
    "Rollouts",
    "RolloutsWithRawResponse",
]

Canary = int | str
"""A canary wave: a number of machines (``2``) or a share of them (``"10%"``)."""

ScheduleAt = datetime | timedelta
"""When a rollout starts: an aware ``datetime`` (naive means UTC), or a ``timedelta``
meaning that long from now."""


def rollout_path(rollout_id: str) -> str:
    """``/v1/rollouts/{rollout_id}``, the id quoted."""
    return f"/v1/rollouts/{path_param(rollout_id, 'rollout_id')}"


def canary_fields(canary: Canary) -> dict[str, Any]:
    """The request fields of a canary wave: a count, or a percentage.

    >>> canary_fields(2), canary_fields("10%"), canary_fields("2.5 %")
    ({'canary_count': 2}, {'canary_percent': 10.0}, {'canary_percent': 2.5})
    """
    if isinstance(canary, bool) or not isinstance(canary, int | str):
        raise TypeError(f"canary is a number of machines or a percentage, got {canary!r}")
    if isinstance(canary, int):
        if canary < 1:
            raise ValueError(f"a canary wave needs at least one machine, got {canary}")
        return {"canary_count": canary}
    text = canary.strip()
    if text.endswith("%"):
        try:
            percent = float(text[:-1])
        except ValueError:
            percent = float("nan")
        if not 0 < percent <= 100:
            raise ValueError(f"a canary percentage is above 0% and at most 100%, got {canary!r}")
        return {"canary_percent": percent}
    if text.isdigit():
        return canary_fields(int(text))
    raise ValueError(f"canary is a number of machines (2) or a percentage (10%), got {canary!r}")


def deploy_body(
    version: int | str,
    *,
    machines: Iterable[str] | None,
    strategy: RolloutStrategy | None,
    canary: Canary | None,
    rate: int | None,
    abort_failure_percent: float | None,
    abort_min_count: int | None,
    machine_timeout: float | None,
    schedule_at: ScheduleAt | None,
    dry_run: bool,
    now: datetime,
) -> dict[str, Any]:
    """The ``DeployRequest`` body: only what was given, the strategy inferred from
    ``canary`` / ``rate`` when not named.

    >>> from datetime import UTC
    >>> deploy_body("v3", machines=None, strategy=None, canary="10%", rate=None,
    ...     abort_failure_percent=None, abort_min_count=None, machine_timeout=None,
    ...     schedule_at=timedelta(minutes=10), dry_run=False,
    ...     now=datetime(2026, 11, 24, 12, 0, tzinfo=UTC))  # doctest: +NORMALIZE_WHITESPACE
    {'version': 'v3', 'strategy': 'canary', 'canary_percent': 10.0,
     'schedule_at': '2026-11-24T12:10:00.000Z'}
    """
    if isinstance(version, bool) or not isinstance(version, int | str):
        raise TypeError(f"a version ref is a number or a string, got {version!r}")
    if canary is not None and rate is not None:
        raise ValueError("give canary or rate, not both: a rollout has one strategy")
    if strategy is None:
        strategy = "canary" if canary is not None else "rate" if rate is not None else None
    body: dict[str, Any] = {"version": version}
    if machines is not None:
        body["machines"] = str_list(machines, "machines")
    if strategy is not None:
        body["strategy"] = strategy
    if canary is not None:
        body.update(canary_fields(canary))
    if rate is not None:
        body["rate_per_minute"] = rate
    if abort_failure_percent is not None:
        body["abort_failure_percent"] = abort_failure_percent
    if abort_min_count is not None:
        body["abort_min_count"] = abort_min_count
    if machine_timeout is not None:
        body["machine_timeout_seconds"] = machine_timeout
    if schedule_at is not None:
        if isinstance(schedule_at, timedelta):
            schedule_at = now + schedule_at
        if not isinstance(schedule_at, datetime):
            raise TypeError(f"schedule_at is a datetime or a timedelta, got {schedule_at!r}")
        body["schedule_at"] = format_timestamp(schedule_at)
    if dry_run:
        body["dry_run"] = True
    return body


def deploy_operation(app_id: str, body: dict[str, Any]) -> Operation[Rollout]:
    """``POST /v1/apps/{app_id}/deploy``."""
    return Operation("POST", f"/v1/apps/{path_param(app_id, 'app_id')}/deploy", Rollout, json=body)


def _list_page(app_id: str, cursor: str | None, limit: int | None) -> Operation[Page[Rollout]]:
    params = {"cursor": cursor, "limit": limit}
    path = f"/v1/apps/{path_param(app_id, 'app_id')}/rollouts"
    return Operation("GET", path, Page[Rollout], params=params)


def _agent_page(agent_id: str, cursor: str | None, limit: int | None) -> Operation[Page[Rollout]]:
    params = {"cursor": cursor, "limit": limit}
    path = f"/v1/agents/{path_param(agent_id, 'agent_id')}/rollouts"
    return Operation("GET", path, Page[Rollout], params=params)


def _get(rollout_id: str) -> Operation[Rollout]:
    return Operation("GET", rollout_path(rollout_id), Rollout)


def _cancel(rollout_id: str) -> Operation[Rollout]:
    return Operation("POST", f"{rollout_path(rollout_id)}/cancel", Rollout)


def finished(rollout: Rollout) -> bool:
    """Whether a rollout will not change any more (a dry run never does)."""
    return rollout.state in FINISHED_ROLLOUT_STATES or rollout.state is RolloutState.DRY_RUN


def _fingerprint(rollout: Rollout) -> object:
    machines = tuple((m.agent_id, m.state, m.error) for m in rollout.machines)
    return rollout.state, machines, rollout.updated_at


def _wait(
    client: BaseClient,
    rollout_id: str,
    timeout: float | None,
    on_progress: RolloutCallback | None,
    poll_interval: float,
    options: ReadOptions,
) -> Flow[RawResponse[Rollout]]:
    return poll_until(
        client,
        _get(rollout_id),
        done=finished,
        fingerprint=_fingerprint,
        what=f"rollout {rollout_id}",
        timeout=timeout,
        poll_interval=poll_interval,
        on_progress=on_progress,
        options=options,
    )


class Rollouts(SyncAPIResource):
    """Rollouts: list them (of an app or a machine), follow one, cancel one.

    Example::

        for rollout in client.rollouts.list("app_kiosk"):
            print(rollout.id, rollout.state, rollout.counts.succeeded)
    """

    def list(
        self, app_id: str, *, limit: int | None = None, **options: Unpack[ReadOptions]
    ) -> SyncPager[Rollout]:
        """An app's rollouts, newest first.

        Example::

            for rollout in client.rollouts.list("app_kiosk"):
                print(rollout.id, rollout.version_number, rollout.state)
        """
        return SyncPager(lambda cursor: self.list_page(app_id, cursor, limit=limit, **options))

    def list_page(
        self,
        app_id: str,
        cursor: str | None = None,
        *,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Rollout]:
        """One page of an app's rollouts.

        Example::

            page = client.rollouts.list_page("app_kiosk", limit=20)
        """
        return self._send(_list_page(app_id, cursor, limit), options)

    def list_for_agent(
        self, agent_id: str, *, limit: int | None = None, **options: Unpack[ReadOptions]
    ) -> SyncPager[Rollout]:
        """The rollouts that included one machine, newest first.

        Example::

            for rollout in client.rollouts.list_for_agent("agt_01…"):
                print(rollout.app_id, rollout.state)
        """
        return SyncPager(
            lambda cursor: self.list_for_agent_page(agent_id, cursor, limit=limit, **options)
        )

    def list_for_agent_page(
        self,
        agent_id: str,
        cursor: str | None = None,
        *,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Rollout]:
        """One page of a machine's rollouts.

        Example::

            page = client.rollouts.list_for_agent_page("agt_01…", limit=20)
        """
        return self._send(_agent_page(agent_id, cursor, limit), options)

    def get(self, rollout_id: str, **options: Unpack[ReadOptions]) -> Rollout:
        """One rollout, with the state of every machine.

        Example::

            rollout = client.rollouts.get("rol_01…")
            print(rollout.state, rollout.counts.failed)
        """
        return self._send(_get(rollout_id), options)

    def cancel(self, rollout_id: str, **options: Unpack[WriteOptions]) -> Rollout:
        """Stop a rollout: machines not started yet are not (409 ``rollout_finished``
        when it already finished).

        Example::

            client.rollouts.cancel("rol_01…")
        """
        return self._send(_cancel(rollout_id), options)

    def wait(
        self,
        rollout_id: str,
        *,
        timeout: float | None = None,
        on_progress: RolloutCallback | None = None,
        poll_interval: float = ROLLOUT_POLL_INTERVAL,
        **options: Unpack[PollOptions],
    ) -> Rollout:
        """Poll a rollout until it finished; :class:`~fleetyard.WaitTimeoutError` after
        ``timeout`` seconds. ``on_progress`` is called with each change seen.

        Example::

            rollout = client.rollouts.wait("rol_01…", timeout=1800, on_progress=print)
        """
        flow = _wait(
            self._client, rollout_id, timeout, on_progress, poll_interval, read_options(options)
        )
        return self._run(flow)


class AsyncRollouts(AsyncAPIResource):
    """Rollouts: list them (of an app or a machine), follow one, cancel one.

    Example::

        async for rollout in client.rollouts.list("app_kiosk"):
            print(rollout.id, rollout.state)
    """

    def list(
        self, app_id: str, *, limit: int | None = None, **options: Unpack[ReadOptions]
    ) -> AsyncPager[Rollout]:
        """An app's rollouts, newest first.

        Example::

            async for rollout in client.rollouts.list("app_kiosk"):
                print(rollout.id)
        """
        return AsyncPager(lambda cursor: self.list_page(app_id, cursor, limit=limit, **options))

    async def list_page(
        self,
        app_id: str,
        cursor: str | None = None,
        *,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Rollout]:
        """One page of an app's rollouts.

        Example::

            page = await client.rollouts.list_page("app_kiosk", limit=20)
        """
        return await self._send(_list_page(app_id, cursor, limit), options)

    def list_for_agent(
        self, agent_id: str, *, limit: int | None = None, **options: Unpack[ReadOptions]
    ) -> AsyncPager[Rollout]:
        """The rollouts that included one machine, newest first.

        Example::

            async for rollout in client.rollouts.list_for_agent("agt_01…"):
                print(rollout.app_id, rollout.state)
        """
        return AsyncPager(
            lambda cursor: self.list_for_agent_page(agent_id, cursor, limit=limit, **options)
        )

    async def list_for_agent_page(
        self,
        agent_id: str,
        cursor: str | None = None,
        *,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Rollout]:
        """One page of a machine's rollouts.

        Example::

            page = await client.rollouts.list_for_agent_page("agt_01…")
        """
        return await self._send(_agent_page(agent_id, cursor, limit), options)

    async def get(self, rollout_id: str, **options: Unpack[ReadOptions]) -> Rollout:
        """One rollout, with the state of every machine.

        Example::

            rollout = await client.rollouts.get("rol_01…")
        """
        return await self._send(_get(rollout_id), options)

    async def cancel(self, rollout_id: str, **options: Unpack[WriteOptions]) -> Rollout:
        """Stop a rollout (409 ``rollout_finished`` when it already finished).

        Example::

            await client.rollouts.cancel("rol_01…")
        """
        return await self._send(_cancel(rollout_id), options)

    async def wait(
        self,
        rollout_id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the twin of the sync signature
        on_progress: RolloutCallback | None = None,
        poll_interval: float = ROLLOUT_POLL_INTERVAL,
        **options: Unpack[PollOptions],
    ) -> Rollout:
        """Poll a rollout until it finished (see :meth:`Rollouts.wait`).

        Example::

            rollout = await client.rollouts.wait("rol_01…", timeout=1800)
        """
        flow = _wait(
            self._client, rollout_id, timeout, on_progress, poll_interval, read_options(options)
        )
        return await self._run(flow)


class RolloutsWithRawResponse:
    """``client.with_raw_response.rollouts``: the same calls, answering :class:`RawResponse`.

    Pagers have no raw form (use the ``*_page`` methods); ``wait`` answers the
    last poll's response.

    Example::

        raw = client.with_raw_response.rollouts.get("rol_01…")
        print(raw.status_code, raw.parse().state)
    """

    def __init__(self, rollouts: Rollouts) -> None:
        self.list_page = raw_method(rollouts.list_page)
        self.list_for_agent_page = raw_method(rollouts.list_for_agent_page)
        self.get = raw_method(rollouts.get)
        self.cancel = raw_method(rollouts.cancel)
        self.wait = raw_method(rollouts.wait)


class AsyncRolloutsWithRawResponse:
    """``client.with_raw_response.rollouts`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.rollouts.cancel("rol_01…")
        print(raw.status_code)
    """

    def __init__(self, rollouts: AsyncRollouts) -> None:
        self.list_page = async_raw_method(rollouts.list_page)
        self.list_for_agent_page = async_raw_method(rollouts.list_for_agent_page)
        self.get = async_raw_method(rollouts.get)
        self.cancel = async_raw_method(rollouts.cancel)
        self.wait = async_raw_method(rollouts.wait)
