"""`yard events`: device and execution events, once or as they happen."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import typer

from fleetyard.cli import device_views as dviews
from fleetyard.cli import session
from fleetyard.protocol.devices import DeviceEvent
from fleetyard.sdk import DeviceEventSubscription


def event_data(event: DeviceEvent) -> dict[str, Any]:
    """What ``--json`` prints for one event: the wire event, one line each (JSON Lines)."""
    return event.model_dump(mode="json", exclude_none=True)


def events(
    ctx: typer.Context,
    site: Annotated[
        str | None, typer.Option("--site", help="Only this site's events.", show_default=False)
    ] = None,
    follow: Annotated[
        bool,
        typer.Option("--follow", "-f", help="Keep printing events as they happen, until Ctrl-C."),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=0,
            max=60,
            metavar="SECONDS",
            help="How long one fetch waits for an event (without --follow: how long to listen).",
        ),
    ] = 30.0,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per line (JSON Lines).")
    ] = False,
) -> None:
    """Print device and execution events: those of one fetch window, or all with --follow.

    Events are seen from the moment the command starts. With --follow, a
    listener that expired is replaced (a warning says events may be missing).
    """
    s = session.get(ctx, json_output)
    client = s.client
    if not follow:
        listener = client.events.register_listener(site_id=site)
        try:
            for event in client.events.fetch(listener.id, timeout=timeout):
                s.out.stream_item(dviews.event_line(event), event_data(event))
        finally:
            client.events.unregister(listener.id)
        return
    # Ctrl-C is how --follow ends, not an error: stop, unregister, exit 0.
    subscription = client.events.listen(site_id=site, timeout=timeout)
    replaced = 1
    try:
        for event in subscription:
            if subscription.registrations > replaced:
                replaced = subscription.registrations
                s.out.warning("the event listener expired and was replaced; events may be missing")
            s.out.stream_item(dviews.event_line(event), event_data(event))
    except KeyboardInterrupt:
        _close_quietly(subscription)
    except BaseException:
        _close_quietly(subscription)
        raise


def _close_quietly(subscription: DeviceEventSubscription) -> None:
    # Unregistering may itself be interrupted or fail: the listener then just expires.
    with contextlib.suppress(Exception, KeyboardInterrupt):
        subscription.close()
