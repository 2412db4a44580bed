"""Device and software events on a stream session: who may see each, and resuming.

Both are organisation-wide topics on the bus; every event is checked against
the session's principal (``read`` on the event's site or gateway for device
events, on the app or its site for software events) and each subscription's
``site_id``. Device events are numbered per organisation and stored, so a
subscription can start ``after`` a seq and be caught up after lagging
(:meth:`OrgEvents.replay_device`); software events are live only.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from fleetyard.protocol.stream import StreamEventType
from fleetyard.server.bus import BusEvent
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.software import access as software_access
from fleetyard.server.services.telemetry import access
from fleetyard.server.services.telemetry import events as ev
from fleetyard.server.services.telemetry.stream_plan import Feed, Sub
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import apps as apps_repo
from fleetyard.server.storage.repositories import device_events as device_events_repo

Routes = list[tuple[Sub, Feed | None]]
Send = Callable[[str, str], Awaitable[None]]

DEVICE_EVENT = StreamEventType.DEVICE_EVENT.value
SOFTWARE_EVENT = StreamEventType.SOFTWARE_EVENT.value
MAX_KNOWN_APP_SITES = 10_000
REPLAY_PAGE = 500
READ = access.READ


class OrgEvents:
    """The organisation-wide event feeds of one stream session.

    Example::

        org_events = OrgEvents(database, principal, session_send)
        await org_events.dispatch_device(routes, bus_event)
    """

    def __init__(self, database: Database, principal: Principal, send: Send) -> None:
        self.database = database
        self.principal = principal
        self._send = send
        # app id → site id, for software events whose body does not name the site.
        self._app_sites: dict[str, str] = {}

    async def dispatch_device(self, routes: Routes, event: BusEvent) -> None:
        """A device event to each subscription that may read its site or gateway."""
        try:
            data = json.loads(event.body)
            site_id, gateway_id = str(data["site_id"]), str(data["gateway_id"])
        except (ValueError, KeyError, TypeError):
            return  # not a device event body: nothing a client could use
        if not access.can(self.principal, site_id=site_id, agent_id=gateway_id, permission=READ):
            return
        for sub, _ in routes:
            wanted = sub.device_events
            if wanted is None or (wanted.site_id is not None and wanted.site_id != site_id):
                continue
            if event.position <= sub.device_replayed:
                continue  # sent from storage already
            sub.device_seen = max(sub.device_seen, event.position)
            await self._send(DEVICE_EVENT, f'{sub.device_prefix}"event":{event.body}}}')

    async def replay_device(self, sub: Sub) -> None:
        """Send the stored device events after ``sub.device_seen`` that the caller may read."""
        assert sub.device_events is not None
        org_id = self.principal.org_id
        sites, agent_ids = access.visible(self.principal)
        until: int | None = None
        while True:
            async with self.database.connect() as conn:
                if until is None:
                    until = await device_events_repo.last_seq(conn, org_id=org_id)
                records = await device_events_repo.events_after(
                    conn,
                    org_id=org_id,
                    after=sub.device_seen,
                    until=until,
                    visible_sites=sites,
                    visible_agents=agent_ids,
                    site_id=sub.device_events.site_id,
                    limit=REPLAY_PAGE,
                )
            for record in records:
                sub.device_seen = record.seq
                body = json.dumps(record.body, separators=(",", ":"))
                await self._send(DEVICE_EVENT, f'{sub.device_prefix}"event":{body}}}')
            if len(records) < REPLAY_PAGE:
                break
        sub.device_replayed = max(sub.device_replayed, until)
        sub.device_seen = max(sub.device_seen, until)

    async def dispatch_software(self, routes: Routes, event: BusEvent) -> None:
        """A software event to each subscription that may read its app (site or app scope)."""
        try:
            body = json.loads(event.body)
            app_id = str(body["app_id"])
        except (ValueError, KeyError, TypeError):
            return  # not a software event body: nothing a client could use
        site = body.get("site_id")
        site_id = str(site) if site else await self._site_of_app(app_id)
        if site_id is None:
            return  # the app is gone: nobody can be told which site it was in
        readable = software_access.can(
            self.principal, site_id=site_id, app_id=app_id, permission=software_access.READ
        )
        if not readable:
            return
        frame: str | None = None
        for sub, _ in routes:
            wanted = sub.software_events
            if wanted is None or (wanted.site_id is not None and wanted.site_id != site_id):
                continue
            if frame is None:
                rest = {k: v for k, v in body.items() if k not in ("type", "app_id", "site_id")}
                data = {"type": event.type, "app_id": app_id, "site_id": site_id, **rest}
                frame = ev.dumps(data)
            await self._send(SOFTWARE_EVENT, f'{sub.software_prefix}"event":{frame}}}')

    async def _site_of_app(self, app_id: str) -> str | None:
        """The site an app lives in (apps never move), remembered for the session."""
        known = self._app_sites.get(app_id)
        if known is not None:
            return known
        async with self.database.connect() as conn:
            record = await apps_repo.get(conn, app_id, org_id=self.principal.org_id)
        if record is None:
            return None
        if len(self._app_sites) >= MAX_KNOWN_APP_SITES:
            self._app_sites.clear()
        self._app_sites[app_id] = record.site_id
        return record.site_id
