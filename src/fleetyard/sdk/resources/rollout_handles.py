"""Handles of started rollouts: follow one (``wait``) or stop it (``cancel``).

Returned by ``client.apps.deploy``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Unpack

from fleetyard.protocol.rollouts import Rollout, RolloutState
from fleetyard.sdk._types import ReadOptions, WriteOptions
from fleetyard.sdk.resources._polling import PollOptions

if TYPE_CHECKING:
    from fleetyard.sdk.resources.rollouts import AsyncRollouts, Rollouts

__all__ = ["ROLLOUT_POLL_INTERVAL", "AsyncRolloutHandle", "RolloutCallback", "RolloutHandle"]

RolloutCallback = Callable[[Rollout], object]
"""``on_progress`` of a wait: called with each new version of the rollout."""

ROLLOUT_POLL_INTERVAL = 2.0
"""Seconds between two polls of a rollout: machines take seconds to minutes each."""


class RolloutHandle:
    """A started (or scheduled) rollout: its ``id`` and last known ``state``; follow or stop it.

    Returned by ``client.apps.deploy``. A dry run's handle holds the plan in
    :attr:`rollout` (its machines and waves); there is nothing to follow.

    Example::

        handle = client.apps.deploy("app_kiosk", "v3", canary="10%")
        rollout = handle.wait(timeout=1800, on_progress=lambda r: print(r.counts))
        if rollout.state != "succeeded":
            print([m.error for m in rollout.machines if m.error])
    """

    def __init__(self, rollouts: Rollouts, rollout: Rollout) -> None:
        self._rollouts = rollouts
        self.rollout = rollout
        """The rollout as last seen (the deploy's answer first)."""
        self.id = rollout.id
        self.state: RolloutState = rollout.state
        """The last state seen (by the deploy, :meth:`get`, :meth:`wait` or :meth:`cancel`)."""

    def __repr__(self) -> str:
        return f"<RolloutHandle {self.id} {self.state.value}>"

    def get(self, **options: Unpack[ReadOptions]) -> Rollout:
        """The rollout as it is now (a dry run answers its plan again).

        Example::

            print(handle.get().counts.succeeded)
        """
        if self.state is RolloutState.DRY_RUN:
            return self.rollout
        return self._seen(self._rollouts.get(self.id, **options))

    def wait(
        self,
        *,
        timeout: float | None = None,
        on_progress: RolloutCallback | None = None,
        poll_interval: float = ROLLOUT_POLL_INTERVAL,
        **options: Unpack[PollOptions],
    ) -> Rollout:
        """Poll until the rollout finished (succeeded, failed, aborted or cancelled).

        ``on_progress(rollout)`` hears each change (a machine moving on counts);
        after ``timeout`` seconds :class:`~fleetyard.WaitTimeoutError` is raised
        (the rollout goes on). A dry run answers its plan at once.

        Example::

            rollout = handle.wait(timeout=1800)
        """
        if self.state is RolloutState.DRY_RUN:
            return self.rollout
        return self._seen(
            self._rollouts.wait(
                self.id,
                timeout=timeout,
                on_progress=on_progress,
                poll_interval=poll_interval,
                **options,
            )
        )

    def cancel(self, **options: Unpack[WriteOptions]) -> Rollout:
        """Stop the rollout: queued machines are not started (409 ``rollout_finished``
        when it already finished).

        Example::

            handle.cancel()
        """
        return self._seen(self._rollouts.cancel(self.id, **options))

    def _seen(self, rollout: Rollout) -> Rollout:
        self.rollout = rollout
        self.state = rollout.state
        return rollout


class AsyncRolloutHandle:
    """A started rollout of an :class:`~fleetyard.AsyncClient`.

    Example::

        handle = await client.apps.deploy("app_kiosk", "v3")
        rollout = await handle.wait(timeout=1800)
    """

    def __init__(self, rollouts: AsyncRollouts, rollout: Rollout) -> None:
        self._rollouts = rollouts
        self.rollout = rollout
        """The rollout as last seen (the deploy's answer first)."""
        self.id = rollout.id
        self.state: RolloutState = rollout.state
        """The last state seen."""

    def __repr__(self) -> str:
        return f"<AsyncRolloutHandle {self.id} {self.state.value}>"

    async def get(self, **options: Unpack[ReadOptions]) -> Rollout:
        """The rollout as it is now (a dry run answers its plan again).

        Example::

            rollout = await handle.get()
        """
        if self.state is RolloutState.DRY_RUN:
            return self.rollout
        return self._seen(await self._rollouts.get(self.id, **options))

    async def wait(
        self,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the twin of the sync signature
        on_progress: RolloutCallback | None = None,
        poll_interval: float = ROLLOUT_POLL_INTERVAL,
        **options: Unpack[PollOptions],
    ) -> Rollout:
        """Poll until the rollout finished (see :meth:`RolloutHandle.wait`).

        Example::

            rollout = await handle.wait(timeout=1800)
        """
        if self.state is RolloutState.DRY_RUN:
            return self.rollout
        return self._seen(
            await self._rollouts.wait(
                self.id,
                timeout=timeout,
                on_progress=on_progress,
                poll_interval=poll_interval,
                **options,
            )
        )

    async def cancel(self, **options: Unpack[WriteOptions]) -> Rollout:
        """Stop the rollout (409 ``rollout_finished`` when it already finished).

        Example::

            await handle.cancel()
        """
        return self._seen(await self._rollouts.cancel(self.id, **options))

    def _seen(self, rollout: Rollout) -> Rollout:
        self.rollout = rollout
        self.state = rollout.state
        return rollout
